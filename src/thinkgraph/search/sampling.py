"""Sampling strategies over whole answers, and the pieces they share.

* :func:`repeated_sampling` — draw ``n`` solutions, check each with a verifier, report the unbiased pass@k
  ("Large Language Monkeys", Brown et al., 2024);
* :func:`self_consistency` — majority vote over the answers the samples name ("Self-Consistency Improves Chain
  of Thought Reasoning in Language Models", Wang et al., 2023), with a pluggable answer extractor;
* :func:`best_of_n` — the sample a scorer likes best (a verifier, a reward function, self-evaluation or the
  sample's own log-probability: see :mod:`thinkgraph.search.scorers`).

The ``n`` samples are always drawn as **one** request, ``ChatRequest(n=n, temperature>0)`` (the backend splits
it if it must), never as ``n`` copies of one sample.  Each strategy takes a :class:`SearchBudget`; when it runs
out the strategy answers from what it has, with ``stop_reason="budget_exhausted"``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from thinkgraph.llm.base import ChatModel, ChatRequest, ChatResponse
from thinkgraph.messages import ChatMessage
from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import budget_detail
from thinkgraph.search.base import Meter, SearchBudget, StopReason, metered_chat
from thinkgraph.search.estimators import pass_at_k
from thinkgraph.search.extract import Extractor
from thinkgraph.search.scorers import Scorer, maybe_call


@dataclass(frozen=True)
class Sample:
    """One sampled solution: its text, the answer extracted from it, and its log-probability (summed over its
    ``tokens`` tokens) when the backend returned one."""

    index: int
    text: str
    answer: str | None = None
    logprob: float | None = None
    tokens: int = 0
    finish_reason: str = "stop"

    @property
    def mean_logprob(self) -> float | None:
        return self.logprob / self.tokens if self.logprob is not None and self.tokens else None


def samples_from(response: ChatResponse, extractor: Extractor | None = None, offset: int = 0) -> list[Sample]:
    out = []
    for i, c in enumerate(response.choices):
        lp = tokens = None
        if c.logprobs is not None:
            lp, tokens = sum(t.logprob for t in c.logprobs), len(c.logprobs)
        out.append(
            Sample(
                index=offset + i,
                text=c.text,
                answer=extractor(c.text) if extractor is not None else None,
                logprob=lp,
                tokens=tokens or 0,
                finish_reason=c.finish_reason,
            )
        )
    return out


async def draw(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    n: int,
    *,
    temperature: float = 0.7,
    max_tokens: int = 512,
    extractor: Extractor | None = None,
    logprobs: bool = False,
    seed: int | None = None,
    stop: Sequence[str] = (),
    offset: int = 0,
) -> list[Sample]:
    """``n`` samples in one request (charged to the current search's budget).  ``n > 1`` needs
    ``temperature > 0``: copies of one greedy answer are not samples."""
    if n > 1 and temperature <= 0:
        raise ValueError(f"drawing {n} samples needs temperature > 0 (n greedy answers would be one answer n times)")
    request = ChatRequest(
        messages=tuple(messages),
        n=n,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        logprobs=logprobs,
        stop=tuple(stop),
    )
    return samples_from(await metered_chat(model, request), extractor, offset)


# ----------------------------------------------------------------------------- votes


@dataclass(frozen=True)
class VoteTable:
    """Answers and their support: ``counts`` (samples naming each answer) and ``weights`` (summed weight, equal
    to the counts for a plain vote), in order of first appearance; ``failed`` samples named no answer."""

    counts: dict[str, int]
    weights: dict[str, float]
    samples: int
    failed: int = 0

    @property
    def ranked(self) -> list[tuple[str, float]]:
        """Answers by weight, then count (first seen first among equals)."""
        order = {a: i for i, a in enumerate(self.counts)}
        return sorted(self.weights.items(), key=lambda kv: (-kv[1], -self.counts.get(kv[0], 0), order[kv[0]]))

    @property
    def winner(self) -> str | None:
        r = self.ranked
        return r[0][0] if r else None

    @property
    def tied(self) -> bool:
        r = self.ranked
        return len(r) > 1 and math.isclose(r[0][1], r[1][1]) and self.counts[r[0][0]] == self.counts[r[1][0]]

    @property
    def agreement(self) -> float:
        """The winner's share of all samples (failed ones included)."""
        w = self.winner
        return self.counts[w] / self.samples if w is not None and self.samples else 0.0

    def share(self, answer: str) -> float:
        """``answer``'s share of the total weight."""
        total = sum(self.weights.values())
        return self.weights.get(answer, 0.0) / total if total > 0 else 0.0

    def describe(self) -> str:
        parts = [f"{a}: {self.counts[a]}" + (f" ({w:.3g})" if w != self.counts[a] else "") for a, w in self.ranked]
        return ", ".join(parts) + (f"; {self.failed} without an answer" if self.failed else "")


def vote(answers: Sequence[str | None], weights: Sequence[float] | None = None) -> VoteTable:
    """Tally ``answers`` (None: the sample named none), each with its weight (default 1)."""
    if weights is not None and len(weights) != len(answers):
        raise ValueError(f"vote: {len(answers)} answers but {len(weights)} weights")
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    failed = 0
    for i, a in enumerate(answers):
        if a is None:
            failed += 1
            continue
        counts[a] = counts.get(a, 0) + 1
        sums[a] = sums.get(a, 0.0) + (1.0 if weights is None else float(weights[i]))
    return VoteTable(counts=counts, weights=sums, samples=len(answers), failed=failed)


@dataclass(frozen=True)
class VoteResult:
    """The answer of a voting strategy, the table behind it, the samples, why it stopped, what it spent."""

    method: str
    answer: str | None
    table: VoteTable
    samples: tuple[Sample, ...]
    stop_reason: StopReason = "done"
    stop_detail: str = ""
    calls: int = 0
    tokens: int = 0
    pruned: tuple[int, ...] = ()  # sample indices left out of the vote (RPC's reasoning pruning)
    extra: dict[str, Any] = field(default_factory=dict)


async def self_consistency(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    extractor: Extractor,
    *,
    n: int = 5,
    temperature: float = 0.7,
    max_tokens: int = 512,
    seed: int | None = None,
    budget: SearchBudget | None = None,
    logprobs: bool = False,
) -> VoteResult:
    """Self-consistency (Wang et al., 2023): ``n`` reasoning paths in one request, the answer most of them name.
    With ``n=1`` and ``temperature=0`` it is the greedy answer."""
    meter = Meter(budget)
    samples: list[Sample] = []
    stop: StopReason = "done"
    detail = ""
    with meter.active():
        try:
            samples = await draw(
                model,
                messages,
                n,
                temperature=temperature,
                max_tokens=max_tokens,
                extractor=extractor,
                seed=seed,
                logprobs=logprobs,
            )
        except BudgetExceeded as exc:
            stop, detail = "budget_exhausted", budget_detail(exc)
    table = vote([s.answer for s in samples])
    return VoteResult("self_consistency", table.winner, table, tuple(samples), stop, detail, meter.calls, meter.tokens)


# ----------------------------------------------------------------------------- best-of-N


@dataclass(frozen=True)
class BestOfNResult:
    """The best sample by the scorer, every sample's score, why it stopped, what it spent."""

    best: Sample | None
    scores: tuple[float, ...]
    samples: tuple[Sample, ...]
    stop_reason: StopReason = "done"
    stop_detail: str = ""
    calls: int = 0
    tokens: int = 0

    @property
    def answer(self) -> str | None:
        return self.best.answer if self.best is not None else None


async def best_of_n(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    scorer: Scorer,
    *,
    n: int = 5,
    extractor: Extractor | None = None,
    temperature: float = 0.7,
    max_tokens: int = 512,
    logprobs: bool = False,
    seed: int | None = None,
    budget: SearchBudget | None = None,
) -> BestOfNResult:
    """Best-of-N: ``n`` samples in one request, each scored (concurrently), the highest kept (ties: the first)."""
    meter = Meter(budget)
    samples: list[Sample] = []
    scores: list[float] = []
    stop: StopReason = "done"
    detail = ""
    with meter.active():
        try:
            samples = await draw(
                model,
                messages,
                n,
                temperature=temperature,
                max_tokens=max_tokens,
                extractor=extractor,
                logprobs=logprobs,
                seed=seed,
            )
            outs = await asyncio.gather(*(maybe_call(scorer, s) for s in samples), return_exceptions=True)
            for o in outs:
                if isinstance(o, BudgetExceeded):
                    stop, detail = "budget_exhausted", budget_detail(o)
                    scores.append(-math.inf)
                elif isinstance(o, BaseException):
                    raise o
                else:
                    scores.append(float(o))
        except BudgetExceeded as exc:
            stop, detail = "budget_exhausted", budget_detail(exc)
    best = None
    if samples and scores and max(scores) > -math.inf:
        best = samples[max(range(len(scores)), key=lambda i: (scores[i], -i))]
    return BestOfNResult(best, tuple(scores), tuple(samples), stop, detail, meter.calls, meter.tokens)


# ----------------------------------------------------------------------------- repeated sampling


@dataclass(frozen=True)
class RepeatedResult:
    """Repeated sampling with a verifier: which samples passed, and pass@k for each k asked."""

    samples: tuple[Sample, ...]
    passed: tuple[bool, ...]
    pass_at: dict[int, float]
    stop_reason: StopReason = "done"
    stop_detail: str = ""
    calls: int = 0
    tokens: int = 0

    @property
    def correct(self) -> int:
        return sum(self.passed)

    @property
    def first_passing(self) -> Sample | None:
        return next((s for s, ok in zip(self.samples, self.passed, strict=True) if ok), None)


async def repeated_sampling(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    verifier: Callable[[Sample], bool | Awaitable[bool]],
    *,
    n: int = 16,
    ks: Sequence[int] = (1, 2, 4, 8, 16),
    extractor: Extractor | None = None,
    temperature: float = 0.7,
    max_tokens: int = 512,
    seed: int | None = None,
    budget: SearchBudget | None = None,
) -> RepeatedResult:
    """Large Language Monkeys (Brown et al., 2024): ``n`` samples in one request, each verified, and the unbiased
    pass@k for every ``k <= n`` in ``ks``."""
    meter = Meter(budget)
    samples: list[Sample] = []
    stop: StopReason = "done"
    detail = ""
    with meter.active():
        try:
            samples = await draw(
                model, messages, n, temperature=temperature, max_tokens=max_tokens, extractor=extractor, seed=seed
            )
        except BudgetExceeded as exc:
            stop, detail = "budget_exhausted", budget_detail(exc)
        checks = await asyncio.gather(*(maybe_call(verifier, s) for s in samples))
    passed = tuple(bool(c) for c in checks)
    pass_at = {k: pass_at_k(len(samples), sum(passed), k) for k in ks if 0 < k <= len(samples)}
    return RepeatedResult(tuple(samples), passed, pass_at, stop, detail, meter.calls, meter.tokens)


__all__ = [
    "BestOfNResult",
    "RepeatedResult",
    "Sample",
    "VoteResult",
    "VoteTable",
    "best_of_n",
    "draw",
    "repeated_sampling",
    "samples_from",
    "self_consistency",
    "vote",
]
