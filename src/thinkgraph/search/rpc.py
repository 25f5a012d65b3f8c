"""RPC — Reasoning-pruning Perplexity Consistency (Zhou et al., 2025, "A Theoretical Study on Bridging Internal
Probability and Self-Consistency for LLM Reasoning", NeurIPS 2025).

* **Perplexity consistency**: an answer's confidence is the summed model probability of the *distinct* reasoning
  paths that reach it (identical sampled paths count once), where a path's probability is its length-normalised
  probability ``exp(mean token log-probability)`` (as in the authors' code) — self-consistency's vote weighted by
  the model's own probabilities, which converges faster than counting.
* **Reasoning pruning**: the paths' probabilities are fitted with a mixture of two Weibull distributions (a
  high- and a low-probability mode; mixing weight kept in [0.2, 0.8]) and a path is pruned when it is more
  likely to belong to the low mode *and* below the mean probability.

RPC needs token log-probabilities: when the backend cannot return them :class:`LogprobsUnavailable` (an
:class:`~thinkgraph.llm.base.UnsupportedRequest`) says so before anything is sent, or as soon as a reply comes
back without them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from thinkgraph.llm.base import ChatModel, UnsupportedRequest, capabilities_of
from thinkgraph.messages import ChatMessage
from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search._common import budget_detail
from thinkgraph.search.base import Meter, SearchBudget, StopReason
from thinkgraph.search.extract import Extractor
from thinkgraph.search.sampling import Sample, VoteResult, VoteTable, draw

_TINY = 1e-300


class LogprobsUnavailable(UnsupportedRequest):
    """The backend gives no token log-probabilities, which RPC (and log-probability scoring) needs."""

    def __init__(self, backend: str, detail: str = "") -> None:
        hint = (
            "RPC weighs answers by the model's token log-probabilities: use a backend that returns them (local, "
            "openai:MODEL@URL of a vLLM / llama.cpp server), or use search.self_consistency instead"
        )
        super().__init__("logprobs", backend, f"{detail}; {hint}" if detail else hint)


# ----------------------------------------------------------------------------- a two-Weibull mixture


@dataclass(frozen=True)
class WeibullMixture:
    """``w·Weibull(k1, lam1) + (1-w)·Weibull(k2, lam2)``; component 1 is the high-probability mode."""

    w: float
    k1: float
    lam1: float
    k2: float
    lam2: float

    @staticmethod
    def pdf(x: float, k: float, lam: float) -> float:
        x = max(x, _TINY)
        z = x / lam
        try:
            return (k / lam) * z ** (k - 1) * math.exp(-(z**k))
        except OverflowError:
            return 0.0

    def high_posterior(self, x: float) -> float:
        """P(high mode | x)."""
        a = self.w * self.pdf(x, self.k1, self.lam1)
        b = (1 - self.w) * self.pdf(x, self.k2, self.lam2)
        return a / (a + b) if a + b > 0 else (1.0 if x >= self.lam2 else 0.0)


def weibull_mean(k: float, lam: float) -> float:
    return lam * math.gamma(1 + 1 / k)


def _weighted_weibull(xs: Sequence[float], ws: Sequence[float]) -> tuple[float, float]:
    """Weighted maximum-likelihood Weibull (shape, scale): the shape solves the score equation by bisection."""
    total = sum(ws)
    logs = [math.log(max(x, _TINY)) for x in xs]
    mean_log = sum(w * lx for w, lx in zip(ws, logs, strict=True)) / total
    shift = max(logs)  # x^k computed as exp(k·(log x - shift)) to stay finite

    def g(k: float) -> float:
        num = den = 0.0
        for w, lx in zip(ws, logs, strict=True):
            t = w * math.exp(k * (lx - shift))
            num += t * lx
            den += t
        return num / den - 1 / k - mean_log

    lo, hi = 0.05, 500.0
    if g(hi) < 0:
        k = hi
    else:
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if g(mid) < 0 else (lo, mid)
        k = math.sqrt(lo * hi)
    s = sum(w * math.exp(k * (lx - shift)) for w, lx in zip(ws, logs, strict=True)) / total
    lam = math.exp(shift + math.log(max(s, _TINY)) / k)
    return k, max(lam, 1e-12)


def fit_weibull_mixture(xs: Sequence[float], iterations: int = 50) -> WeibullMixture | None:
    """Fit two Weibull modes to probabilities in (0, 1] by EM (None with fewer than 4 distinct values)."""
    if len(set(xs)) < 4:
        return None
    ordered = sorted(xs)
    half = len(ordered) // 2
    k2, lam2 = _weighted_weibull(ordered[:half], [1.0] * half)
    k1, lam1 = _weighted_weibull(ordered[half:], [1.0] * (len(ordered) - half))
    mix = WeibullMixture(0.5, k1, lam1, k2, lam2)
    for _ in range(iterations):
        r = [mix.high_posterior(x) for x in xs]
        w = min(0.8, max(0.2, sum(r) / len(r)))
        r_hi = [max(v, 1e-9) for v in r]
        r_lo = [max(1 - v, 1e-9) for v in r]
        k1, lam1 = _weighted_weibull(xs, r_hi)
        k2, lam2 = _weighted_weibull(xs, r_lo)
        mix = WeibullMixture(w, k1, lam1, k2, lam2)
    if weibull_mean(mix.k1, mix.lam1) < weibull_mean(mix.k2, mix.lam2):
        mix = WeibullMixture(1 - mix.w, mix.k2, mix.lam2, mix.k1, mix.lam1)
    return mix


# ----------------------------------------------------------------------------- perplexity consistency


def path_probability(sample: Sample) -> float:
    """``exp(mean token log-probability)``; :class:`LogprobsUnavailable` when the sample has none."""
    m = sample.mean_logprob
    if m is None:
        raise LogprobsUnavailable("(sample)", f"sample {sample.index} came back without token log-probabilities")
    return math.exp(m)


def prune_low_probability(probabilities: Sequence[float]) -> tuple[set[int], WeibullMixture | None]:
    """Indices RPC prunes: more likely in the low Weibull mode and below the mean probability."""
    mix = fit_weibull_mixture(probabilities)
    if mix is None:
        return set(), None
    mean = sum(probabilities) / len(probabilities)
    pruned = {i for i, p in enumerate(probabilities) if mix.high_posterior(p) < 0.5 and p < mean}
    return pruned, mix


def rpc_vote(samples: Sequence[Sample], *, prune: bool = True) -> tuple[VoteTable, tuple[int, ...], list[float]]:
    """RPC's table: each answer's weight is the summed probability of its distinct unpruned paths, normalised to
    sum to 1.  Returns the table, the pruned sample indices and every sample's path probability."""
    probs = [path_probability(s) for s in samples]
    pruned: set[int] = set()
    if prune:
        pruned, _mix = prune_low_probability(probs)
    counts: dict[str, int] = {}
    seen: dict[str, dict[str, float]] = {}
    failed = 0
    for i, s in enumerate(samples):
        if s.answer is None:
            failed += 1
            continue
        counts[s.answer] = counts.get(s.answer, 0) + 1
        paths = seen.setdefault(s.answer, {})
        if i not in pruned:
            paths.setdefault(s.text, probs[i])  # an identical path counts once
    mass = {a: sum(p.values()) for a, p in seen.items()}
    total = sum(mass.values())
    weights = {a: (m / total if total > 0 else 0.0) for a, m in mass.items()}
    table = VoteTable(counts=counts, weights=weights, samples=len(samples), failed=failed)
    return table, tuple(samples[i].index for i in sorted(pruned)), probs


