"""The search tree every algorithm builds, its trace events and step-level preference pairs.

A :class:`SearchTree` is local to one search call.  With a tracer it emits a
:class:`~thinkgraph.messages.SearchNode` event when it creates a node and another with the same
``search``/``node_id`` each time the node's statistics change (``emit_updates``), so a viewer merges them by
id (:func:`merge_search_nodes`): the latest event of a node is its current state.

:func:`preference_pairs` turns a finished tree (or the merged events of a trace) into step-level DPO pairs:
under each parent, the best-scored child is *chosen* against each worse sibling; :func:`write_preference_jsonl`
writes them one JSON object a line (``prompt``, ``chosen``, ``rejected`` and the scores).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from thinkgraph.messages import SearchNode
from thinkgraph.runtime import new_id

S = TypeVar("S")
A = TypeVar("A")


class Emitter(Protocol):
    """Anything with ``emit(event)`` (a :class:`~thinkgraph.runtime.Tracer`)."""

    def emit(self, event: Any) -> Any: ...


class TreeNode(Generic[S, A]):
    """One node: the action that led here, the state, statistics (visits, summed value), the evaluator's
    score and verdict.  Mutable while its search runs, and only by that search."""

    __slots__ = (
        "action",
        "children",
        "depth",
        "expanded",
        "id",
        "parent",
        "prior",
        "score",
        "state",
        "terminal",
        "text",
        "value_sum",
        "verdict",
        "visits",
    )

    def __init__(
        self, id: int, parent: TreeNode[S, A] | None, action: A | None, state: S, text: str, prior: float
    ) -> None:
        self.id = id
        self.parent = parent
        self.action = action
        self.state = state
        self.text = text
        self.prior = prior
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.children: list[TreeNode[S, A]] = []
        self.visits = 0
        self.value_sum = 0.0
        self.score: float | None = None
        self.verdict = ""
        self.terminal = False
        self.expanded = False

    @property
    def value(self) -> float | None:
        """Mean backed-up value (None before the first visit)."""
        return self.value_sum / self.visits if self.visits else None

    def path(self) -> list[TreeNode[S, A]]:
        """Root first, this node last."""
        out: list[TreeNode[S, A]] = []
        node: TreeNode[S, A] | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        out.reverse()
        return out

    def __repr__(self) -> str:
        return f"TreeNode({self.id}, depth={self.depth}, visits={self.visits}, value={self.value}, text={self.text!r})"


class SearchTree(Generic[S, A]):
    """The nodes of one search, and its event stream (when given a tracer)."""

    def __init__(
        self, algorithm: str, tracer: Emitter | None = None, *, search_id: str | None = None, emit_updates: bool = True
    ) -> None:
        self.algorithm = algorithm
        self.search_id = search_id or new_id(10)
        self.tracer = tracer
        self.emit_updates = emit_updates
        self.nodes: list[TreeNode[S, A]] = []

    def add(
        self, parent: TreeNode[S, A] | None, action: A | None, state: S, text: str = "", prior: float = 1.0
    ) -> TreeNode[S, A]:
        node: TreeNode[S, A] = TreeNode(len(self.nodes), parent, action, state, text, prior)
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node)
        if self.tracer is not None:
            self.tracer.emit(self.event(node))
        return node

    @property
    def root(self) -> TreeNode[S, A]:
        return self.nodes[0]

    def updated(self, node: TreeNode[S, A]) -> None:
        """Say that ``node``'s statistics changed (an event when tracing updates)."""
        if self.tracer is not None and self.emit_updates:
            self.tracer.emit(self.event(node))

    def event(self, node: TreeNode[S, A]) -> SearchNode:
        return SearchNode(
            search=self.search_id,
            algorithm=self.algorithm,
            node_id=str(node.id),
            parent="" if node.parent is None else str(node.parent.id),
            text=node.text,
            score=node.score,
            visits=node.visits,
            value=node.value,
            verdict=node.verdict,
            depth=node.depth,
        )

    def to_events(self) -> list[SearchNode]:
        """Every node in its current state, in creation order."""
        return [self.event(n) for n in self.nodes]

    def __len__(self) -> int:
        return len(self.nodes)


