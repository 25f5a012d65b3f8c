"""Adaptive compute: sample a few solutions at a time and stop once more samples will not change the answer
("Let's Sample Step by Step: Adaptive-Consistency for Efficient Reasoning and Coding with LLMs", Aggarwal et al.,
2023).

After each batch (``batch`` samples in one request) the vote table is checked, in order:

1. **certain** (always on): the leader's lead over the runner-up exceeds the samples still allowed, so no outcome
   of the remaining samples can change the answer;
2. the ``rule``, once ``min_samples`` are in:

   * ``beta`` (the paper's default): the probability that the leader's true share exceeds the runner-up's under
     a Beta(v1 + 1, v2 + 1) posterior, ``P(p1 > p2) = 1 - I_½(v1 + 1, v2 + 1)``, is at least ``threshold``;
   * ``majority``: the leader holds at least ``threshold`` of the samples;
   * ``entropy``: ``1 - H(votes) / log(#answers)`` (how concentrated the votes are) is at least ``threshold``;
   * ``self_eval``: the model, shown the question and the tally, gives probability at least ``threshold`` that
     the leader is right ("let me think twice" as a stop signal);
   * ``certain``: only the rule above.

It stops with ``stop_reason="stopped_early"`` when a rule fires before ``max_samples``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb
from typing import Literal

from thinkgraph.llm.base import ChatModel
from thinkgraph.messages import ChatMessage
from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import budget_detail
from thinkgraph.search.base import Meter, SearchBudget, StopReason
from thinkgraph.search.extract import Extractor
from thinkgraph.search.sampling import Sample, VoteResult, VoteTable, draw, vote
from thinkgraph.search.scorers import yes_probability

StopRule = Literal["certain", "beta", "majority", "entropy", "self_eval"]


@dataclass(frozen=True)
class AdaptiveParams:
    """Adaptive-Consistency's knobs."""

    max_samples: int = 16
    batch: int = 2  # samples per request
    min_samples: int = 3  # before the rule may stop (the certainty check needs none)
    rule: StopRule = "beta"
    threshold: float = 0.95

    def __post_init__(self) -> None:
        if self.max_samples < 1 or self.batch < 1 or self.min_samples < 1:
            raise ValueError("AdaptiveParams: max_samples, batch and min_samples must be >= 1")
        if not 0 < self.threshold <= 1:
            raise ValueError("AdaptiveParams.threshold must be in (0, 1]")


def beta_confidence(leader: int, runner_up: int) -> float:
    """``P(p1 > p2)`` for ``p1/(p1+p2) ~ Beta(leader + 1, runner_up + 1)``: ``1 - I_½(a, b)``, exact for counts
    (``Σ_{j<a} C(a+b-1, j) / 2^(a+b-1)``)."""
    a, b = leader + 1, runner_up + 1
    n = a + b - 1
    return float(Fraction(sum(comb(n, j) for j in range(a)), 2**n))


def concentration(table: VoteTable) -> float:
    """``1 - H / log(m)`` over the ``m`` answers named (1.0 for a single answer)."""
    counts = [c for c in table.counts.values() if c > 0]
    if len(counts) <= 1:
        return 1.0 if counts else 0.0
    total = sum(counts)
    h = -sum(c / total * math.log(c / total) for c in counts)
    return 1.0 - h / math.log(len(counts))


def _top_two(table: VoteTable) -> tuple[int, int]:
    ranked = sorted(table.counts.values(), reverse=True)
    return (ranked[0] if ranked else 0), (ranked[1] if len(ranked) > 1 else 0)


def cannot_change(table: VoteTable, remaining: int) -> bool:
    """No way for ``remaining`` more samples to overturn (or tie) the leader."""
    v1, v2 = _top_two(table)
    return v1 > 0 and v1 - v2 > remaining


def rule_says_stop(table: VoteTable, params: AdaptiveParams) -> tuple[bool, float]:
    """Whether the (model-free) rule fires, and the statistic it looked at."""
    v1, v2 = _top_two(table)
    if v1 == 0:
        return False, 0.0
    if params.rule == "beta":
        c = beta_confidence(v1, v2)
    elif params.rule == "majority":
        c = v1 / table.samples if table.samples else 0.0
    elif params.rule == "entropy":
        c = concentration(table)
    else:
        return False, 0.0
    return c >= params.threshold, c


def _tally_prompt(question: str, table: VoteTable) -> list[ChatMessage]:
    tally = ", ".join(f"{a} ({c} of {table.samples})" for a, c in table.counts.items())
    text = (
        f"Question:\n{question}\n\nIndependent attempts answered: {tally}.\n"
        f"Is {table.winner} certainly the correct answer, so that further attempts are unnecessary? "
        "Reply with Yes or No only."
    )
    return [ChatMessage(role="user", content=text)]


async def adaptive_consistency(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    extractor: Extractor,
    params: AdaptiveParams | None = None,
    *,
    temperature: float = 0.7,
    max_tokens: int = 512,
    seed: int | None = None,
    budget: SearchBudget | None = None,
    logprobs: bool = False,
) -> VoteResult:
    """Sample in batches until a stopping rule fires (see the module docstring); the answer is the majority."""
    params = params or AdaptiveParams()
    meter = Meter(budget)
    samples: list[Sample] = []
    stop: StopReason = "done"
    detail = ""
    statistic = 0.0
    question = messages[-1].content if messages else ""
    with meter.active():
        while len(samples) < params.max_samples:
            k = min(params.batch, params.max_samples - len(samples))
            try:
                samples += await draw(
                    model,
                    messages,
                    k,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    extractor=extractor,
                    seed=None if seed is None else seed + len(samples),
                    offset=len(samples),
                    logprobs=logprobs,
                )
            except BudgetExceeded as exc:
                stop, detail = "budget_exhausted", budget_detail(exc)
                break
            table = vote([s.answer for s in samples])
            remaining = params.max_samples - len(samples)
            if remaining == 0:
                break
            if cannot_change(table, remaining):
                stop, detail = "stopped_early", f"the leader cannot be overtaken by {remaining} more samples"
                break
            if len(samples) < params.min_samples:
                continue
            fired, statistic = rule_says_stop(table, params)
            if params.rule == "self_eval" and table.winner is not None:
                try:
                    statistic = await yes_probability(model, _tally_prompt(question, table))
                except BudgetExceeded as exc:
                    stop, detail = "budget_exhausted", budget_detail(exc)
                    break
                fired = statistic >= params.threshold
            if fired:
                stop, detail = "stopped_early", f"{params.rule} {statistic:.3f} >= {params.threshold:g}"
                break
    table = vote([s.answer for s in samples])
    return VoteResult(
        "adaptive",
        table.winner,
        table,
        tuple(samples),
        stop,
        detail,
        meter.calls,
        meter.tokens,
        extra={"drawn": len(samples), "statistic": round(statistic, 6), "rule": params.rule},
    )


__all__ = [
    "AdaptiveParams",
    "StopRule",
    "adaptive_consistency",
    "beta_confidence",
    "cannot_change",
    "concentration",
    "rule_says_stop",
]
