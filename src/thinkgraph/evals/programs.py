"""Scoring answers that are programs or grids, and spreading an evaluation over a benchmark's concepts.

* A **program** answer (SyGuS PBE; the item's gold is None) is correct iff it meets **every** constraint: the
  program runs in the sandbox on each example of the item's question, compared strictly
  (:func:`~thinkgraph.agents.hypothesis_tasks.same_value`).  This holds for every workflow: hypothesis search's
  verified program is checked again, the direct baseline's unverified one is checked here for the first time.
* A **grid** answer (ARC) is correct iff it equals the gold grid exactly (a JSON string of a grid counts as the
  grid).
* :func:`spread` reorders items round-robin over a ``meta`` key (1D-ARC's ``concept``), so ``--limit 20`` takes
  the first task of each of the 18 concepts and then the second of the first two, not 20 tasks of one concept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from thinkgraph.evals.items import EvalItem


class ProgramScoringUnavailable(RuntimeError):
    """Program answers cannot be scored here (no sandbox); the message says what to install."""


def normalize_grid(value: Any) -> list[list[int]] | None:
    """A grid as a list of integer rows (from a list, or a JSON string of one); None when it is not a grid."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, list | tuple) or not value:
        return None
    rows = []
    for row in value:
        if not isinstance(row, list | tuple) or any(type(c) is not int for c in row):
            return None
        rows.append(list(row))
    return rows


def default_program_checker() -> Any:
    """The sandbox checker scoring uses; raises :class:`ProgramScoringUnavailable` when there is no sandbox."""
    from thinkgraph.agents.hypothesis import sandbox_checker

    try:
        from thinkgraph.tools.sandbox import SandboxUnavailable, default_runner
    except ImportError as exc:
        raise ProgramScoringUnavailable(f"scoring programs needs thinkgraph.tools.sandbox: {exc}") from exc
    try:
        default_runner()
    except SandboxUnavailable as exc:
        raise ProgramScoringUnavailable(f"scoring programs runs them in the sandbox: {exc}") from exc
    return sandbox_checker()


def check_program(item: EvalItem, code: Any, checker: Any = None) -> bool | None:
    """Whether ``code`` meets every example of ``item`` (None when the item's question states no examples)."""
    from thinkgraph.agents.hypothesis import judge
    from thinkgraph.agents.hypothesis_tasks import TaskFormatError, parse_task

    text = item.input.get("text")
    if not isinstance(text, str):
        return None
    try:
        task = parse_task(item.id, text)
    except TaskFormatError:
        return None
    if not isinstance(code, str) or not code.strip():
        return False
    run = (checker or default_program_checker())(code, task.function, task.call_inputs())
    return judge(task, run).passed == len(task.examples)


def spread(items: Sequence[EvalItem], key: str) -> list[EvalItem]:
    """Items round-robin over ``item.meta[key]`` (groups in order of first appearance, each group's order kept);
    items without the key form one group of their own."""
    groups: dict[str, list[EvalItem]] = {}
    for it in items:
        groups.setdefault(str(it.meta.get(key, "")), []).append(it)
    out: list[EvalItem] = []
    depth = max((len(g) for g in groups.values()), default=0)
    for i in range(depth):
        out.extend(g[i] for g in groups.values() if i < len(g))
    return out


__all__ = ["ProgramScoringUnavailable", "check_program", "default_program_checker", "normalize_grid", "spread"]
