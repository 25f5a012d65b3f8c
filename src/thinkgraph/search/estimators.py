"""Unbiased estimators for repeated sampling ("Large Language Monkeys: Scaling Inference Compute with Repeated
Sampling", Brown et al., 2024; the estimator is Chen et al., 2021's).

With ``n`` samples of a problem of which ``c`` pass a verifier, pass@k — the chance that at least one of ``k``
samples passes — is estimated without bias by ``1 - C(n-c, k) / C(n, k)``; *coverage* at ``k`` is its mean over
problems (the fraction of problems solved by some sample out of ``k``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: the chance that at least one of k samples drawn without replacement from n
    (c of them correct) is correct: 1 - C(n-c, k) / C(n, k)."""
    if n <= 0 or k <= 0 or k > n:
        raise ValueError(f"pass@k needs 0 < k <= n, got n={n}, k={k}")
    if c < 0 or c > n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if n - c < k:
        return 1.0
    # the product form avoids huge binomials: prod_{i=n-c+1}^{n} (1 - k/i)
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def coverage(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Coverage at ``k``: the mean pass@k over problems given as ``(n, c)`` pairs (each needs ``n >= k``)."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values:
        raise ValueError("coverage needs at least one problem")
    return sum(values) / len(values)


def coverage_curve(counts: Sequence[tuple[int, int]], ks: Iterable[int] | None = None) -> dict[int, float]:
    """Coverage at each ``k`` (default: powers of two up to the smallest ``n``)."""
    if not counts:
        return {}
    smallest = min(n for n, _c in counts)
    if ks is None:
        ks = [2**i for i in range(smallest.bit_length()) if 2**i <= smallest]
    return {k: coverage(counts, k) for k in ks if 0 < k <= smallest}


__all__ = ["coverage", "coverage_curve", "pass_at_k"]
