"""Verifier-aware abstention: answer or abstain, and how many samples are worth drawing, when the verifier is
imperfect ("Inference Scaling fLaws: The Limits of LLM Resampling with Imperfect Verifiers", Stroebl, Kapoor
and Narayanan, 2024).

A sample is correct with probability ``p`` (the model's single-sample accuracy).  The verifier accepts a correct
sample with probability ``tpr`` and a wrong one with probability ``fpr`` (its false-positive rate).  Resampling
until the verifier accepts returns an accepted sample with probability ``q = p·tpr + (1-p)·fpr`` per draw, and
an accepted sample is correct with probability

    precision = p·tpr / q

*whatever the number of samples* — the paper's point: more samples raise coverage, never precision.  With a
reward ``R`` for a correct answer, a cost ``C`` for a wrong one, ``c`` per sample and 0 for abstaining, an
accepted sample is worth ``m = precision·R - (1 - precision)·C``, and drawing up to ``k`` samples is worth

* sequentially (stop at the first accepted sample): ``EU(k) = (1 - (1-q)^k) · (m - c/q)`` — worth it iff
  ``m > c/q``, and then up to ``max_samples``;
* in one batch of ``k``: ``EU(k) = (1 - (1-q)^k) · m - c·k``, best at
  ``k* = ⌈ln(c / (q·m)) / ln(1-q)⌉`` (each extra sample adds ``(1-q)^k·q·m``).

If the best ``EU`` is not positive the decision is to abstain at once (no samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AbstentionDecision:
    """``answer``: sample up to ``samples`` and answer with an accepted one (abstain if none is accepted);
    False: abstain now.  ``coverage`` is the chance some sample is accepted."""

    answer: bool
    samples: int
    precision: float
    pass_rate: float
    value_of_accepted: float
    coverage: float
    expected_utility: float
    reason: str


def _check_probability(name: str, x: float) -> None:
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], not {x!r}")


def expected_utility(k: int, q: float, m: float, cost_sample: float, sequential: bool) -> float:
    """``EU(k)`` of drawing up to ``k`` samples (see the module docstring)."""
    if k <= 0:
        return 0.0
    hit = 1.0 - (1.0 - q) ** k
    if sequential:
        return hit * (m - cost_sample / q) if q > 0 else -cost_sample * k
    return hit * m - cost_sample * k


def abstention_decision(
    *,
    accuracy: float,
    false_positive_rate: float,
    true_positive_rate: float = 1.0,
    reward: float = 1.0,
    cost_wrong: float = 1.0,
    cost_sample: float = 0.0,
    max_samples: int = 100,
    sequential: bool = True,
) -> AbstentionDecision:
    """Answer or abstain, and how many samples to draw (closed form; see the module docstring)."""
    for name, x in (
        ("accuracy", accuracy),
        ("false_positive_rate", false_positive_rate),
        ("true_positive_rate", true_positive_rate),
    ):
        _check_probability(name, x)
    if cost_wrong < 0 or cost_sample < 0 or max_samples < 1:
        raise ValueError("cost_wrong and cost_sample must be >= 0 and max_samples >= 1")
    q = accuracy * true_positive_rate + (1 - accuracy) * false_positive_rate
    if q <= 0:
        return AbstentionDecision(False, 0, 0.0, 0.0, 0.0, 0.0, 0.0, "the verifier never accepts a sample")
    precision = accuracy * true_positive_rate / q
    m = precision * reward - (1 - precision) * cost_wrong
    if sequential:
        k = max_samples if m - cost_sample / q > 0 else 0
    elif cost_sample == 0:
        k = max_samples if m > 0 else 0
    elif q >= 1:
        k = 1 if m > cost_sample else 0
    elif q * m > cost_sample:
        k = min(max_samples, math.ceil(math.log(cost_sample / (q * m)) / math.log(1 - q)))
    else:
        k = 0
    eu = expected_utility(k, q, m, cost_sample, sequential)
    coverage = 1.0 - (1.0 - q) ** k if k else 0.0
    if k == 0 or eu <= 0:
        why = (
            f"an accepted answer is right with probability {precision:.3f}, worth {m:.3g} against a wrong answer's "
            f"cost {cost_wrong:g}"
            if m <= 0
            else f"a sample costs {cost_sample:g}, more than the {q * m:.3g} an accepted one is expected to earn"
        )
        return AbstentionDecision(False, 0, precision, q, m, 0.0, 0.0, "abstain: " + why)
    why = (
        f"answer with the first accepted of up to {k} samples: precision {precision:.3f} "
        f"(no number of samples raises it), coverage {coverage:.3f}, expected utility {eu:.3g}"
    )
    return AbstentionDecision(True, k, precision, q, m, coverage, eu, why)


def decide(decision: AbstentionDecision, passed: Sequence[bool], answers: Sequence[str | None]) -> str | None:
    """Apply a decision to verified samples (e.g. a :class:`~thinkgraph.search.sampling.RepeatedResult`'s
    ``passed`` and its samples' answers): the first accepted answer within ``decision.samples``, or None
    (abstain) when the decision is to abstain or no sample was accepted."""
    if not decision.answer:
        return None
    for ok, answer in list(zip(passed, answers, strict=True))[: decision.samples]:
        if ok and answer is not None:
            return answer
    return None


__all__ = ["AbstentionDecision", "abstention_decision", "decide", "expected_utility"]
