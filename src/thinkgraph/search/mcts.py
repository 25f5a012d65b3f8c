"""Monte Carlo tree search over any world model: UCT (Kocsis & Szepesvári, 2006, "Bandit based Monte-Carlo
Planning") and PUCT with priors (Silver et al., 2017, "Mastering the game of Go without human knowledge";
over reasoning steps as in RAP, Hao et al., 2023, "Reasoning with Language Model is Planning with World Model").

Each iteration **selects** a path by the rule (``uct``: ``Q + c·sqrt(ln N / n)``, unvisited children first;
``puct``: ``Q + c·P·sqrt(N) / (1 + n)`` with the proposals' priors ``P`` and ``fpu`` as the value of an
unvisited child) down to a leaf; a leaf visited before (or the root) is **expanded** by ``children`` sampled
actions (one ``propose`` call) and one new child is taken; the new node is **simulated** (``value="evaluate"``:
the config's score — self-evaluation, a verifier, a reward; or ``value="rollout"``: play on by the rollout
config's priors up to ``rollout_depth`` and score the end) and the value is **backed up** along the path
(negated at every level when ``zero_sum``, for two-player games where a state's value is from the side of the
player who just moved).

The answer (``final``) is the most-visited path (``visits``), the path of highest mean value (``value``) or
the best-scored terminal state found (``best_terminal``, falling back to the most-visited path).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import budget_detail, merge_proposals, result, root_text
from thinkgraph.search.base import (
    Meter,
    Proposal,
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


@dataclass(frozen=True)
class MCTSParams:
    """The knobs of UCT / PUCT search."""

    iterations: int = 64  # simulations (select → expand → simulate → back up)
    children: int = 4  # actions sampled per expansion (one propose call, n=children)
    rule: Literal["uct", "puct"] = "uct"
    c: float = 1.4  # exploration weight (c of UCT, c_puct of PUCT)
    fpu: float = 0.0  # PUCT: the value assumed for an unvisited child ("first-play urgency")
    max_depth: int = 10  # nodes at this depth are not expanded
    value: Literal["evaluate", "rollout"] = "evaluate"
    rollout_depth: int = 8
    rollout_width: int = 1  # proposals asked per rollout step (one is drawn by prior)
    zero_sum: bool = False  # two players: values alternate sign level by level
    final: Literal["visits", "value", "best_terminal"] = "best_terminal"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.children < 1 or self.max_depth < 1:
            raise ValueError("MCTSParams: iterations, children and max_depth must be >= 1")
        if self.rule not in ("uct", "puct"):
            raise ValueError(f"MCTSParams.rule must be 'uct' or 'puct', not {self.rule!r}")
        if self.value not in ("evaluate", "rollout"):
            raise ValueError(f"MCTSParams.value must be 'evaluate' or 'rollout', not {self.value!r}")


def uct_score(child: TreeNode[Any, Any], parent_visits: int, c: float) -> float:
    """UCT: mean value plus ``c·sqrt(ln N / n)``; an unvisited child scores +inf."""
    if child.visits == 0:
        return math.inf
    return child.value_sum / child.visits + c * math.sqrt(math.log(max(1, parent_visits)) / child.visits)


def puct_score(child: TreeNode[Any, Any], parent_visits: int, c: float, fpu: float = 0.0) -> float:
    """PUCT: mean value (``fpu`` when unvisited) plus ``c·P·sqrt(N) / (1 + n)``."""
    q = child.value_sum / child.visits if child.visits else fpu
    return q + c * child.prior * math.sqrt(max(1, parent_visits)) / (1 + child.visits)


def select_child(node: TreeNode[S, A], params: MCTSParams) -> TreeNode[S, A]:
    """The child the rule picks (ties: the higher prior, then the first created)."""
    n = node.visits
    best = node.children[0]
    best_key = (-math.inf, -math.inf)
    for child in node.children:
        s = uct_score(child, n, params.c) if params.rule == "uct" else puct_score(child, n, params.c, params.fpu)
        key = (s, child.prior)
        if key > best_key:
            best, best_key = child, key
    return best


class _Search(Generic[S, A]):
    """One MCTS run (the mutable part, local to the call)."""

    def __init__(
        self,
        problem: Any,
        world: WorldModel[S, A],
        config: SearchConfig[S, A],
        params: MCTSParams,
        tree: SearchTree[S, A],
        meter: Meter,
        rollout: SearchConfig[S, A],
    ) -> None:
        self.problem, self.world, self.config, self.params = problem, world, config, params
        self.tree, self.meter, self.rollout_config = tree, meter, rollout
        self.rng = random.Random(params.seed)
        self.terminals: list[TreeNode[S, A]] = []

    async def expand(self, node: TreeNode[S, A]) -> None:
        proposals = await self.config.propose(self.problem, node.state, self.params.children)
        node.expanded = True
        self.meter.expansions += 1
        for p in merge_proposals(proposals):
            state = self.world.step(node.state, p.action)
            child = self.tree.add(node, p.action, state, p.text, p.prior)
            child.terminal = self.world.is_terminal(state)
        if not node.children:
            node.terminal = True  # nothing to do from here: a dead end, scored as it is

    async def simulate(self, node: TreeNode[S, A]) -> float:
        if node.score is not None and (node.terminal or self.params.value == "evaluate"):
            return node.score
        if self.params.value == "rollout" and not node.terminal:
            return await self.rollout(node)
        s = as_score(await self.config.evaluate(self.problem, node.state))
        node.score, node.verdict = s.value, s.verdict or ("terminal" if node.terminal else "")
        if node.terminal:
            self.terminals.append(node)
        return s.value

    async def rollout(self, node: TreeNode[S, A]) -> float:
        state, steps = node.state, 0
        while steps < self.params.rollout_depth and not self.world.is_terminal(state):
            proposals = await self.rollout_config.propose(self.problem, state, self.params.rollout_width)
            if not proposals:
                break
            state = self.world.step(state, _draw(proposals, self.rng).action)
            steps += 1
        value = as_score(await self.config.evaluate(self.problem, state)).value
        return -value if self.params.zero_sum and steps % 2 else value

    def backup(self, node: TreeNode[S, A] | None, value: float) -> None:
        while node is not None:
            node.visits += 1
            node.value_sum += value
            self.tree.updated(node)
            if self.params.zero_sum:
                value = -value
            node = node.parent

    async def iterate(self) -> None:
        node = self.tree.root
        while node.expanded and node.children and not node.terminal:
            node = select_child(node, self.params)
        fresh = node.visits == 0 and node.parent is not None  # a new leaf is simulated before it is expanded
        if not fresh and not node.expanded and not node.terminal and node.depth < self.params.max_depth:
            await self.expand(node)
            if node.children:
                node = select_child(node, self.params)
        self.backup(node, await self.simulate(node))

    def best(self) -> TreeNode[S, A]:
        root = self.tree.root
        if self.params.final == "best_terminal" and self.terminals:
            return max(self.terminals, key=lambda n: (n.score if n.score is not None else -math.inf, n.visits))
        node = root
        while node.children:
            visited = [c for c in node.children if c.visits]
            if not visited:
                break
            if self.params.final == "value":
                node = max(visited, key=lambda c: (c.value_sum / c.visits, c.visits))
            else:
                node = max(visited, key=lambda c: (c.visits, c.value_sum / c.visits))
        return node


async def mcts(
    problem: Any,
    world: WorldModel[S, A],
    config: SearchConfig[S, A],
    params: MCTSParams | None = None,
    budget: SearchBudget | None = None,
    *,
    tracer: Emitter | None = None,
    rollout: SearchConfig[S, A] | None = None,
    search_id: str | None = None,
    emit_updates: bool = True,
) -> SearchResult[S, A]:
    """Run MCTS from ``world.init_state(problem)``; see the module docstring.  ``rollout`` is the config whose
    proposals the rollouts follow (default: ``config``; a uniform one keeps rollouts free of model calls)."""
    params = params or MCTSParams()
    meter = Meter(budget)
    tree: SearchTree[S, A] = SearchTree("mcts", tracer, search_id=search_id, emit_updates=emit_updates)
    root = tree.add(None, None, world.init_state(problem), root_text(problem))
    root.terminal = world.is_terminal(root.state)
    run = _Search(problem, world, config, params, tree, meter, rollout or config)
    stop: StopReason = "done"
    detail = ""
    with meter.active():
        for _ in range(params.iterations):
            spent = meter.exhausted()
            if spent:
                stop, detail = "budget_exhausted", spent
                break
            try:
                await run.iterate()
            except BudgetExceeded as exc:
                stop, detail = "budget_exhausted", budget_detail(exc)
                break
            if root.terminal:
                break
    best = run.best()
    score = best.score if params.final == "best_terminal" and best.terminal else best.value
    return result(tree, meter, best, score if score is not None else best.score, stop, detail)


def root_statistics(res: SearchResult[Any, A]) -> list[tuple[A, int, float | None]]:
    """The root's children as ``(action, visits, mean value)``, most visited first (a game's move choice)."""
    if res.tree is None or not len(res.tree):
        return []
    kids = sorted(res.tree.root.children, key=lambda c: (-c.visits, c.id))
    return [(c.action, c.visits, c.value) for c in kids if c.action is not None]


def _draw(proposals: Sequence[Proposal[A]], rng: random.Random) -> Proposal[A]:
    if len(proposals) == 1:
        return proposals[0]
    total = sum(max(0.0, p.prior) for p in proposals)
    if total <= 0:
        return proposals[rng.randrange(len(proposals))]
    x = rng.random() * total
    for p in proposals:
        x -= max(0.0, p.prior)
        if x < 0:
            return p
    return proposals[-1]


__all__ = ["MCTSParams", "mcts", "puct_score", "root_statistics", "select_child", "uct_score"]
