"""Inductive tasks for hypothesis search: examples of a function, read from a question, and how values compare.

Two formats arrive as a :class:`~thinkgraph.evals.items.Question` (see :mod:`thinkgraph.evals.loaders`):

* ARC (1D-ARC): the text is JSON ``{"train": [{"input": grid, "output": grid}, ...], "test_input": grid}``.
  The program to write is ``transform``; when every grid is a single row (1D-ARC) it takes and returns that row
  (a ``list[int]``), which is far easier for a small model than a one-row grid; else the whole grid.
  The answer is the program's output on the test input, as a grid.
* SyGuS PBE: the text is ``(synth-fun NAME ((ARG SORT) ...) SORT)`` then ``examples: [{"inputs": [...],
  "output": ...}, ...]`` (every constraint).  The program to write is the function itself (names made valid
  Python); the answer is the program, correct only if it meets every constraint.

Values compare strictly (:func:`same_value`): ``True`` is not ``1`` and ``3.0`` is not ``3``.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Grid = list[list[int]]
TaskKind = Literal["arc", "sygus"]


class TaskFormatError(ValueError):
    """A question is neither an ARC task nor a SyGuS problem (a data error: the message says what was expected)."""


@dataclass(frozen=True)
class Example:
    """One input/output pair: ``args`` are the function's arguments, ``output`` what it must return."""

    args: tuple[Any, ...]
    output: Any


@dataclass(frozen=True)
class InductionTask:
    """A function to induce from examples.

    ``examples`` must all pass before an answer is given; the first ``shown`` of them go into the prompt
    (ARC: all of them; SyGuS: at most ``max_shown``, the others still checked).  ``test_inputs`` are the
    arguments the answer applies the program to (ARC: the test grid; SyGuS: none — the program is the answer).
    """

    id: str
    kind: TaskKind
    function: str
    params: tuple[tuple[str, str], ...]  # (name, Python type)
    returns: str
    examples: tuple[Example, ...]
    shown: int
    test_inputs: tuple[tuple[Any, ...], ...] = ()
    one_row: bool = False  # ARC grids of one row, passed to the program as that row

    @property
    def signature(self) -> str:
        args = ", ".join(f"{n}: {t}" for n, t in self.params)
        return f"def {self.function}({args}) -> {self.returns}:"

    @property
    def arity(self) -> int:
        return len(self.params)

    @property
    def answer_type(self) -> Literal["grid", "program"]:
        return "grid" if self.kind == "arc" else "program"

    def shown_examples(self) -> tuple[Example, ...]:
        return self.examples[: self.shown]

    def call_inputs(self) -> list[list[Any]]:
        """What one sandbox run calls the program on: every example, then the test inputs."""
        return [list(e.args) for e in self.examples] + [list(t) for t in self.test_inputs]

    def to_grid(self, value: Any) -> Grid | None:
        """The program's output on a test input as a grid (None when it is not one: a row of colours 0-9
        for 1D-ARC, a rectangular list of such rows otherwise)."""
        rows = [value] if self.one_row else value
        if not isinstance(rows, list) or not rows:
            return None
        width = len(rows[0]) if isinstance(rows[0], list) else -1
        for row in rows:
            if not isinstance(row, list) or len(row) != width or width == 0:
                return None
            if any(type(c) is not int or not 0 <= c <= 9 for c in row):
                return None
        return [list(r) for r in rows]


