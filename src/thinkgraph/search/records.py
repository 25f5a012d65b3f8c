"""The answer a search node writes for a free question (a :class:`~thinkgraph.evals.items.Question`): the value,
and the evidence that says why — the vote table or the scores, the best path, why the search stopped and what it
spent.  (For a logic ``Problem`` the nodes write the usual :class:`~thinkgraph.logic.records.Answer`.)"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from thinkgraph.messages import Message, Record

SearchStatus = Literal["voted", "scored", "searched", "abstained"]


class SearchEvidence(Record):
    """``votes``: samples per answer; ``weights``: each answer's weight (its votes, RPC's probability mass, the
    best score of a sample or search path that named it); ``scores``: every sample's score (best-of-N)."""

    method: str
    votes: dict[str, int] = Field(default_factory=dict)
    weights: dict[str, float] = Field(default_factory=dict)
    scores: tuple[float | None, ...] = ()  # None: not scored (the budget ran out)
    samples: int = 0
    failed_samples: int = 0
    pruned: tuple[int, ...] = ()
    path: tuple[str, ...] = ()
    path_score: float | None = None
    search_id: str = ""
    stop_reason: str = "done"
    stop_detail: str = ""
    calls: int = 0
    tokens: int = 0
    reason: str = ""


class SearchAnswer(Message):
    kind: Literal["search_answer"] = "search_answer"
    question_id: str = ""
    value: str | None
    status: SearchStatus
    confidence: float | None = None
    evidence: SearchEvidence

    def abstained(self) -> bool:
        return self.status == "abstained" or self.value is None

    def summary(self) -> str:
        conf = f", confidence {self.confidence:.2f}" if self.confidence is not None else ""
        return f"{self.value if self.value is not None else '—'} [{self.status}, {self.evidence.method}{conf}]"

    def render(self) -> str:
        ev = self.evidence
        lines = [self.summary()]
        if ev.weights:
            ranked = sorted(ev.weights.items(), key=lambda kv: -kv[1])
            lines.append("support: " + ", ".join(f"{a} {w:.3g} ({ev.votes.get(a, 0)} votes)" for a, w in ranked))
        if ev.path:
            lines.append("best path:")
            lines.extend(f"  {i + 1}. {s}" for i, s in enumerate(ev.path))
        if ev.reason:
            lines.append(f"reason: {ev.reason}")
        lines.append(
            f"stopped: {ev.stop_reason}{' (' + ev.stop_detail + ')' if ev.stop_detail else ''}; "
            f"{ev.samples} samples, {ev.calls} calls, {ev.tokens} tokens"
        )
        return "\n".join(lines)


__all__ = ["SearchAnswer", "SearchEvidence", "SearchStatus"]
