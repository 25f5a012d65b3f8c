"""Inference-time search and sampling as nodes: each runs a whole strategy of :mod:`thinkgraph.search` inside one
node (a workflow step per sample or per tree node would cost far more than the search), records its samples or
tree as ``SearchNode`` trace events, and writes an answer whose evidence says why (the vote table, the scores,
the best path, the stop reason and the spend).

They read a logic ``problem`` (and write an ``answer``) or a free ``question`` (and write a ``search_answer``).
Every node takes a budget (``max_calls``, ``budget_tokens``, ``max_seconds``); when it runs out — or the run's
own budget does — the node answers from what it has, with ``stop_reason`` ``budget_exhausted``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thinkgraph.agents.strategies import Strategy, lower_answer, reverse_check, strategy_prompt
from thinkgraph.evals.items import Question
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.messages import ChatMessage
from thinkgraph.search.adaptive import AdaptiveParams, adaptive_consistency
from thinkgraph.search.answers import (
    extractor_for,
    item_of,
    make_answer,
    messages_for,
    record_samples,
    search_evidence,
    vote_evidence,
)
from thinkgraph.search.base import SearchBudget
from thinkgraph.search.beam import BeamParams, beam_search
from thinkgraph.search.mcts import MCTSParams, mcts
from thinkgraph.search.particles import ParticleParams, particle_filter
from thinkgraph.search.reasoning import LogprobScore, SelfEvaluation, StateScorer, StepConfig, StepWorld
from thinkgraph.search.records import SearchAnswer, SearchEvidence
from thinkgraph.search.rpc import rpc
from thinkgraph.search.sampling import Sample, best_of_n, self_consistency
from thinkgraph.search.scorers import logprob_scorer, self_eval_scorer

ExtractorName = Literal["auto", "number", "choice", "label", "yesno", "answer_line"]


class _Budgeted(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    extractor: ExtractorName = Field(
        default="auto", description="how an answer is read from a sample (auto: label / option letter / Answer: line)"
    )
    temperature: float = Field(
        default=0.7, ge=0, le=2, description="sampling temperature (> 0 for several samples: 0 is one greedy answer)"
    )
    max_calls: int | None = Field(default=None, ge=1, description="budget: model calls of this search")
    budget_tokens: int | None = Field(default=None, ge=1, description="budget: tokens of this search")
    max_seconds: float | None = Field(default=None, gt=0, description="budget: seconds of this search")
    seed: int | None = Field(default=0, description="sampling seed (None: unseeded)")

    def budget(self) -> SearchBudget:
        return SearchBudget(max_calls=self.max_calls, max_tokens=self.budget_tokens, max_seconds=self.max_seconds)


class _Sampling(_Budgeted):
    max_tokens: int = Field(default=512, ge=16, le=16384, description="tokens per sample")
    logprobs: bool = Field(
        default=False,
        description="token log-probabilities with every sample (strategies that ask alike share cached samples)",
    )
    strategy: Strategy = Field(
        default="none",
        description="prompt strategy: none, re2, far, cop (a selection call first) or reverse (a check call after; "
        "an answer failing it abstains); their calls count towards the run's budget, not max_calls",
    )

    @model_validator(mode="after")
    def _samples_differ(self) -> _Sampling:
        n = max(getattr(self, "samples", 1), getattr(self, "max_samples", 1), getattr(self, "batch", 1))
        if self.temperature == 0 and n > 1:
            raise ValueError(f"temperature 0 gives one greedy answer, not {n} samples: use temperature > 0")
        return self




class SelfConsistencyParams(_Sampling):
    samples: int = Field(default=5, ge=1, le=128, description="reasoning paths, drawn in one request")


class BestOfNParams(_Sampling):
    samples: int = Field(default=5, ge=1, le=128, description="candidates, drawn in one request")
    scorer: Literal["self_eval", "logprob"] = Field(
        default="self_eval", description="self_eval: the model's P(correct); logprob: mean token log-probability"
    )
    votes: int = Field(default=1, ge=1, le=16, description="self_eval replies per candidate without logprobs")


class AdaptiveNodeParams(_Sampling):
    max_samples: int = Field(default=16, ge=1, le=128, description="samples at most")
    batch: int = Field(default=2, ge=1, le=128, description="samples per request")
    min_samples: int = Field(default=3, ge=1, le=128, description="samples before the rule may stop")
    rule: Literal["certain", "beta", "majority", "entropy", "self_eval"] = Field(
        default="beta", description="stopping rule (besides 'the leader cannot be overtaken')"
    )
    threshold: float = Field(default=0.95, gt=0, le=1, description="the rule's confidence to stop at")


class RPCParams(_Sampling):
    samples: int = Field(default=8, ge=1, le=128, description="reasoning paths, drawn in one request with logprobs")
    prune: bool = Field(default=True, description="prune low-probability paths (the Weibull-mixture rule)")


class _StepSearch(_Budgeted):
    max_tokens: int = Field(default=96, ge=8, le=4096, description="tokens per sampled step")
    max_steps: int = Field(default=8, ge=1, le=64, description="steps before a path is cut off")
    scorer: Literal["self_eval", "logprob"] = Field(
        default="self_eval", description="value of a partial solution: the model's P(yes), or the steps' probability"
    )
    votes: int = Field(default=1, ge=1, le=16, description="self_eval replies per state without logprobs")
    max_expansions: int | None = Field(default=None, ge=1, description="budget: node expansions")

    def budget(self) -> SearchBudget:
        return SearchBudget(
            max_calls=self.max_calls,
            max_tokens=self.budget_tokens,
            max_seconds=self.max_seconds,
            max_expansions=self.max_expansions,
        )

    def config(self, ctx: NodeContext) -> StepConfig:
        scorer: StateScorer = SelfEvaluation(ctx.model, self.votes) if self.scorer == "self_eval" else LogprobScore()
        return StepConfig(
            ctx.model,
            scorer,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            logprob_prior=self.scorer == "logprob",
        )


class BeamNodeParams(_StepSearch):
    beam_width: int = Field(default=3, ge=1, le=32, description="partial solutions kept per step (B1)")
    expand: int = Field(default=3, ge=1, le=32, description="next steps sampled per beam (B2)")
    aggregate: Literal["last", "mean", "min", "product"] = Field(
        default="last", description="a path's value from its step values (last: AlphaMath)"
    )


class MCTSNodeParams(_StepSearch):
    iterations: int = Field(default=16, ge=1, le=4096, description="simulations")
    children: int = Field(default=3, ge=1, le=32, description="next steps sampled per expansion")
    rule: Literal["uct", "puct"] = Field(default="uct", description="selection: UCT, or PUCT with the steps' priors")
    c: float = Field(default=1.0, ge=0, description="exploration weight")
    value: Literal["evaluate", "rollout"] = Field(
        default="evaluate", description="a new node's value: the scorer's, or a rollout to the end scored there"
    )


class ParticleNodeParams(_StepSearch):
    particles: int = Field(default=4, ge=1, le=128, description="partial solutions carried along")
    resampling: Literal["multinomial", "systematic"] = Field(default="systematic", description="how to draw")
    weight_temperature: float = Field(default=0.2, gt=0, description="softmax temperature over step scores")


async def _prompt(ctx: NodeContext, params: _Sampling, item: Problem | Question) -> list[ChatMessage]:
    """The sampling prompt under the node's strategy (COP makes its selection call here)."""
    return await strategy_prompt(ctx.model, item, messages_for, params.strategy, tracer=ctx.tracer)


