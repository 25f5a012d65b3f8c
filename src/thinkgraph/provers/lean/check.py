"""A user's own ``.lean`` file checked as it is: one result per ``theorem``/``lemma``/``example``.

The file is not rewritten; ``#print axioms <name>`` lines are appended after its last line (so every
position Lean reports in the file is the user's own) for the named declarations, and each message is
given to the declaration whose lines hold it: from its keyword to the line before the next top-level
command.  A declaration whose axioms could not be printed (an ``example``, a ``private`` theorem) is
judged by its errors and its ``sorry`` warning alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from thinkgraph.provers.lean.results import DeclResult, LeanMessage
from thinkgraph.provers.lean.source import _AXIOMS, classify

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
    full_name: str | None  # what #print axioms asks about (None: an example or a private theorem)
    line: int  # line of its keyword (1-based)
    end_line: int  # its last line


@dataclass(frozen=True)
class PreparedFile:
    text: str  # the file with the #print axioms lines appended
    decls: tuple[FileDecl, ...]
    lines: int  # lines of the user's own file
    imports: tuple[str, ...]


def non_core_imports(text: str) -> list[str]:
    """The modules a file imports beyond what every Lean has (Init, Std, Lean): e.g. ``Mathlib``."""
    blanked = blank_comments(text)
    mods = [m for line in _IMPORT.findall(blanked) for m in line.split()]
    return [m for m in mods if m.split(".")[0] not in CORE_MODULES]


def prepare_file(text: str) -> PreparedFile:
    blanked = blank_comments(text)
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    line_of = _line_index(blanked)
    commands = sorted({line_of(m.start()) for m in _COMMAND.finditer(blanked)})
    scopes = [(line_of(m.start()), m["kw"], m["name"]) for m in _SCOPE.finditer(blanked)]
    decls = []
    for m in _DECL.finditer(blanked):
        line = line_of(m.start())
        later = [c for c in commands if c > line]
        end_line = later[0] - 1 if later else n_lines
        name = m["name"] if m["kw"] != "example" else None
        if name is None:
            decls.append(FileDecl(f"example@{line}", None, line, end_line))
            continue
        private = "private" in m["mods"].split()
        full = name[len("_root_.") :] if name.startswith("_root_.") else ".".join([*_namespaces(scopes, line), name])
        decls.append(FileDecl(name, None if private else full, line, end_line))
    prints = [f"#print axioms {d.full_name}" for d in decls if d.full_name]
    body = text if text.endswith("\n") else text + "\n"
    imports = tuple(m for line in _IMPORT.findall(blanked) for m in line.split())
    return PreparedFile(body + "\n" + "\n".join(prints) + ("\n" if prints else ""), tuple(decls), n_lines, imports)


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
    """One result per declaration of the file, and the messages that belong to none."""
    printed: set[str] = set()
    for m in messages:
        if m.severity == "information" and m.line > prepared.lines:
            found = _AXIOMS.search(m.text)
            if found:
                printed.add(found["name"])
    own: dict[int, list[LeanMessage]] = {k: [] for k in range(len(prepared.decls))}
    stray: list[LeanMessage] = []
    for m in messages:
        if m.line > prepared.lines:
            found = _AXIOMS.search(m.text) if m.severity == "information" else None
            k = next((i for i, d in enumerate(prepared.decls) if found and d.full_name == found["name"]), None)
            if k is not None:
                own[k].append(m)
            elif m.severity != "error":
                stray.append(m)
            continue
        k = next((i for i, d in enumerate(prepared.decls) if d.line <= m.line <= d.end_line), None)
        if k is None:
            stray.append(m)
        else:
            own[k].append(m)
    results = []
    for k, d in enumerate(prepared.decls):
        lean_name = d.full_name if d.full_name in printed else None
        results.append(classify(d.name, own[k], lean_name=lean_name, line=d.line, finished=finished))
    return results, stray


__all__ = ["FileDecl", "PreparedFile", "blank_comments", "file_results", "non_core_imports", "prepare_file"]
