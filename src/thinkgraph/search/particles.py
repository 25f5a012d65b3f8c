"""Particle filtering over partial solutions: "A Probabilistic Inference Approach to Inference-Time Scaling of
LLMs using Particle-Based Monte Carlo Methods" (Puri et al., 2025).

``particles`` partial solutions start at the problem.  At each step every unfinished particle is extended by one
sampled step (copies of one partial solution share one ``propose`` call with ``n`` = their number), each new step
is scored by the config (a process reward model, self-evaluation, a verifier), a particle's weight comes from its
score (``aggregate`` over its steps; ``weighting="softmax"``: ``exp(score / temperature)``, ``"linear"``: the
score itself) and the particles are resampled in proportion to their weights (``multinomial`` or ``systematic``)
whenever the effective sample size falls below ``ess_threshold · particles`` (1.0: every step).  Finished
particles keep their weight and still take part in resampling.  The answer is the best-valued finished particle.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import Aggregate, aggregate, budget_detail, path_scores, result, root_text
from thinkgraph.search.base import (
    Meter,
    SearchBudget,
    SearchConfig,
    SearchResult,
    StopReason,
    WorldModel,
    as_score,
)
from thinkgraph.search.beam import gather_budgeted
from thinkgraph.search.tree import Emitter, SearchTree, TreeNode

S = TypeVar("S")
A = TypeVar("A")
Resampling = Literal["multinomial", "systematic"]


@dataclass(frozen=True)
class ParticleParams:
    """Puri et al.'s knobs: the number of particles, resampling, how scores become weights."""

    particles: int = 8
    max_steps: int = 8
    resampling: Resampling = "multinomial"
    weighting: Literal["softmax", "linear"] = "softmax"
    temperature: float = 1.0  # softmax temperature over scores
    aggregate: Aggregate = "last"  # a particle's score from its step scores
    ess_threshold: float = 1.0  # resample when ESS < threshold · particles (>= 1: every step)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.particles < 1 or self.max_steps < 1:
            raise ValueError("ParticleParams: particles and max_steps must be >= 1")
        if self.temperature <= 0:
            raise ValueError("ParticleParams.temperature must be > 0")


def particle_weights(scores: Sequence[float], weighting: str = "softmax", temperature: float = 1.0) -> list[float]:
    """Normalised weights from scores: ``softmax(score / temperature)`` or the scores themselves (clipped at 0;
    uniform when all are 0)."""
    if not scores:
        return []
    if weighting == "softmax":
        top = max(scores)
        raw = [math.exp((s - top) / temperature) for s in scores]
    elif weighting == "linear":
        raw = [max(0.0, s) for s in scores]
    else:
        raise ValueError(f"unknown weighting {weighting!r}: choose softmax or linear")
    total = sum(raw)
    if total <= 0:
        return [1.0 / len(scores)] * len(scores)
    return [r / total for r in raw]


def effective_sample_size(weights: Sequence[float]) -> float:
    """``1 / Σ w²`` of normalised weights (N when uniform, 1 when one particle has all the weight)."""
    sq = sum(w * w for w in weights)
    return 1.0 / sq if sq > 0 else 0.0


def resample(weights: Sequence[float], n: int, method: Resampling, rng: random.Random) -> list[int]:
    """Indices of ``n`` particles drawn in proportion to ``weights`` (normalised): ``multinomial`` draws each
    independently; ``systematic`` uses one uniform offset and ``n`` evenly spaced points (lower variance)."""
    total = sum(weights)
    if total <= 0 or not weights:
        raise ValueError("resample needs weights with a positive sum")
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w / total
        cum.append(acc)
    cum[-1] = 1.0
    if method == "multinomial":
        points = sorted(rng.random() for _ in range(n))
    elif method == "systematic":
        u = rng.random() / n
        points = [u + i / n for i in range(n)]
    else:
        raise ValueError(f"unknown resampling {method!r}: choose multinomial or systematic")
    out: list[int] = []
    j = 0
    for x in points:
        while j < len(cum) - 1 and x >= cum[j]:
            j += 1
        out.append(j)
    return out


def _score(node: TreeNode[Any, Any], how: Aggregate) -> float:
    return aggregate(path_scores(node), how)