async def _reverse_checked(
    ctx: NodeContext, params: _Sampling, item: Problem | Question, answer: Answer | SearchAnswer, chosen: Sample | None
) -> Answer | SearchAnswer:
    """With ``strategy: reverse``: the chosen sample's reasoning reverse-checked; an answer failing the check is
    lowered to abstained, the withheld value and the check named in its evidence."""
    if params.strategy != "reverse" or answer.abstained() or chosen is None:
        return answer
    check = await reverse_check(ctx.model, item, chosen.text, tracer=ctx.tracer)
    checked: Answer | SearchAnswer = lower_answer(answer, check)
    return checked


def _first_naming(samples: Any, value: str | None) -> Sample | None:
    return next((s for s in samples if value is not None and s.answer == value), None)


def _voted_answer(ctx: NodeContext, method: str, item: Any, res: Any, reason: str = "") -> Answer | SearchAnswer:
    """A majority vote's answer: its samples recorded as a one-level search tree, the vote table as evidence."""
    shares = [res.table.share(s.answer) if s.answer is not None else 0.0 for s in res.samples]
    sid = record_samples(ctx.tracer, method, item, res.samples, shares, res.answer)
    ev = vote_evidence(
        method,
        res.table,
        search_id=sid,
        stop_reason=res.stop_reason,
        stop_detail=res.stop_detail,
        calls=res.calls,
        tokens=res.tokens,
        **({"reason": reason} if reason else {}),
    )
    rationales = [s.text for s in res.samples]
    return make_answer(item, res.answer, ev, status="voted", confidence=res.table.agreement, rationales=rationales)