def same_value(got: Any, want: Any) -> bool:
    """Strict equality of JSON-like values: types must agree (a bool is not an int, a float not an int);
    tuples count as lists (values come back from the sandbox as JSON)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, int):
        return type(got) is int and got == want
    if isinstance(want, str):
        return isinstance(got, str) and got == want
    if isinstance(want, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(want)
            and all(same_value(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(same_value(got[k], want[k]) for k in want)
    return bool(got == want)


def literal(value: Any, limit: int = 0) -> str:
    """A compact Python literal for a value (``[0,0,7]``, ``"text"``, ``True``), cut at ``limit`` characters."""
    if isinstance(value, bool):
        text = "True" if value else "False"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, list | tuple):
        text = "[" + ",".join(literal(v) for v in value) + "]"
    elif value is None:
        text = "None"
    else:
        text = repr(value)
    if limit and len(text) > limit:
        return text[: limit - 3] + "..."
    return text


# ----------------------------------------------------------------------------- ARC


def _grid(value: Any, where: str) -> Grid:
    if not isinstance(value, list) or not value or not all(isinstance(r, list) and r for r in value):
        raise TaskFormatError(f"{where} is not a non-empty list of non-empty rows")
    if any(type(c) is not int for r in value for c in r):
        raise TaskFormatError(f"{where} holds something other than integers")
    return value


def arc_task(question_id: str, data: dict[str, Any]) -> InductionTask:
    """An ARC task from its question JSON (``train`` pairs and a ``test_input`` grid)."""
    train = data.get("train")
    if not isinstance(train, list) or not train:
        raise TaskFormatError("an ARC question needs a non-empty 'train' list of {input, output} pairs")
    pairs = []
    for i, pair in enumerate(train):
        if not isinstance(pair, dict):
            raise TaskFormatError(f"train[{i}] is not an object with 'input' and 'output'")
        pairs.append((_grid(pair.get("input"), f"train[{i}].input"), _grid(pair.get("output"), f"train[{i}].output")))
    test = _grid(data.get("test_input"), "test_input")
    tests: tuple[tuple[Any, ...], ...]
    one_row = len(test) == 1 and all(len(a) == 1 and len(b) == 1 for a, b in pairs)
    if one_row:
        examples = tuple(Example((a[0],), b[0]) for a, b in pairs)
        params: tuple[tuple[str, str], ...] = (("row", "list[int]"),)
        returns, tests = "list[int]", ((test[0],),)
    else:
        examples = tuple(Example((a,), b) for a, b in pairs)
        params, returns, tests = (("grid", "list[list[int]]"),), "list[list[int]]", ((test,),)
    return InductionTask(
        id=question_id,
        kind="arc",
        function="transform",
        params=params,
        returns=returns,
        examples=examples,
        shown=len(examples),
        test_inputs=tests,
        one_row=one_row,
    )


# ----------------------------------------------------------------------------- SyGuS

_SYNTH = re.compile(r"^\s*\(synth-fun\s+(\S+)\s+\((.*)\)\s+(\S+)\)\s*$")
_PARAM = re.compile(r"\(\s*(\S+)\s+([^()\s]+)\s*\)")
_SORTS = {"String": "str", "Int": "int", "Bool": "bool"}


def python_name(name: str) -> str:
    """A SyGuS symbol as a Python identifier (``name-combine`` → ``name_combine``; keywords get a ``_``)."""
    out = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if out[0].isdigit():
        out = "f_" + out
    return out + "_" if keyword.iskeyword(out) else out


def sygus_task(question_id: str, text: str, max_shown: int = 8) -> InductionTask:
    """A SyGuS PBE problem from its question text (the ``synth-fun`` line, then ``examples: [...]``)."""
    head, _, rest = text.partition("\n")
    m = _SYNTH.match(head)
    if m is None:
        raise TaskFormatError("a SyGuS question starts with '(synth-fun NAME ((ARG SORT) ...) SORT)'")
    name, params_text, ret = m.groups()
    params = [(python_name(p), _SORTS.get(s, "object")) for p, s in _PARAM.findall(params_text)]
    if len({p for p, _ in params}) != len(params):
        raise TaskFormatError(f"synth-fun {name}: parameter names collide once made Python names")
    body = rest.strip()
    if not body.startswith("examples:"):
        raise TaskFormatError("a SyGuS question's second line is 'examples: [...]'")
    try:
        raw = json.loads(body[len("examples:") :])
    except json.JSONDecodeError as exc:
        raise TaskFormatError(f"the examples are not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise TaskFormatError("a SyGuS question needs at least one example")
    examples = []
    for i, ex in enumerate(raw):
        if not isinstance(ex, dict) or not isinstance(ex.get("inputs"), list) or "output" not in ex:
            raise TaskFormatError(f"example {i + 1} is not {{'inputs': [...], 'output': ...}}")
        if len(ex["inputs"]) != len(params):
            raise TaskFormatError(f"example {i + 1} gives {len(ex['inputs'])} inputs; {name} takes {len(params)}")
        examples.append(Example(tuple(ex["inputs"]), ex["output"]))
    return InductionTask(
        id=question_id,
        kind="sygus",
        function=python_name(name),
        params=tuple(params),
        returns=_SORTS.get(ret, "object"),
        examples=tuple(examples),
        shown=min(max_shown, len(examples)),
    )


def parse_task(question_id: str, text: str, *, max_shown: int = 8) -> InductionTask:
    """The task a question states: ARC JSON or a SyGuS problem (:class:`TaskFormatError` otherwise)."""
    stripped = text.lstrip()
    if stripped.startswith("(synth-fun"):
        return sygus_task(question_id, stripped, max_shown)
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise TaskFormatError(f"the question is not valid JSON: {exc}") from None
        if isinstance(data, dict) and "train" in data:
            return arc_task(question_id, data)
    raise TaskFormatError(
        "hypothesis search reads an ARC task (JSON with 'train' and 'test_input') or a SyGuS problem "
        "('(synth-fun ...)' then 'examples: [...]'); this question is neither"
    )


def check_outputs(task: InductionTask, values: Sequence[tuple[bool, Any]]) -> tuple[int, ...]:
    """Indices of the examples whose (ok, value) result equals the expected output."""
    return tuple(
        i
        for i, (ex, (ok, value)) in enumerate(zip(task.examples, values, strict=False))
        if ok and same_value(value, ex.output)
    )


__all__ = [
    "Example",
    "Grid",
    "InductionTask",
    "TaskFormatError",
    "TaskKind",
    "arc_task",
    "check_outputs",
    "literal",
    "parse_task",
    "python_name",
    "same_value",
    "sygus_task",
]
