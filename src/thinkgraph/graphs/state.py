"""A workflow run's LangGraph state (plain JSON messages, appended by a reducer) and its typed result."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from thinkgraph.messages import Message, load_message

Ending = Literal["answered", "abstained", "budget_exhausted", "step_limit", "interrupted", "failed"]
INPUT = "(input)"


def _merge_messages(a: dict[str, list[Any]] | None, b: dict[str, list[Any]] | None) -> dict[str, list[Any]]:
    """Messages accumulate per kind; parallel branches append, nothing is overwritten."""
    out = dict(a or {})
    for kind, entries in (b or {}).items():
        out[kind] = [*out.get(kind, []), *entries]
    return out


def _merge_dict(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    return {**(a or {}), **(b or {})}


class State(TypedDict, total=False):
    """The full state schema; a compiled workflow uses only the channels it needs (see ``_state_schema``)."""

    messages: Annotated[dict[str, list[Any]], _merge_messages]  # kind -> [{"node", "at", "data"}]
    routes: Annotated[dict[str, str], _merge_dict]  # routed node -> the next node it chose
    steps: Annotated[int, operator.add]  # node runs so far (only with max_steps)


class _MessagesState(TypedDict, total=False):
    messages: Annotated[dict[str, list[Any]], _merge_messages]


class _RoutedState(TypedDict, total=False):
    messages: Annotated[dict[str, list[Any]], _merge_messages]
    routes: Annotated[dict[str, str], _merge_dict]


def _state_schema(routed: bool, counted: bool) -> Any:
    """Fewer channels make every LangGraph super-step cheaper: add routes/steps only when used."""
    if counted:
        return State
    return _RoutedState if routed else _MessagesState


@dataclass
class RunResult:
    """How a run ended, its output message, and every message finished nodes wrote (in order)."""

    run_id: str
    workflow: str
    ending: Ending
    output: Message | None
    messages: list[tuple[str, Message]] = field(default_factory=list)
    error: str = ""
    interrupt: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    thread: str | None = None
    from_checkpoint: bool = False  # a finished thread: the stored answer, nothing ran

    def latest(self, cls: type[Message]) -> Message | None:
        """The last message of type ``cls`` written in this run (or the input)."""
        for _node, m in reversed(self.messages):
            if isinstance(m, cls):
                return m
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "ending": self.ending,
            "output": self.output.model_dump(mode="json") if self.output is not None else None,
            "error": self.error,
            "interrupt": self.interrupt,
            "usage": self.usage,
            "seconds": round(self.seconds, 4),
            "thread": self.thread,
            "from_checkpoint": self.from_checkpoint,
            "messages": [{"node": n, "message": m.model_dump(mode="json")} for n, m in self.messages],
        }


def _state_messages(state: Mapping[str, Any]) -> list[tuple[str, Message]]:
    """Every message in a stored state, input first, then in the order nodes wrote them."""
    entries: list[tuple[int, int, str, dict[str, Any]]] = []
    for entries_of_kind in state.get("messages", {}).values():
        for e in entries_of_kind:
            entries.append((int(e.get("at", 0)), len(entries), e["node"], e["data"]))
    entries.sort(key=lambda x: (x[0], x[1]))  # in the order they were written (the input first)
    return [(node_name, load_message(data)) for _s, _o, node_name, data in entries]


__all__ = ["INPUT", "Ending", "RunResult", "State"]
