"""A user's own ``.lean`` file checked as it is: one result per ``theorem``/``lemma``/``example``.

The file's own lines are checked as they are; one marker line (``#check @name``, or ``#check @Nat.zero``
after an ``example``) is inserted after each declaration, and every position Lean reports is mapped back
to the user's own line.  Each message is given to the declaration whose lines hold it: from its keyword to
the line before the next top-level command.  A declaration whose marker got no answer was never checked
(the process was killed or crashed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from thinkgraph.provers.lean.results import DeclResult, LeanMessage
from thinkgraph.provers.lean.source import classify

_DECL = re.compile(
    r"^(?P<mods>(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|noncomputable|nonrec|unsafe|partial)\s+)*)"
    r"(?P<kw>theorem|lemma|example)\b[ \t]*(?P<name>[^\s:({\[⦃]+)?",
    re.MULTILINE,
)
_COMMAND = re.compile(
    r"^(?:@\[|#[a-zA-Z]|(?:theorem|lemma|example|def|abbrev|instance|structure|class|inductive|axiom|opaque|"
    r"namespace|section|end|open|variable|universe|set_option|import|noncomputable|private|protected|macro|"
    r"syntax|notation|infix|infixl|infixr|prefix|postfix|elab|attribute|mutual|deriving|/--)\b)",
    re.MULTILINE,
)
_SCOPE = re.compile(r"^(?P<kw>namespace|section|end)\b[ \t]*(?P<name>[^\s]*)", re.MULTILINE)
_IMPORT = re.compile(r"^import\s+(.+)$", re.MULTILINE)
CORE_MODULES = ("Init", "Std", "Lean", "Lake")


def blank_comments(text: str) -> str:
    """``text`` with comments and string literals replaced by spaces (newlines kept, so offsets and lines hold)."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        two = text[i : i + 2]
        if two == "--":
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif two == "/-":
            depth, j = 0, i
            while j < n:
                if text[j : j + 2] == "/-":
                    depth, j = depth + 1, j + 2
                elif text[j : j + 2] == "-/":
                    depth, j = depth - 1, j + 2
                    if depth == 0:
                        break
                else:
                    j += 1
            blank(i, j)
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        else:
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class FileDecl:
    name: str  # as shown: the declared name, or example@LINE
    line: int  # line of its keyword (1-based, in the user's file)
    end_line: int  # its last line (the user's file)
    marker_line: int  # the line of its marker in the prepared text


@dataclass(frozen=True)
class PreparedFile:
    text: str  # the file with one marker line after each declaration
    decls: tuple[FileDecl, ...]
    inserted: tuple[int, ...]  # prepared-text lines that are markers (sorted)
    imports: tuple[str, ...]

    def original_line(self, line: int) -> int:
        """The user's line for a line of the prepared text."""
        import bisect

        return line - bisect.bisect_left(self.inserted, line)


def non_core_imports(text: str) -> list[str]:
    """The modules a file imports beyond what every Lean has (Init, Std, Lean): e.g. ``Mathlib``."""
    blanked = blank_comments(text)
    mods = [m for line in _IMPORT.findall(blanked) for m in line.split()]
    return [m for m in mods if m.split(".")[0] not in CORE_MODULES]


def prepare_file(text: str) -> PreparedFile:
    blanked = blank_comments(text)
    lines = text.splitlines()
    line_of = _line_index(blanked)
    commands = sorted({line_of(m.start()) for m in _COMMAND.finditer(blanked)})
    found = []
    for m in _DECL.finditer(blanked):
        line = line_of(m.start())
        later = [c for c in commands if c > line]
        end_line = later[0] - 1 if later else len(lines)
        while end_line > line and not blanked.splitlines()[end_line - 1].strip():
            end_line -= 1
        if m["kw"] == "example" or m["name"] is None:
            found.append((f"example@{line}", line, end_line, "@Nat.zero"))
        else:
            name = m["name"]
            private = "private" in m["mods"].split()
            found.append((name, line, end_line, "@Nat.zero" if private else f"@{name}"))
    out: list[str] = []
    decls = []
    inserted = []
    at = 0
    for name, line, end_line, target in found:
        out += lines[at:end_line]
        at = end_line
        out.append(f"#check {target}")
        inserted.append(len(out))
        decls.append(FileDecl(name, line, end_line, len(out)))
    out += lines[at:]
    imports = tuple(m for line in _IMPORT.findall(blanked) for m in line.split())
    return PreparedFile("\n".join(out) + "\n", tuple(decls), tuple(inserted), imports)


def _line_index(text: str) -> _LineOf:
    return _LineOf(text)


class _LineOf:
    def __init__(self, text: str) -> None:
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def __call__(self, offset: int) -> int:
        import bisect

        return bisect.bisect_right(self.starts, offset)


def _namespaces(scopes: Sequence[tuple[int, str, str]], line: int) -> list[str]:
    stack: list[tuple[str, str]] = []
    for at, kw, name in scopes:
        if at >= line:
            break
        if kw in ("namespace", "section"):
            stack.append((kw, name))
        elif stack:
            stack.pop()
    return [part for kw, name in stack if kw == "namespace" for part in name.split(".") if part]


def file_results(
    prepared: PreparedFile, messages: Sequence[LeanMessage], *, finished: bool = True
) -> tuple[list[DeclResult], list[LeanMessage]]:
    """One result per declaration of the file (positions in the user's lines), and the messages of none."""
    own: dict[int, list[LeanMessage]] = {k: [] for k in range(len(prepared.decls))}
    stray: list[LeanMessage] = []
    for m in messages:
        k = next((i for i, d in enumerate(prepared.decls) if m.line == d.marker_line), None)
        if k is not None:  # a marker's answer: keep it at the marker's (prepared) line for classify
            own[k].append(m.model_copy(update={"line": 10**9}))
            continue
        orig = prepared.original_line(m.line)
        end = prepared.original_line(m.end_line) if m.end_line is not None else None
        moved = m.model_copy(update={"line": orig, "end_line": end})
        k = next((i for i, d in enumerate(prepared.decls) if d.line <= orig <= d.end_line), None)
        (stray if k is None else own[k]).append(moved)
    results = [
        classify(d.name, own[k], marker_line=10**9, line=d.line, finished=finished)
        for k, d in enumerate(prepared.decls)
    ]
    return results, stray


__all__ = ["FileDecl", "PreparedFile", "blank_comments", "file_results", "non_core_imports", "prepare_file"]
