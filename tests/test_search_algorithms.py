"""The search algorithms pinned on small hand-made worlds: UCT / PUCT selection, MCTS, beam, best-first,
particle filtering and resampling, budgets (the search's own and the run's ledger) and statelessness."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from thinkgraph.llm.base import ChatRequest
from thinkgraph.llm.managed import ManagedModel
from thinkgraph.runtime import Budget, Ledger, RunContext
from thinkgraph.search import (
    BeamParams,
    BestFirstParams,
    MCTSParams,
    ParticleParams,
    Proposal,
    Score,
    SearchBudget,
    beam_search,
    best_first,
    mcts,
    metered_chat,
    particle_filter,
    resample,
)
from thinkgraph.search.mcts import puct_score, select_child, uct_score
from thinkgraph.search.particles import effective_sample_size, particle_weights
from thinkgraph.search.tree import SearchTree
from thinkgraph.testing import ScriptedModel

State = tuple[int, ...]


class Bits:
    """Strings of actions; terminal at ``depth``."""

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth

    def init_state(self, problem: Any) -> State:
        return ()

    def step(self, state: State, action: int) -> State:
        return (*state, action)

    def is_terminal(self, state: State) -> bool:
        return len(state) >= self.depth


class Digits:
    """Proposes actions 0..width-1 with given priors; a state's score is its last action / 10 (or a table)."""

    def __init__(self, width: int = 2, priors: Sequence[float] | None = None, model: Any = None) -> None:
        self.width = width
        self.priors = list(priors) if priors is not None else [1.0] * width
        self.model = model
        self.proposed = 0

    async def propose(self, problem: Any, state: State, n: int) -> list[Proposal[int]]:
        if self.model is not None:
            await metered_chat(self.model, ChatRequest.of([("user", f"next after {state}")], n=n, temperature=0.7))
        return [Proposal(a, self.priors[a], f"{a}") for a in range(self.width)]

    async def evaluate(self, problem: Any, state: State) -> float | Score:
        return state[-1] / 10 if state else 0.0


class FractionOfOnes(Digits):
    async def evaluate(self, problem: Any, state: State) -> float | Score:
        if len(state) < 3:
            return 0.5
        value = sum(state) / len(state)
        return Score(value, "correct" if value == 1 else "wrong")


def hand_tree() -> tuple[SearchTree[Any, Any], Any, Any, Any]:
    tree: SearchTree[Any, Any] = SearchTree("mcts")
    root = tree.add(None, None, "root")
    a = tree.add(root, "a", "A", "a", prior=0.7)
    b = tree.add(root, "b", "B", "b", prior=0.3)
    root.visits = 9
    a.visits, a.value_sum = 8, 4.8  # Q = 0.6
    b.visits, b.value_sum = 1, 0.4  # Q = 0.4
    return tree, root, a, b


def test_uct_picks_the_child_its_formula_favours_on_a_hand_made_tree() -> None:
    _tree, root, a, b = hand_tree()
    assert uct_score(a, 9, 1.4) == pytest.approx(0.6 + 1.4 * math.sqrt(math.log(9) / 8))  # 1.334
    assert uct_score(b, 9, 1.4) == pytest.approx(0.4 + 1.4 * math.sqrt(math.log(9) / 1))  # 2.475
    assert select_child(root, MCTSParams(c=1.4)) is b  # exploration: the under-visited child
    assert select_child(root, MCTSParams(c=0.0)) is a  # pure exploitation: the higher mean
    c = _tree.add(root, "c", "C", "c")
    assert uct_score(c, 9, 1.4) == math.inf and select_child(root, MCTSParams(c=1.4)) is c  # unvisited first