class _Filter(Generic[S, A]):
    """One particle-filtering run (the mutable part, local to the call)."""

    def __init__(
        self,
        problem: Any,
        world: WorldModel[S, A],
        config: SearchConfig[S, A],
        params: ParticleParams,
        tree: SearchTree[S, A],
        meter: Meter,
    ) -> None:
        self.problem, self.world, self.config, self.params, self.tree, self.meter = (
            problem,
            world,
            config,
            params,
            tree,
            meter,
        )
        self.rng = random.Random(params.seed)

    async def extend(self, node: TreeNode[S, A], copies: int) -> list[TreeNode[S, A]]:
        """``copies`` next steps of one partial solution (one propose call), scored concurrently."""
        proposals = await self.config.propose(self.problem, node.state, copies)
        node.expanded = True
        self.meter.expansions += 1
        kids = []
        for p in proposals[:copies]:
            state = self.world.step(node.state, p.action)
            child = self.tree.add(node, p.action, state, p.text, p.prior)
            child.terminal = self.world.is_terminal(state)
            kids.append(child)
        if not kids:
            node.terminal = True  # nothing to do from here: a dead end
        scored, err = await gather_budgeted([self.config.evaluate(self.problem, k.state) for k in kids])
        if err is not None:
            raise err
        for k, s in zip(kids, scored, strict=True):
            if s is not None:
                sc = as_score(s)
                k.score, k.verdict = sc.value, sc.verdict
        return kids

    async def advance(self, particles: list[TreeNode[S, A]]) -> tuple[list[TreeNode[S, A]], BudgetExceeded | None]:
        """Every unfinished particle one step further (copies of a node share one call)."""
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(particles):
            if not p.terminal:
                groups.setdefault(p.id, []).append(i)
        owners = list(groups.values())
        grown, err = await gather_budgeted([self.extend(particles[idx[0]], len(idx)) for idx in owners])
        out = list(particles)
        for idx, kids in zip(owners, grown, strict=True):
            if kids:
                for j, i in enumerate(idx):
                    out[i] = kids[j % len(kids)]
        return out, err

    def reweight(self, particles: list[TreeNode[S, A]]) -> list[TreeNode[S, A]]:
        """Resample by weight (when the effective sample size calls for it); record who survived."""
        params = self.params
        scores = [_score(p, params.aggregate) for p in particles]
        weights = particle_weights(scores, params.weighting, params.temperature)
        if params.ess_threshold >= 1 or effective_sample_size(weights) < params.ess_threshold * len(particles):
            before = {p.id: p for p in particles}
            particles = [particles[i] for i in resample(weights, len(particles), params.resampling, self.rng)]
            alive = {p.id for p in particles}
            for pid, node in before.items():
                if pid not in alive:
                    node.verdict = node.verdict or "pruned"
                    self.tree.updated(node)
        for p in dict.fromkeys(particles):
            p.visits += 1
            p.value_sum += _score(p, params.aggregate)
            self.tree.updated(p)
        return particles


async def particle_filter(
    problem: Any,
    world: WorldModel[S, A],
    config: SearchConfig[S, A],
    params: ParticleParams | None = None,
    budget: SearchBudget | None = None,
    *,
    tracer: Emitter | None = None,
    search_id: str | None = None,
) -> SearchResult[S, A]:
    """Particle filtering (see the module docstring)."""
    params = params or ParticleParams()
    meter = Meter(budget)
    tree: SearchTree[S, A] = SearchTree("particles", tracer, search_id=search_id)
    root = tree.add(None, None, world.init_state(problem), root_text(problem))
    root.terminal = world.is_terminal(root.state)
    run = _Filter(problem, world, config, params, tree, meter)
    particles: list[TreeNode[S, A]] = [root] * params.particles
    stop: StopReason = "done"
    detail = ""
    with meter.active():
        for _step in range(params.max_steps):
            if all(p.terminal for p in particles):
                break
            spent = meter.exhausted()
            if spent:
                stop, detail = "budget_exhausted", spent
                break
            particles, err = await run.advance(particles)
            if err is not None:
                stop, detail = "budget_exhausted", budget_detail(err)
                break
            particles = run.reweight(particles)
    done = [p for p in particles if p.terminal] or particles
    best = max(done, key=lambda p: (_score(p, params.aggregate), -p.id))
    best_score = _score(best, params.aggregate) if best.parent is not None else None
    return result(tree, meter, best, best_score, stop, detail)


__all__ = ["ParticleParams", "effective_sample_size", "particle_filter", "particle_weights", "resample"]