@node("search.self_consistency", params=SelfConsistencyParams, needs=("model",))
async def self_consistency_node(
    ctx: NodeContext, params: SelfConsistencyParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """Self-consistency (Wang et al., 2023): sampled reasoning paths in one request, the majority answer."""
    item = item_of(problem, question)
    res = await self_consistency(
        ctx.model,
        await _prompt(ctx, params, item),
        extractor_for(item, params.extractor),
        n=params.samples,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        seed=params.seed,
        budget=params.budget(),
        logprobs=params.logprobs,
    )
    answer = _voted_answer(ctx, "self_consistency", item, res)
    return await _reverse_checked(ctx, params, item, answer, _first_naming(res.samples, res.answer))


@node("search.best_of_n", params=BestOfNParams, needs=("model",))
async def best_of_n_node(
    ctx: NodeContext, params: BestOfNParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """Best-of-N: candidates in one request, each scored (self-evaluation or log-probability), the best kept."""
    item = item_of(problem, question)
    scorer = (
        logprob_scorer
        if params.scorer == "logprob"
        else self_eval_scorer(ctx.model, messages_for(item)[-1].content, params.votes)
    )
    res = await best_of_n(
        ctx.model,
        await _prompt(ctx, params, item),
        scorer,
        n=params.samples,
        extractor=extractor_for(item, params.extractor),
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        logprobs=params.logprobs or params.scorer == "logprob",
        seed=params.seed,
        budget=params.budget(),
    )
    shown = [x if math.isfinite(x) else None for x in res.scores]
    sid = record_samples(ctx.tracer, "best_of_n", item, res.samples, shown, res.answer)
    votes: dict[str, int] = {}
    weights: dict[str, float] = {}
    for s, sc in zip(res.samples, res.scores, strict=False):
        if s.answer is not None:
            votes[s.answer] = votes.get(s.answer, 0) + 1
            if math.isfinite(sc):
                weights[s.answer] = round(max(weights.get(s.answer, -math.inf), sc), 6)
    finite = [x for x in res.scores if math.isfinite(x)]
    ev = SearchEvidence(
        method=f"best_of_n ({params.scorer})",
        votes=votes,
        weights=weights,
        scores=tuple(round(x, 6) if math.isfinite(x) else None for x in res.scores),
        samples=len(res.samples),
        failed_samples=sum(s.answer is None for s in res.samples),
        search_id=sid,
        stop_reason=res.stop_reason,
        stop_detail=res.stop_detail,
        calls=res.calls,
        tokens=res.tokens,
        reason=f"best sample {res.best.index} scored {max(finite):.3g}" if res.best is not None and finite else "",
    )
    best = res.best
    answer = make_answer(
        item,
        res.answer,
        ev,
        status="scored",
        confidence=max(finite) if finite and params.scorer == "self_eval" else None,
        rationales=[best.text] if best is not None else [],
    )
    return await _reverse_checked(ctx, params, item, answer, best)


@node("search.adaptive", params=AdaptiveNodeParams, needs=("model",))
async def adaptive_node(
    ctx: NodeContext, params: AdaptiveNodeParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """Adaptive-Consistency (Aggarwal et al., 2023): sample in batches until more samples cannot change the vote."""
    item = item_of(problem, question)
    res = await adaptive_consistency(
        ctx.model,
        await _prompt(ctx, params, item),
        extractor_for(item, params.extractor),
        AdaptiveParams(params.max_samples, params.batch, params.min_samples, params.rule, params.threshold),
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        seed=params.seed,
        budget=params.budget(),
        logprobs=params.logprobs,
    )
    answer = _voted_answer(
        ctx, "adaptive", item, res, reason=f"{len(res.samples)} of at most {params.max_samples} samples drawn"
    )
    return await _reverse_checked(ctx, params, item, answer, _first_naming(res.samples, res.answer))


@node("search.rpc", params=RPCParams, needs=("model",))
async def rpc_node(
    ctx: NodeContext, params: RPCParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """RPC (Zhou et al., 2025): answers weighted by their paths' probabilities, low-probability paths pruned."""
    item = item_of(problem, question)
    res = await rpc(
        ctx.model,
        await _prompt(ctx, params, item),
        extractor_for(item, params.extractor),
        n=params.samples,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        prune=params.prune,
        seed=params.seed,
        budget=params.budget(),
    )
    probs = res.extra.get("probabilities", [])
    sid = record_samples(ctx.tracer, "rpc", item, res.samples, probs or None, res.answer, res.pruned)
    ev = vote_evidence(
        "rpc",
        res.table,
        pruned=res.pruned,
        search_id=sid,
        stop_reason=res.stop_reason,
        stop_detail=res.stop_detail,
        calls=res.calls,
        tokens=res.tokens,
    )
    confidence = res.table.share(res.answer) if res.answer is not None else None
    rationales = [s.text for s in res.samples]
    answer = make_answer(item, res.answer, ev, status="voted", confidence=confidence, rationales=rationales)
    return await _reverse_checked(ctx, params, item, answer, _first_naming(res.samples, res.answer))


@node("search.beam", params=BeamNodeParams, needs=("model",))
async def beam_node(
    ctx: NodeContext, params: BeamNodeParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """Step-level beam search (AlphaMath, Chen et al., 2024): sampled next steps, a value per step, top-k kept."""
    item = item_of(problem, question)
    res = await beam_search(
        item,
        StepWorld(params.max_steps),
        params.config(ctx),
        BeamParams(params.beam_width, params.expand, params.max_steps, params.aggregate),
        params.budget(),
        tracer=ctx.tracer,
    )
    value, ev = search_evidence("beam", res, extractor_for(item, params.extractor))
    return make_answer(item, value, ev, status="searched", confidence=res.score, rationales=["\n".join(res.texts)])


@node("search.mcts", params=MCTSNodeParams, needs=("model",))
async def mcts_node(
    ctx: NodeContext, params: MCTSNodeParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """MCTS over reasoning steps (UCT / PUCT; RAP, Hao et al., 2023): sampled steps, self-evaluated values."""
    item = item_of(problem, question)
    mp = MCTSParams(
        iterations=params.iterations,
        children=params.children,
        rule=params.rule,
        c=params.c,
        max_depth=params.max_steps,
        value=params.value,
        rollout_depth=params.max_steps,
        seed=params.seed or 0,
    )
    res = await mcts(item, StepWorld(params.max_steps), params.config(ctx), mp, params.budget(), tracer=ctx.tracer)
    value, ev = search_evidence("mcts", res, extractor_for(item, params.extractor))
    return make_answer(item, value, ev, status="searched", confidence=res.score, rationales=["\n".join(res.texts)])


@node("search.particles", params=ParticleNodeParams, needs=("model",))
async def particles_node(
    ctx: NodeContext, params: ParticleNodeParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """Particle filtering over partial solutions (Puri et al., 2025): resampled in proportion to step scores."""
    item = item_of(problem, question)
    pp = ParticleParams(
        particles=params.particles,
        max_steps=params.max_steps,
        resampling=params.resampling,
        temperature=params.weight_temperature,
        seed=params.seed or 0,
    )
    res = await particle_filter(
        item, StepWorld(params.max_steps), params.config(ctx), pp, params.budget(), tracer=ctx.tracer
    )
    value, ev = search_evidence("particles", res, extractor_for(item, params.extractor))
    return make_answer(item, value, ev, status="searched", confidence=res.score, rationales=["\n".join(res.texts)])


__all__ = [
    "AdaptiveNodeParams",
    "BeamNodeParams",
    "BestOfNParams",
    "MCTSNodeParams",
    "ParticleNodeParams",
    "RPCParams",
    "SelfConsistencyParams",
]