def test_puct_uses_the_priors() -> None:
    _tree, root, a, b = hand_tree()
    assert puct_score(a, 9, 1.0) == pytest.approx(0.6 + 0.7 * 3 / 9)
    assert puct_score(b, 9, 1.0) == pytest.approx(0.4 + 0.3 * 3 / 2)
    assert select_child(root, MCTSParams(rule="puct", c=1.0)) is b  # 0.85 > 0.833
    a.prior, b.prior = 0.95, 0.05
    assert select_child(root, MCTSParams(rule="puct", c=1.0)) is a
    # two unvisited children: PUCT takes the higher prior, UCT the first created
    fresh: SearchTree[Any, Any] = SearchTree("mcts")
    r = fresh.add(None, None, "r")
    low, high = fresh.add(r, 0, "x", prior=0.2), fresh.add(r, 1, "y", prior=0.8)
    assert select_child(r, MCTSParams(rule="puct")) is high and select_child(r, MCTSParams(rule="uct")) is high
    high.prior = low.prior = 0.5
    assert select_child(r, MCTSParams(rule="uct")) is low


def test_mcts_finds_the_best_path_and_records_every_node() -> None:
    res = asyncio.run(mcts(None, Bits(3), FractionOfOnes(), MCTSParams(iterations=60, c=1.0)))
    assert res.actions == (1, 1, 1) and res.score == 1.0 and res.stop_reason == "done"
    assert res.nodes()[res.path[-1].node_id].verdict == "correct"
    assert len(res.nodes()) == 15  # the whole binary tree of depth 3
    root = res.tree.root if res.tree is not None else None
    assert root is not None and root.visits == 60
    assert sum(c.visits for c in root.children) == 60


def test_puct_prior_steers_the_first_expansions() -> None:
    config = Digits(width=2, priors=[0.1, 0.9])
    res = asyncio.run(mcts(None, Bits(3), config, MCTSParams(iterations=2, rule="puct", final="visits")))
    kids = res.tree.root.children if res.tree is not None else []
    assert [k.action for k in kids] == [0, 1] and kids[1].visits == 2 and kids[0].visits == 0
    assert kids[1].prior == pytest.approx(0.9)


def test_mcts_with_rollouts_and_two_players() -> None:
    # zero-sum: values alternate sign by level; rollouts reach terminal states and are scored there
    res = asyncio.run(
        mcts(None, Bits(3), FractionOfOnes(), MCTSParams(iterations=30, value="rollout", zero_sum=True, seed=3))
    )
    assert res.stop_reason == "done" and len(res.path) >= 2
    again = asyncio.run(
        mcts(None, Bits(3), FractionOfOnes(), MCTSParams(iterations=30, value="rollout", zero_sum=True, seed=3))
    )
    assert again.actions == res.actions  # seeded: the same search


def test_beam_keeps_the_top_k_and_prunes_the_rest() -> None:
    res = asyncio.run(beam_search(None, Bits(3), Digits(width=5), BeamParams(beam_width=2, expand=5)))
    assert res.actions == (4, 4, 4) and res.score == pytest.approx(0.4)
    nodes = res.tree.nodes if res.tree is not None else []
    depth1 = {n.action: n for n in nodes if n.depth == 1}
    assert {a for a, n in depth1.items() if n.verdict != "pruned"} == {3, 4}
    assert {a for a, n in depth1.items() if n.verdict == "pruned"} == {0, 1, 2}
    # the kept beams were the only ones expanded at depth 2
    assert {n.parent.action for n in nodes if n.depth == 2 and n.parent is not None} == {3, 4}
    assert res.expansions == 1 + 2 + 2


def test_beam_shrinks_as_beams_finish() -> None:
    res = asyncio.run(beam_search(None, Bits(1), Digits(width=3), BeamParams(beam_width=2, expand=3)))
    assert res.actions == (2,) and res.expansions == 1


def test_best_first_expands_the_most_promising_node() -> None:
    res = asyncio.run(best_first(None, Bits(3), Digits(width=3), BestFirstParams(children=3)))
    assert res.actions == (2, 2, 2) and res.expansions == 3 and res.stop_reason == "done"