def merge_search_nodes(events: Iterable[Any]) -> dict[tuple[str, str], SearchNode]:
    """The current state of every search node in a trace: the latest event per ``(search, node_id)``.
    Other trace events are skipped."""
    out: dict[tuple[str, str], SearchNode] = {}
    for e in events:
        if isinstance(e, SearchNode):
            out[(e.search, e.node_id)] = e
    return out


# ----------------------------------------------------------------------------- preference pairs


@dataclass(frozen=True)
class PreferencePair:
    """Two sibling steps under the same partial solution: ``chosen`` scored above ``rejected``."""

    search: str
    algorithm: str
    parent: str
    depth: int
    prompt: tuple[str, ...]  # the texts from the root to the parent (the root's text first when it has one)
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["prompt"] = list(self.prompt)
        row["margin"] = round(self.chosen_score - self.rejected_score, 6)
        return row


def _node_score(node: SearchNode, by: str) -> float | None:
    if by == "value":
        return node.value if node.value is not None else node.score
    return node.score if node.score is not None else node.value


def preference_pairs(
    nodes: Iterable[SearchNode] | Any, *, by: str = "value", min_margin: float = 0.0
) -> list[PreferencePair]:
    """Step-level preference pairs from search nodes (a list of :class:`SearchNode`, a trace's events, or a
    :class:`~thinkgraph.search.base.SearchResult`).

    Under each parent with two or more scored children, the best child (by ``by``: ``"value"``, the mean
    backed-up value, else ``"score"``, the evaluator's; each falls back to the other) is paired against each
    sibling scored more than ``min_margin`` below it.  Siblings with the same text are one step."""
    if hasattr(nodes, "nodes") and callable(nodes.nodes):
        nodes = nodes.nodes()
    if by not in ("value", "score"):
        raise ValueError(f"by must be 'value' or 'score', not {by!r}")
    merged = merge_search_nodes(nodes)
    children: dict[tuple[str, str], list[SearchNode]] = {}
    for n in merged.values():
        if n.parent:
            children.setdefault((n.search, n.parent), []).append(n)
    pairs: list[PreferencePair] = []
    for (search, parent_id), kids in children.items():
        best_by_text: dict[str, tuple[float, SearchNode]] = {}
        for k in kids:
            s = _node_score(k, by)
            if s is not None and (k.text not in best_by_text or s > best_by_text[k.text][0]):
                best_by_text[k.text] = (s, k)
        scored = sorted(best_by_text.values(), key=lambda t: (-t[0], _order(t[1].node_id)))
        if len(scored) < 2:
            continue
        top_score, top = scored[0]
        prompt = _prompt(merged, search, parent_id)
        for s, other in scored[1:]:
            if top_score - s > min_margin:
                pairs.append(
                    PreferencePair(
                        search=search,
                        algorithm=top.algorithm,
                        parent=parent_id,
                        depth=top.depth,
                        prompt=prompt,
                        chosen=top.text,
                        rejected=other.text,
                        chosen_score=top_score,
                        rejected_score=s,
                    )
                )
    return pairs


def _order(node_id: str) -> int:
    return int(node_id) if node_id.isdigit() else 0


def _prompt(merged: dict[tuple[str, str], SearchNode], search: str, node_id: str) -> tuple[str, ...]:
    texts: list[str] = []
    seen = 0
    key: tuple[str, str] | None = (search, node_id)
    while key is not None and key in merged and seen < 10_000:
        n = merged[key]
        if n.text:
            texts.append(n.text)
        key = (search, n.parent) if n.parent else None
        seen += 1
    texts.reverse()
    return tuple(texts)


def write_preference_jsonl(pairs: Sequence[PreferencePair], path: str | Path) -> int:
    """Write ``pairs`` as JSON Lines; returns how many were written."""
    with open(path, "w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
    return len(pairs)


__all__ = [
    "Emitter",
    "PreferencePair",
    "SearchTree",
    "TreeNode",
    "merge_search_nodes",
    "preference_pairs",
    "write_preference_jsonl",
]
