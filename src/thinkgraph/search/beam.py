"""Step-level beam search with a value per step (AlphaMath: Chen et al., 2024, "AlphaMath Almost Zero: Process
Supervision without Process") and best-first search (a priority queue over partial solutions, as in
LLM-Reasoners' best-first / "Tree of Thoughts" BFS, Yao et al., 2023).

Beam search keeps ``beam_width`` partial solutions (AlphaMath's B1).  At each depth every beam is extended by
``expand`` sampled next steps (B2; one ``propose`` call per beam, the beams in parallel), every new step is
scored by the config (the value model), a path's value is its steps' scores combined by ``aggregate`` (``last``
is AlphaMath's value of the latest state), and the top ``beam_width`` survive; the rest are marked ``pruned``.
A beam that reaches a terminal state is set aside and, with ``shrink_on_finish`` (AlphaMath), the width shrinks
by one.  The answer is the best finished beam (else the best partial one).

Best-first search pops the highest-valued partial solution from a priority queue, expands it by ``children``
sampled steps, scores them and pushes them back, until a terminal state is popped (``stop_at_first_terminal``)
or ``max_expansions`` are spent (then the best terminal found wins).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import (
    Aggregate,
    aggregate,
    budget_detail,
    merge_proposals,
    path_scores,
    result,
    root_text,
)
from thinkgraph.search.base import (
    Meter,
    SearchBudget,
    SearchConfig,
    SearchResult,
    StopReason,
    WorldModel,
    as_score,
)
from thinkgraph.search.tree import Emitter, SearchTree, TreeNode

S = TypeVar("S")
A = TypeVar("A")
T = TypeVar("T")


@dataclass(frozen=True)
class BeamParams:
    """AlphaMath's step-level beam search knobs."""

    beam_width: int = 3  # B1: partial solutions kept per step
    expand: int = 3  # B2: next steps sampled per beam
    max_depth: int = 8
    aggregate: Aggregate = "last"  # a path's value from its step values: last (AlphaMath), mean, min, product
    shrink_on_finish: bool = True  # a finished beam takes a slot away (AlphaMath)

    def __post_init__(self) -> None:
        if self.beam_width < 1 or self.expand < 1 or self.max_depth < 1:
            raise ValueError("BeamParams: beam_width, expand and max_depth must be >= 1")


@dataclass(frozen=True)
class BestFirstParams:
    children: int = 3  # next steps sampled per expansion
    max_expansions: int = 32
    max_depth: int = 10
    aggregate: Aggregate = "last"
    stop_at_first_terminal: bool = True


async def gather_budgeted(coros: Sequence[Awaitable[T]]) -> tuple[list[T | None], BudgetExceeded | None]:
    """Run ``coros`` concurrently; a coroutine that hit a budget gives None, and the first such error is
    returned beside the results (other errors propagate)."""
    outs = await asyncio.gather(*coros, return_exceptions=True)
    first: BudgetExceeded | None = None
    results: list[T | None] = []
    for o in outs:
        if isinstance(o, BudgetExceeded):
            first = first or o
            results.append(None)
        elif isinstance(o, BaseException):
            raise o
        else:
            results.append(o)
    return results, first


class _Stepper(Generic[S, A]):
    """Expansion and scoring shared by beam and best-first search."""

    def __init__(
        self,
        problem: Any,
        world: WorldModel[S, A],
        config: SearchConfig[S, A],
        tree: SearchTree[S, A],
        meter: Meter,
        how: Aggregate,
    ) -> None:
        self.problem, self.world, self.config, self.tree, self.meter, self.how = (
            problem,
            world,
            config,
            tree,
            meter,
            how,
        )

    async def expand(self, node: TreeNode[S, A], n: int) -> list[TreeNode[S, A]]:
        proposals = await self.config.propose(self.problem, node.state, n)
        node.expanded = True
        self.meter.expansions += 1
        kids = []
        for p in merge_proposals(proposals):
            state = self.world.step(node.state, p.action)
            child = self.tree.add(node, p.action, state, p.text, p.prior)
            child.terminal = self.world.is_terminal(state)
            kids.append(child)
        return kids

    async def score(self, node: TreeNode[S, A]) -> float:
        s = as_score(await self.config.evaluate(self.problem, node.state))
        node.score = s.value
        node.verdict = s.verdict
        value = aggregate(path_scores(node), self.how)
        node.visits, node.value_sum = 1, value
        self.tree.updated(node)
        return value

    async def grow(self, node: TreeNode[S, A], n: int) -> list[TreeNode[S, A]]:
        """Expand ``node`` and score its new children (concurrently)."""
        kids = await self.expand(node, n)
        _, err = await gather_budgeted([self.score(k) for k in kids])
        if err is not None:
            raise err
        return kids


