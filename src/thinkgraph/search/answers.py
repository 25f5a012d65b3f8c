"""From a strategy's result to the answer message a node writes, with the evidence that says why.

A logic :class:`~thinkgraph.logic.records.Problem` gets the usual :class:`~thinkgraph.logic.records.Answer`
(a True / False / Uncertain label, status ``voted``, the votes and a reason naming the weights and the stop); a
:class:`~thinkgraph.evals.items.Question` gets a :class:`~thinkgraph.search.records.SearchAnswer`.  Whole-answer
strategies are recorded as a one-level search tree (the question, then one node per sample with its score), so
every strategy's work shows in the trace as ``SearchNode`` events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thinkgraph.agents.cot import render_cot_prompt
from thinkgraph.evals.items import Question
from thinkgraph.logic.records import Answer, Evidence, Label, Problem
from thinkgraph.messages import ChatMessage
from thinkgraph.search.base import SearchResult
from thinkgraph.search.extract import Extractor, extract_answer_line, extract_choice, extract_label, extractor_named
from thinkgraph.search.reasoning import DONE, ReasoningState, problem_text
from thinkgraph.search.records import SearchAnswer, SearchEvidence, SearchStatus
from thinkgraph.search.sampling import Sample, VoteTable
from thinkgraph.search.tree import Emitter, SearchTree

Item = Problem | Question
LABELS: tuple[Label, ...] = ("True", "False", "Uncertain")

QUESTION_SYSTEM = (
    "Answer the question. Reason step by step, briefly, then end with one line 'Answer: X', where X is only the "
    "final answer{what}."
)


def item_of(problem: Problem | None, question: Question | None) -> Item:
    item = problem if problem is not None else question
    if item is None:
        raise ValueError("a search node needs a problem or a question message; neither was written")
    return item


def messages_for(item: Item) -> list[ChatMessage]:
    """The prompt of a whole-answer strategy: chain of thought for a logic problem, else the question."""
    if isinstance(item, Problem):
        return render_cot_prompt(item)
    what = " (the option letter)" if item.options else ""
    return [
        ChatMessage(role="system", content=QUESTION_SYSTEM.format(what=what)),
        ChatMessage(role="user", content=problem_text(item)),
    ]


def extractor_for(item: Item, name: str) -> Extractor:
    """``auto``: a label for a logic problem, an option letter when the question has options, else the text
    after ``Answer:``; any other name picks that extractor."""
    if name != "auto":
        return extractor_named(name)
    if isinstance(item, Problem):
        return extract_label
    return extract_choice if item.options else extract_answer_line


def _item_id(item: Item) -> str:
    return item.id


def make_answer(
    item: Item,
    value: str | None,
    evidence: SearchEvidence,
    *,
    status: SearchStatus,
    confidence: float | None,
    rationales: Sequence[str] = (),
) -> Answer | SearchAnswer:
    """The answer message for ``item`` (abstained when there is no value)."""
    if isinstance(item, Problem):
        label = next((lab for lab in LABELS if value is not None and lab.lower() == value.lower()), None)
        reason = explain(evidence)
        if label is None:
            return Answer(
                problem_id=item.id,
                value=None,
                status="abstained",
                evidence=Evidence(
                    votes=dict(evidence.votes),
                    samples=evidence.samples,
                    failed_samples=evidence.failed_samples,
                    reason=f"no answer: {reason}",
                    rationales=tuple(rationales),
                ),
            )
        n = evidence.votes.get(label, 0)
        return Answer(
            problem_id=item.id,
            value=label,
            status="voted",
            evidence=Evidence(
                votes=dict(evidence.votes),
                samples=evidence.samples,
                failed_samples=evidence.failed_samples,
                agreement=n / evidence.samples if evidence.samples else (confidence or 0.0),
                reason=reason,
                rationales=tuple(rationales),
            ),
        )
    return SearchAnswer(
        question_id=_item_id(item),
        value=value,
        status=status if value is not None else "abstained",
        confidence=None if confidence is None else round(confidence, 6),
        evidence=evidence,
    )


def explain(ev: SearchEvidence) -> str:
    """One line: the method, the support of each answer, the best path's score, why it stopped, the spend."""
    parts = [ev.method]
    if ev.weights:
        ranked = sorted(ev.weights.items(), key=lambda kv: -kv[1])
        parts.append("support " + ", ".join(f"{a}={w:.3g}" for a, w in ranked))
    if ev.pruned:
        parts.append(f"{len(ev.pruned)} low-probability paths pruned")
    if ev.path_score is not None:
        parts.append(f"best path score {ev.path_score:.3g} over {len(ev.path)} steps")
    if ev.reason:
        parts.append(ev.reason)
    stop = ev.stop_reason + (f" ({ev.stop_detail})" if ev.stop_detail else "")
    parts.append(f"stopped: {stop}; {ev.samples} samples, {ev.calls} calls, {ev.tokens} tokens")
    return "; ".join(parts)