def test_resampling_keeps_high_weight_particles() -> None:
    weights = [0.9, 0.05, 0.05]
    multi = Counter(resample(weights, 100, "multinomial", random.Random(0)))
    assert multi[0] >= 80
    syst = Counter(resample(weights, 100, "systematic", random.Random(0)))
    assert syst[0] in (89, 90, 91) and syst[1] + syst[2] == 100 - syst[0]
    assert resample([0.0, 1.0, 0.0], 5, "systematic", random.Random(1)) == [1] * 5
    assert particle_weights([1.0, 0.0], "linear") == [1.0, 0.0]
    w = particle_weights([1.0, 0.0], "softmax", 0.5)
    assert w[0] == pytest.approx(math.exp(2) / (math.exp(2) + 1))
    assert effective_sample_size([0.25] * 4) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        resample([0.0, 0.0], 2, "multinomial", random.Random(0))


def test_particle_filter_concentrates_on_high_scoring_steps() -> None:
    params = ParticleParams(particles=8, max_steps=3, temperature=0.05, resampling="systematic", seed=0)
    res = asyncio.run(particle_filter(None, Bits(3), Digits(width=2), params))
    assert res.actions == (1, 1, 1) and res.score == pytest.approx(0.1)
    nodes = res.tree.nodes if res.tree is not None else []
    assert any(n.verdict == "pruned" and n.action == 0 for n in nodes)
    again = asyncio.run(particle_filter(None, Bits(3), Digits(width=2), params))
    assert [n.action for n in again.tree.nodes] == [n.action for n in nodes]  # type: ignore[union-attr]


def test_copies_of_one_particle_share_one_request() -> None:
    model = ScriptedModel(lambda r, i: "x")
    params = ParticleParams(particles=4, max_steps=1)
    asyncio.run(particle_filter(None, Bits(1), Digits(width=4, model=model), params))
    assert [r.n for r in model.requests] == [4]


class Nothing(Digits):
    async def propose(self, problem: Any, state: State, n: int) -> list[Proposal[int]]:
        self.proposed += 1
        return []


@pytest.mark.parametrize("algorithm", [mcts, beam_search, best_first, particle_filter])
def test_a_world_with_no_actions_ends_the_search(algorithm: Any) -> None:
    config = Nothing()
    res = asyncio.run(algorithm(None, Bits(3), config))
    assert res.actions == () and config.proposed == 1 and len(res.path) == 1


@pytest.mark.parametrize(
    "algorithm",
    [
        lambda w, c, b: mcts(None, w, c, MCTSParams(iterations=50), b),
        lambda w, c, b: beam_search(None, w, c, BeamParams(beam_width=2, expand=2), b),
        lambda w, c, b: best_first(None, w, c, BestFirstParams(stop_at_first_terminal=False), b),
        lambda w, c, b: particle_filter(None, w, c, ParticleParams(particles=4), b),
    ],
)
def test_a_spent_budget_returns_the_best_so_far(algorithm: Any) -> None:
    model = ScriptedModel(lambda r, i: "step")
    res = asyncio.run(algorithm(Bits(6), Digits(width=2, model=model), SearchBudget(max_calls=2)))
    assert res.stop_reason == "budget_exhausted" and "model calls" in res.stop_detail
    assert res.calls == 2 and len(model.requests) == 2 and res.path  # an answer from what it had
    res = asyncio.run(algorithm(Bits(6), Digits(width=2), SearchBudget(max_expansions=1)))
    assert res.stop_reason == "budget_exhausted" and res.expansions == 1


def test_the_runs_ledger_budget_ends_a_search_the_same_way() -> None:
    ctx = RunContext(ledger=Ledger(budget=Budget(max_calls=3)))
    model = ManagedModel(ScriptedModel(lambda r, i: "step"), ctx)
    res = asyncio.run(mcts(None, Bits(6), Digits(width=2, model=model), MCTSParams(iterations=50)))
    assert res.stop_reason == "budget_exhausted" and res.stop_detail == "model calls limit 3"
    assert ctx.ledger.total().calls == 3


def test_searches_are_stateless() -> None:
    world, config = Bits(3), FractionOfOnes()
    before = (vars(world).copy(), config.priors.copy())
    one = asyncio.run(mcts(None, world, config, MCTSParams(iterations=40)))
    two = asyncio.run(mcts(None, world, config, MCTSParams(iterations=40)))
    assert one.actions == two.actions and one.search_id != two.search_id
    assert (vars(world), config.priors) == before