def _value(node: TreeNode[Any, Any]) -> float:
    return node.value_sum if node.visits else float("-inf")


async def beam_search(
    problem: Any,
    world: WorldModel[S, A],
    config: SearchConfig[S, A],
    params: BeamParams | None = None,
    budget: SearchBudget | None = None,
    *,
    tracer: Emitter | None = None,
    search_id: str | None = None,
) -> SearchResult[S, A]:
    """Step-level beam search (see the module docstring)."""
    params = params or BeamParams()
    meter = Meter(budget)
    tree: SearchTree[S, A] = SearchTree("beam", tracer, search_id=search_id)
    root = tree.add(None, None, world.init_state(problem), root_text(problem))
    root.terminal = world.is_terminal(root.state)
    step = _Stepper(problem, world, config, tree, meter, params.aggregate)
    beams: list[TreeNode[S, A]] = [] if root.terminal else [root]
    finished: list[TreeNode[S, A]] = [root] if root.terminal else []
    stop: StopReason = "done"
    detail = ""
    with meter.active():
        for _depth in range(params.max_depth):
            if not beams:
                break
            spent = meter.exhausted()
            if spent:
                stop, detail = "budget_exhausted", spent
                break
            room = None
            if meter.budget.max_expansions is not None:
                room = max(0, meter.budget.max_expansions - meter.expansions)
            todo = beams if room is None else beams[:room]
            skipped = len(beams) - len(todo)
            grown, err = await gather_budgeted([step.grow(b, params.expand) for b in todo])
            candidates = [k for kids in grown if kids for k in kids if k.visits]
            width = params.beam_width - (len(finished) if params.shrink_on_finish else 0)
            ranked = sorted(candidates, key=lambda k: (-_value(k), k.id))
            keep, dropped = ranked[: max(0, width)], ranked[max(0, width) :]
            for k in dropped:
                k.verdict = k.verdict or "pruned"
                tree.updated(k)
            beams = []
            for k in keep:
                (finished if k.terminal else beams).append(k)
            if err is not None:
                stop, detail = "budget_exhausted", budget_detail(err)
                break
            if skipped:
                limit = f"expansions limit {meter.budget.max_expansions}"
                stop, detail = "budget_exhausted", meter.exhausted() or limit
                break
    pool = finished or beams or [n for n in tree.nodes if n.visits] or [root]
    best = max(pool, key=lambda k: (_value(k), -k.id))
    return result(tree, meter, best, best.value_sum if best.visits else None, stop, detail)


async def best_first(
    problem: Any,
    world: WorldModel[S, A],
    config: SearchConfig[S, A],
    params: BestFirstParams | None = None,
    budget: SearchBudget | None = None,
    *,
    tracer: Emitter | None = None,
    search_id: str | None = None,
) -> SearchResult[S, A]:
    """Best-first search over partial solutions (see the module docstring)."""
    params = params or BestFirstParams()
    meter = Meter(budget)
    tree: SearchTree[S, A] = SearchTree("best_first", tracer, search_id=search_id)
    root = tree.add(None, None, world.init_state(problem), root_text(problem))
    root.terminal = world.is_terminal(root.state)
    step = _Stepper(problem, world, config, tree, meter, params.aggregate)
    counter = itertools.count()
    heap: list[tuple[float, int, TreeNode[S, A]]] = [(0.0, next(counter), root)]
    finished: list[TreeNode[S, A]] = []
    stop: StopReason = "done"
    detail = ""
    with meter.active():
        while heap:
            _neg, _c, node = heapq.heappop(heap)
            if node.terminal:
                finished.append(node)
                if params.stop_at_first_terminal:
                    break
                continue
            if node.depth >= params.max_depth:
                continue
            spent = meter.exhausted() or (
                f"expansions limit {params.max_expansions}" if meter.expansions >= params.max_expansions else None
            )
            if spent:
                stop, detail = "budget_exhausted", spent
                heapq.heappush(heap, (_neg, _c, node))
                break
            try:
                kids = await step.grow(node, params.children)
            except BudgetExceeded as exc:
                stop, detail = "budget_exhausted", budget_detail(exc)
                break
            for k in kids:
                heapq.heappush(heap, (-_value(k), next(counter), k))
        else:
            if not finished:
                stop, detail = "no_actions", "the queue ran empty"
    pool = finished or [n for _v, _c, n in heap if n.visits] or [n for n in tree.nodes if n.visits] or [root]
    best = max(pool, key=lambda k: (_value(k), -k.id))
    return result(tree, meter, best, best.value_sum if best.visits else None, stop, detail)


__all__ = ["BeamParams", "BestFirstParams", "beam_search", "best_first", "gather_budgeted"]
