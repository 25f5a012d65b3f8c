"""Prompts of hypothesis search (Wang et al., 2024, "Hypothesis Search: Inductive Reasoning with Language
Models") as data: pure functions from a task to chat messages, and the parsers of the model's replies
(a code block, a grid) with the feedback a failed program gets.

Prompts are kept short for small local models: grids as compact Python lists, a sentence of instruction.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thinkgraph.agents.hypothesis_tasks import Example, Grid, InductionTask, literal
from thinkgraph.messages import ChatMessage

MAX_CODE_CHARS = 20_000
SHOWN_VALUE_CHARS = 300

HYPOTHESIS_SYSTEM = {
    "arc": "You study input/output examples and find the rule behind them. "
    "Rows are lists of colours 0-9; 0 is the background.",
    "sygus": "You study examples of a function and find the rule behind them.",
}
PROGRAM_SYSTEM = (
    "You write Python 3. Reply with one ```python code block that defines the function; "
    "no explanation, no tests, no input()."
)
DIRECT_SYSTEM = "You solve puzzles from examples. Rows are lists of colours 0-9; 0 is the background."


def render_example(task: InductionTask, ex: Example, index: int) -> str:
    if task.kind == "arc":
        return f"Example {index + 1}:\ninput:  {literal(ex.args[0])}\noutput: {literal(ex.output)}"
    return f"{task.function}({', '.join(literal(a) for a in ex.args)}) == {literal(ex.output)}"


def render_examples(task: InductionTask) -> str:
    lines = [render_example(task, ex, i) for i, ex in enumerate(task.shown_examples())]
    return "\n".join(lines)


def hypothesis_messages(task: InductionTask) -> list[ChatMessage]:
    """Ask for the rule, in a sentence or two (the hypothesis)."""
    head = "" if task.kind == "arc" else f"{task.signature}\n"
    ask = "What rule turns each input into its output?" if task.kind == "arc" else "What does the function do?"
    user = f"{head}{render_examples(task)}\n\n{ask} Answer in one or two sentences: the rule only."
    return [ChatMessage(role="system", content=HYPOTHESIS_SYSTEM[task.kind]), ChatMessage(role="user", content=user)]


def program_messages(task: InductionTask, hypothesis: str = "") -> list[ChatMessage]:
    """Ask for a function implementing ``hypothesis`` (or, without one, fitting the examples directly)."""
    rule = f"\nRule: {hypothesis.strip()}" if hypothesis.strip() else ""
    how = "that follows the rule so that" if rule else "so that"
    user = f"Examples:\n{render_examples(task)}{rule}\n\nWrite `{task.signature}` {how} every example holds."
    return [ChatMessage(role="system", content=PROGRAM_SYSTEM), ChatMessage(role="user", content=user)]


def revision_messages(base: Sequence[ChatMessage], code: str, feedback: str) -> list[ChatMessage]:
    """The program prompt, the last attempt and what went wrong (earlier attempts are left out: short prompts)."""
    attempt = f"```python\n{code.strip()}\n```" if code.strip() else "(no code)"
    return [*base, ChatMessage(role="assistant", content=attempt), ChatMessage(role="user", content=feedback)]


def direct_grid_messages(task: InductionTask) -> list[ChatMessage]:
    """The no-search baseline for ARC: write the test output directly."""
    test = task.test_inputs[0][0]
    shape = "row" if task.one_row else "grid"
    example = "[0,1,2]" if task.one_row else "[[0,1],[2,3]]"
    user = (
        f"{render_examples(task)}\n\nTest input: {literal(test)}\n"
        f"What is the test output? Reply with the output {shape} only, as a list like {example}."
    )
    return [ChatMessage(role="system", content=DIRECT_SYSTEM), ChatMessage(role="user", content=user)]


# ----------------------------------------------------------------------------- reading replies

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_START = re.compile(r"^(?:import|from|def|class|@)\b", re.MULTILINE)


@dataclass(frozen=True)
class CodeExtraction:
    """The code read from a reply (None when there is none, with ``problem`` saying so to the model) and a
    ``note`` on what was changed (a renamed function, stray top-level calls dropped)."""

    code: str | None
    problem: str = ""
    note: str = ""


def _parses(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def syntax_problem(code: str) -> str:
    """The syntax error of ``code`` as feedback ("line 3: invalid syntax"), or "" when it parses."""
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"SyntaxError on line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"the code cannot be parsed: {type(exc).__name__}"
    return ""


def _unfenced(text: str) -> str | None:
    """Code written without a fence: from the first import/def line, trailing prose cut until it parses."""
    m = _CODE_START.search(text)
    if m is None:
        return None
    lines = text[m.start() :].splitlines()
    for end in range(len(lines), 0, -1):
        chunk = "\n".join(lines[:end])
        if "def " in chunk and _parses(chunk) is not None:
            return chunk
    return "\n".join(lines)


def _defines(code: str, function: str) -> bool:
    return re.search(rf"^\s*def\s+{re.escape(function)}\s*\(", code, re.MULTILINE) is not None


def _tidy(code: str, function: str) -> tuple[str, str]:
    """Drop top-level calls (``print(f(...))``, ``if __name__ == ...``) and alias a lone function of another
    name to ``function``; returns the code and a note of what changed."""
    tree = _parses(code)
    if tree is None:
        return code, ""
    notes = []
    lines = code.splitlines()
    drop: set[int] = set()
    for stmt in tree.body:
        stray = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
        main_guard = isinstance(stmt, ast.If) and "__name__" in ast.unparse(stmt.test)
        if stray or main_guard:
            drop.update(range(stmt.lineno - 1, (stmt.end_lineno or stmt.lineno)))
    if drop:
        lines = [ln for i, ln in enumerate(lines) if i not in drop]
        notes.append("top-level calls removed")
    code = "\n".join(lines).rstrip() + "\n"
    defs = [s.name for s in tree.body if isinstance(s, ast.FunctionDef)]
    if function not in defs and defs:
        code += f"\n{function} = {defs[-1]}\n"
        notes.append(f"{defs[-1]} called as {function}")
    return code, "; ".join(notes)


def extract_code(text: str, function: str) -> CodeExtraction:
    """The program in a reply: the fenced block that defines ``function`` (else one with any ``def``), or code
    written without a fence; top-level calls are dropped and a lone function of another name is aliased."""
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "python", "py", "python3")]
    if not blocks:
        found = _unfenced(text)
        blocks = [found] if found is not None else []
    pick = next((b for b in blocks if _defines(b, function)), None) or next((b for b in blocks if "def " in b), None)
    if pick is None:
        return CodeExtraction(
            None, problem=f"Your reply has no Python function. Write `def {function}(...)` in one ```python block."
        )
    if len(pick) > MAX_CODE_CHARS:
        return CodeExtraction(None, problem=f"The code is longer than {MAX_CODE_CHARS} characters; write it shorter.")
    code, note = _tidy(pick.strip("\n"), function)
    return CodeExtraction(code, note=note)


_LIST = re.compile(r"\[[\d\s,\[\]]*\]")
_DIGITS_LINE = re.compile(r"^[\s\d,]+$", re.MULTILINE)


def parse_grid_reply(text: str, one_row: bool) -> Grid | None:
    """The last grid in a reply: a list of colour rows (or, for one-row tasks, a single row, bracketed or as
    digits separated by spaces or commas).  None when there is none."""
    candidates: list[Any] = []
    for m in _LIST.finditer(text):
        try:
            candidates.append(json.loads(m.group()))
        except json.JSONDecodeError:
            continue
    if one_row:
        candidates += [[int(d) for d in re.findall(r"\d", ln)] for ln in _DIGITS_LINE.findall(text) if ln.strip()]
    for value in reversed(candidates):
        rows = [value] if one_row and value and all(type(c) is int for c in value) else value
        if (
            isinstance(rows, list)
            and rows
            and all(isinstance(r, list) and r and len(r) == len(rows[0]) for r in rows)
            and all(type(c) is int and 0 <= c <= 9 for r in rows for c in r)
            and (not one_row or len(rows) == 1)
        ):
            return [list(r) for r in rows]
    return None


# ----------------------------------------------------------------------------- feedback


@dataclass(frozen=True)
class Failure:
    """An example (or test input, ``test=True``) the program got wrong: what it returned, or its error."""

    index: int
    got: Any = None
    error: str = ""
    test: bool = False


def _call(task: InductionTask, args: Sequence[Any]) -> str:
    return f"{task.function}({', '.join(literal(a, SHOWN_VALUE_CHARS) for a in args)})"


def _one_failure(task: InductionTask, f: Failure) -> str:
    if f.test:
        args = task.test_inputs[f.index]
        what = f"raised {f.error}" if f.error else f"returned {literal(f.got, SHOWN_VALUE_CHARS)}, not a valid output"
        return f"On the test input, {_call(task, args)} {what}."
    ex = task.examples[f.index]
    got = f"raised {f.error}" if f.error else f"returned {literal(f.got, SHOWN_VALUE_CHARS)}"
    if task.kind == "arc":
        return f"Example {f.index + 1}: input {literal(ex.args[0])}\n  expected {literal(ex.output)}\n  but it {got}"
    return f"{_call(task, ex.args)} should be {literal(ex.output)}, but it {got}."


def failure_feedback(
    task: InductionTask, passed: int, failures: Sequence[Failure], run_problem: str = "", limit: int = 3
) -> str:
    """What a revision is told: how many examples pass, up to ``limit`` failures (input, expected, got or the
    exception), or why the run as a whole failed (a time limit, a crash on import)."""
    parts = [f"Your function passes {passed} of {len(task.examples)} examples."]
    if run_problem:
        parts.append(run_problem)
    parts.extend(_one_failure(task, f) for f in failures[:limit])
    if len(failures) > limit:
        parts.append(f"({len(failures) - limit} more wrong.)")
    parts.append("Fix the function so that every example holds. Reply with the whole function in one ```python block.")
    return "\n".join(parts)


__all__ = [
    "CodeExtraction",
    "Failure",
    "direct_grid_messages",
    "extract_code",
    "failure_feedback",
    "hypothesis_messages",
    "parse_grid_reply",
    "program_messages",
    "render_examples",
    "revision_messages",
    "syntax_problem",
]