def vote_evidence(method: str, table: VoteTable, **kw: Any) -> SearchEvidence:
    return SearchEvidence(
        method=method,
        votes=dict(table.counts),
        weights={a: round(w, 6) for a, w in table.weights.items()},
        samples=table.samples,
        failed_samples=table.failed,
        **kw,
    )


def record_samples(
    tracer: Emitter | None,
    algorithm: str,
    item: Item,
    samples: Sequence[Sample],
    scores: Sequence[float | None] | None = None,
    chosen: str | None = None,
    pruned: Sequence[int] = (),
) -> str:
    """Record whole-answer samples as a one-level search tree (root: the question; a node per sample, its score,
    ``chosen`` when it names the answer, ``pruned`` when left out); returns the search id."""
    tree: SearchTree[Any, Any] = SearchTree(algorithm)  # filled in first, then emitted once per node
    root = tree.add(None, None, None, problem_text(item)[:400])
    root.visits = len(samples)
    out = set(pruned)
    for i, s in enumerate(samples):
        node = tree.add(root, s.index, s, s.text)
        node.score = scores[i] if scores is not None else None
        if node.score is not None:
            node.visits, node.value_sum = 1, node.score
        node.verdict = "pruned" if s.index in out else ("chosen" if chosen is not None and s.answer == chosen else "")
    if tracer is not None:
        for event in tree.to_events():
            tracer.emit(event)
    return tree.search_id


def _answered(state: Any) -> bool:
    """Whether a reasoning path ends with its final answer ('Answer: X')."""
    return isinstance(state, ReasoningState) and bool(state.steps) and DONE.search(state.steps[-1]) is not None


def search_evidence(
    method: str, res: SearchResult[ReasoningState, Any], extractor: Extractor
) -> tuple[str | None, SearchEvidence]:
    """The answer a step search found (from its best path) and its evidence: every terminal path's answer with
    the best score that reached it."""
    state = res.final_state
    # an answer only from a path that ended by stating one: a number in the middle of unfinished reasoning is
    # not an answer (the search ran out of iterations or budget first), so the node abstains instead
    value = extractor(state.text) if isinstance(state, ReasoningState) and _answered(state) else None
    weights: dict[str, float] = {}
    votes: dict[str, int] = {}
    if res.tree is not None:
        for node in res.tree.nodes:
            if node.terminal and _answered(node.state):
                a = extractor(node.state.text)
                if a is not None:
                    votes[a] = votes.get(a, 0) + 1
                    s = node.value if node.value is not None else node.score
                    if s is not None:
                        weights[a] = round(max(weights.get(a, float("-inf")), s), 6)
    evidence = SearchEvidence(
        method=method,
        votes=votes,
        weights=weights,
        samples=sum(votes.values()),
        path=res.texts,
        path_score=None if res.score is None else round(res.score, 6),
        search_id=res.search_id,
        stop_reason=res.stop_reason,
        stop_detail=res.stop_detail,
        calls=res.calls,
        tokens=res.tokens,
        reason=f"{len(res.tree) if res.tree is not None else 0} nodes, {res.expansions} expansions"
        + ("" if value is not None else "; no path reached a final answer, so none is given"),
    )
    return value, evidence


__all__ = [
    "Item",
    "explain",
    "extractor_for",
    "item_of",
    "make_answer",
    "messages_for",
    "record_samples",
    "search_evidence",
    "vote_evidence",
]
