"""ThinkSum (Ozturkler et al., 2023, "ThinkSum: Probabilistic reasoning over sets using large language models").

**Think**: many small queries, each a yes/no question about one candidate answer and one fact ("is a whale a
mammal?"), asked in parallel; each yields the model's probability of "yes" (from the first token's
log-probabilities when the backend gives them, else the share of ``votes`` sampled replies).  **Sum**: a
probabilistic combination over each candidate's queries — ``product`` (independent evidence: ``P(c) ∝ Π p``,
a query with ``negate`` counting ``1 - p``; weights as exponents) or ``mean`` (the weighted average
probability) — normalised over the candidates.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from thinkgraph.llm.base import ChatModel
from thinkgraph.messages import ChatMessage
from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import budget_detail
from thinkgraph.search.base import Meter, SearchBudget, StopReason
from thinkgraph.search.scorers import yes_probability

_EPS = 1e-6


@dataclass(frozen=True)
class ThinkQuery:
    """One small yes/no question bearing on ``candidate``; ``negate``: a yes counts against it."""

    candidate: str
    prompt: str
    weight: float = 1.0
    negate: bool = False


@dataclass(frozen=True)
class ThinkSumResult:
    answer: str | None
    probabilities: dict[str, float]
    evidence: tuple[tuple[ThinkQuery, float], ...]  # every query with the model's P(yes)
    stop_reason: StopReason = "done"
    stop_detail: str = ""
    calls: int = 0
    tokens: int = 0


def combine(
    evidence: Sequence[tuple[ThinkQuery, float]], how: Literal["product", "mean"] = "product"
) -> dict[str, float]:
    """The Sum step: a normalised probability per candidate from its queries' P(yes)."""
    scores: dict[str, list[tuple[float, float]]] = {}
    for q, p in evidence:
        p = 1.0 - p if q.negate else p
        scores.setdefault(q.candidate, []).append((q.weight, min(1 - _EPS, max(_EPS, p))))
    if not scores:
        return {}
    if how == "product":
        logs = {c: sum(w * math.log(p) for w, p in ps) for c, ps in scores.items()}
        top = max(logs.values())
        raw = {c: math.exp(v - top) for c, v in logs.items()}
    elif how == "mean":
        raw = {c: sum(w * p for w, p in ps) / max(_EPS, sum(w for w, _ in ps)) for c, ps in scores.items()}
    else:
        raise ValueError(f"unknown combination {how!r}: choose product or mean")
    total = sum(raw.values())
    return {c: v / total for c, v in raw.items()}


async def thinksum(
    model: ChatModel,
    queries: Sequence[ThinkQuery],
    *,
    how: Literal["product", "mean"] = "product",
    system: str = "Answer the question with Yes or No only.",
    votes: int = 3,
    budget: SearchBudget | None = None,
) -> ThinkSumResult:
    """Think (every query in parallel), then Sum (see the module docstring)."""
    meter = Meter(budget)
    stop: StopReason = "done"
    detail = ""

    async def think(q: ThinkQuery) -> float:
        msgs = [ChatMessage(role="system", content=system), ChatMessage(role="user", content=q.prompt)]
        return await yes_probability(model, msgs, votes)

    with meter.active():
        outs = await asyncio.gather(*(think(q) for q in queries), return_exceptions=True)
    evidence: list[tuple[ThinkQuery, float]] = []
    for q, o in zip(queries, outs, strict=True):
        if isinstance(o, BudgetExceeded):
            stop, detail = "budget_exhausted", budget_detail(o)
        elif isinstance(o, BaseException):
            raise o
        else:
            evidence.append((q, o))
    probs = combine(evidence, how)
    answer = max(probs, key=lambda c: probs[c]) if probs else None
    return ThinkSumResult(answer, probs, tuple(evidence), stop, detail, meter.calls, meter.tokens)


__all__ = ["ThinkQuery", "ThinkSumResult", "combine", "thinksum"]