def require_logprobs(model: ChatModel) -> None:
    """Raise :class:`LogprobsUnavailable` when ``model`` declares it cannot return log-probabilities."""
    if "logprobs" not in capabilities_of(model):
        raise LogprobsUnavailable(model.name)


async def rpc(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    extractor: Extractor,
    *,
    n: int = 8,
    temperature: float = 0.7,
    max_tokens: int = 512,
    prune: bool = True,
    seed: int | None = None,
    budget: SearchBudget | None = None,
) -> VoteResult:
    """RPC over ``n`` samples drawn in one request with log-probabilities (see the module docstring)."""
    require_logprobs(model)
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
                logprobs=True,
                seed=seed,
            )
        except UnsupportedRequest as exc:
            if exc.option == "logprobs":
                raise LogprobsUnavailable(model.name, str(exc)) from exc
            raise
        except BudgetExceeded as exc:
            stop, detail = "budget_exhausted", budget_detail(exc)
    if any(s.logprob is None for s in samples):
        raise LogprobsUnavailable(model.name, "the backend returned samples without token log-probabilities")
    table, pruned, probs = rpc_vote(samples, prune=prune)
    return VoteResult(
        "rpc",
        table.winner,
        table,
        tuple(samples),
        stop,
        detail,
        meter.calls,
        meter.tokens,
        pruned=pruned,
        extra={"probabilities": [round(p, 6) for p in probs]},
    )


__all__ = [
    "LogprobsUnavailable",
    "WeibullMixture",
    "fit_weibull_mixture",
    "path_probability",
    "prune_low_probability",
    "require_logprobs",
    "rpc",
    "rpc_vote",
]
