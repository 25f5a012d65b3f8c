"""Honest tuning: a held-out split the tuning loop never reads, and a reusable holdout for repeated queries.

* :func:`split` assigns every item to ``tune`` or ``holdout`` by a hash of its id — stable across runs,
  machines and orderings, so a prompt tweaked on ``tune`` is never scored on what it was tuned on.
* :class:`Thresholdout` (Dwork et al., 2015, "The reusable holdout") answers repeated accuracy queries:
  while a candidate's holdout score agrees with its tuning score (within a noisy threshold) it returns the
  tuning score and spends nothing; when they disagree it returns a noised holdout score and spends one unit
  of a fixed budget.  Overfitting to the holdout through many queries is then bounded.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from typing import Literal, TypeVar

T = TypeVar("T")
Split = Literal["tune", "holdout", "all"]


def in_holdout(item_id: str, fraction: float = 0.3, salt: str = "thinkgraph") -> bool:
    """Whether ``item_id`` belongs to the holdout (a stable hash of the id, not of its position)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"holdout fraction must be in [0, 1], got {fraction}")
    digest = hashlib.sha256(f"{salt}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split(items: Iterable[T], part: Split, fraction: float = 0.3, *, key: str = "id") -> list[T]:
    """The items of one part: ``tune`` (not in the holdout), ``holdout``, or ``all``."""
    if part == "all":
        return list(items)
    want = part == "holdout"
    return [it for it in items if in_holdout(str(getattr(it, key)), fraction) == want]


class HoldoutExhausted(RuntimeError):
    """The reusable holdout's budget is spent: further answers would leak it."""


class Thresholdout:
    """The reusable holdout.  ``query(tune_score, holdout_score)`` returns the score to use for a candidate."""

    def __init__(self, threshold: float = 0.04, sigma: float = 0.01, budget: int = 20, seed: int = 0) -> None:
        if threshold <= 0 or sigma < 0 or budget < 1:
            raise ValueError("Thresholdout needs threshold > 0, sigma >= 0 and budget >= 1")
        self.threshold = threshold
        self.sigma = sigma
        self.budget = budget
        self._rng = random.Random(seed)
        self._noisy_threshold = threshold + self._laplace(2 * sigma)
        self.queries = 0

    def _laplace(self, scale: float) -> float:
        if scale == 0:
            return 0.0
        u = self._rng.random() - 0.5
        return -scale * (1 if u >= 0 else -1) * __import__("math").log(1 - 2 * abs(u))

    def query(self, tune_score: float, holdout_score: float) -> float:
        """The score to report for a candidate measured on both splits."""
        if self.budget <= 0:
            raise HoldoutExhausted("the reusable holdout's budget is spent; draw a fresh holdout")
        self.queries += 1
        if abs(tune_score - holdout_score) > self._noisy_threshold + self._laplace(4 * self.sigma):
            self.budget -= 1
            self._noisy_threshold = self.threshold + self._laplace(2 * self.sigma)
            return holdout_score + self._laplace(self.sigma)
        return tune_score

    def query_rows(self, tune: Sequence[bool], holdout: Sequence[bool]) -> float:
        """:meth:`query` on per-problem correctness lists (accuracy on each split)."""
        if not tune or not holdout:
            raise ValueError("both splits need at least one scored problem")
        return self.query(sum(tune) / len(tune), sum(holdout) / len(holdout))


__all__ = ["HoldoutExhausted", "Split", "Thresholdout", "in_holdout", "split"]
