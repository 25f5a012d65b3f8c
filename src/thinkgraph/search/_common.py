"""Helpers the search algorithms share: merging proposals, path values, building a result."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from thinkgraph.runtime import BudgetExceeded
from thinkgraph.search.base import Meter, PathStep, Proposal, SearchResult, StopReason
from thinkgraph.search.tree import SearchTree, TreeNode

S = TypeVar("S")
A = TypeVar("A")

Aggregate = Literal["last", "mean", "min", "product"]


def root_text(problem: Any) -> str:
    """How the root of a search shows its problem: a string as it is, else its ``text`` or ``conclusion``."""
    if isinstance(problem, str):
        return problem
    for name in ("text", "conclusion"):
        value = getattr(problem, name, None)
        if isinstance(value, str):
            return value
    return ""


def merge_proposals(proposals: Sequence[Proposal[A]]) -> list[Proposal[A]]:
    """Duplicates (same :attr:`Proposal.key`) become one proposal whose prior is their summed prior; the
    priors are then normalised to sum to 1 (uniform when they sum to 0).  First-seen order is kept."""
    merged: dict[str, Proposal[A]] = {}
    for p in proposals:
        key = p.key
        old = merged.get(key)
        merged[key] = p if old is None else Proposal(old.action, old.prior + p.prior, old.text, old.logprob)
    out = list(merged.values())
    total = sum(max(0.0, p.prior) for p in out)
    if total <= 0:
        return [Proposal(p.action, 1.0 / len(out), p.text, p.logprob) for p in out]
    return [Proposal(p.action, max(0.0, p.prior) / total, p.text, p.logprob) for p in out]


def aggregate(values: Sequence[float], how: Aggregate) -> float:
    """A path's value from its steps' scores."""
    if not values:
        return 0.0
    if how == "last":
        return values[-1]
    if how == "mean":
        return sum(values) / len(values)
    if how == "min":
        return min(values)
    if how == "product":
        return math.prod(values)
    raise ValueError(f"unknown aggregate {how!r}: choose last, mean, min or product")


def path_scores(node: TreeNode[Any, Any]) -> list[float]:
    """The evaluator's scores along the path to ``node`` (the root excluded)."""
    return [n.score for n in node.path()[1:] if n.score is not None]


def path_of(node: TreeNode[S, A] | None) -> tuple[PathStep[S, A], ...]:
    if node is None:
        return ()
    return tuple(PathStep(n.action, n.state, n.text, n.score, n.id) for n in node.path())


def result(
    tree: SearchTree[S, A],
    meter: Meter,
    best: TreeNode[S, A] | None,
    score: float | None,
    stop: StopReason,
    detail: str = "",
) -> SearchResult[S, A]:
    if best is not None and best.verdict == "":
        best.verdict = "chosen"
        tree.updated(best)
    return SearchResult(
        algorithm=tree.algorithm,
        search_id=tree.search_id,
        path=path_of(best),
        score=score,
        stop_reason=stop,
        stop_detail=detail,
        expansions=meter.expansions,
        calls=meter.calls,
        tokens=meter.tokens,
        seconds=meter.seconds,
        tree=tree,
    )


def budget_detail(exc: BudgetExceeded) -> str:
    return f"{exc.what} limit {exc.limit:g}"


__all__ = [
    "Aggregate",
    "aggregate",
    "budget_detail",
    "merge_proposals",
    "path_of",
    "path_scores",
    "result",
    "root_text",
]
