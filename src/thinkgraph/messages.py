"""Typed messages exchanged between nodes, and the trace events a run emits — the generic core.

A message is a frozen pydantic model that subclasses :class:`Message` and declares a ``kind`` tag::

    class Summary(Message):
        kind: Literal["summary"] = "summary"
        text: str

Subclassing registers the kind, so a workflow's state (plain JSON, safe to checkpoint) loads back into
the right type with :func:`load_message`.  Nothing here is about logic: the logic task's records
(``Problem``, ``Verdict``, ``Answer``…) live in :mod:`thinkgraph.logic.records` and are re-exported
here for convenience; a workflow about something else defines its own result type the same way.

Trace events are records too, behind one TypeAdapter, so a whole trace round-trips through JSON::

    event = TRACE_EVENT.validate_json(TRACE_EVENT.dump_json(event))
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Record(BaseModel):
    """A frozen record that refuses unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


_Record = Record  # backwards-compatible private name


class MessageError(ValueError):
    """A message could not be loaded (unknown kind, invalid fields)."""


_KINDS: dict[str, type[Message]] = {}


class Message(Record):
    """Base class of every message a node reads or writes.  Subclasses set ``kind`` (a Literal default)."""

    kind: str
    #: what a run ends as when this message is its output; overridden by result types that can abstain
    ending_field: ClassVar[str | None] = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)

    @classmethod
    def __pydantic_init_subclass__(cls, **kw: Any) -> None:
        super().__pydantic_init_subclass__(**kw)
        field = cls.model_fields.get("kind")
        kind = field.default if field is not None else None
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"message type {cls.__name__} must declare kind: Literal['...'] = '...'")
        old = _KINDS.get(kind)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"message kind {kind!r} is already used by {old.__module__}.{old.__qualname__}")
        _KINDS[kind] = cls

    @classmethod
    def kind_name(cls) -> str:
        return str(cls.model_fields["kind"].default)

    def abstained(self) -> bool:
        """Whether this message, as a run's output, is an abstention (result types override)."""
        return False


def message_type(kind: str) -> type[Message]:
    """The registered message class for ``kind``."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise MessageError(f"unknown message kind {kind!r}; known: {', '.join(sorted(_KINDS))}") from None


def message_kinds() -> dict[str, type[Message]]:
    return dict(_KINDS)


def load_message(data: dict[str, Any]) -> Message:
    """Validate a JSON object back into its registered message type (by its ``kind``)."""
    if not isinstance(data, dict) or "kind" not in data:
        raise MessageError("a message must be a JSON object with a 'kind'")
    cls = message_type(str(data["kind"]))
    return cls.model_validate(data)


# ----------------------------------------------------------------------------- chat


class ChatMessage(Record):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0


# ----------------------------------------------------------------------------- trace events


def _now() -> float:
    return time.time()


class _Event(Record):
    run_id: str = ""
    node: str = ""
    at: float = Field(default_factory=_now)


class RunStarted(_Event):
    kind: Literal["run_started"] = "run_started"
    workflow: str
    inputs: dict[str, Any] = Field(default_factory=dict)


class RunFinished(_Event):
    kind: Literal["run_finished"] = "run_finished"
    seconds: float
    ending: str = "answered"
    output: dict[str, Any] = Field(default_factory=dict)


class NodeStarted(_Event):
    kind: Literal["node_started"] = "node_started"


class NodeFinished(_Event):
    kind: Literal["node_finished"] = "node_finished"
    seconds: float
    summary: str = ""


class NodeFailed(_Event):
    """A node raised: it did not finish (no check mark); ``error_type`` names the typed error."""

    kind: Literal["node_failed"] = "node_failed"
    seconds: float
    error: str
    error_type: str = ""


class RouteChosen(_Event):
    """A conditional route was taken: the field read, its value, the next node and why."""

    kind: Literal["route_chosen"] = "route_chosen"
    on: str
    value: str
    target: str
    reason: str = ""


class Interrupted(_Event):
    """A node paused for a person; ``payload`` is what it asks them."""

    kind: Literal["interrupted"] = "interrupted"
    payload: dict[str, Any] = Field(default_factory=dict)


class ModelRequest(_Event):
    kind: Literal["model_request"] = "model_request"
    call_id: str
    model: str
    messages: tuple[ChatMessage, ...]
    params: dict[str, Any] = Field(default_factory=dict)


class ModelResponse(_Event):
    kind: Literal["model_response"] = "model_response"
    call_id: str
    model: str
    texts: tuple[str, ...] = ()
    usage: Usage = Usage()
    seconds: float = 0.0
    error: str = ""


class ToolCall(_Event):
    kind: Literal["tool_call"] = "tool_call"
    tool: str
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


class Note(_Event):
    kind: Literal["note"] = "note"
    text: str


class SearchNode(_Event):
    """One node of a search tree (MCTS, beam, particles, best-first…), as a search creates or updates it.

    A search emits one event when it creates a node and another with the same ``search``/``node_id`` each
    time its statistics change: the latest event for a node is its current state, so a viewer merges by id.
    ``parent`` is empty for the root.  ``verdict`` is what a checker said of the node ("" when unchecked;
    e.g. ``"correct"``, ``"wrong"``, ``"pruned"``, ``"terminal"``, ``"chosen"``).
    """

    kind: Literal["search_node"] = "search_node"
    search: str
    algorithm: str
    node_id: str
    parent: str = ""
    text: str = ""
    score: float | None = None
    visits: int = 0
    value: float | None = None
    verdict: str = ""
    depth: int = 0


TraceEvent = Annotated[
    RunStarted
    | RunFinished
    | NodeStarted
    | NodeFinished
    | NodeFailed
    | RouteChosen
    | Interrupted
    | ModelRequest
    | ModelResponse
    | ToolCall
    | Note
    | SearchNode,
    Field(discriminator="kind"),
]
TRACE_EVENT: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)


# The logic task's records, re-exported for existing imports (``from thinkgraph.messages import Answer``).
from thinkgraph.logic.records import (  # noqa: E402
    MESSAGE,
    Answer,
    AnswerStatus,
    Certificate,
    Countermodel,
    Evidence,
    Formalization,
    Label,
    Predicate,
    Problem,
    SentenceFormula,
    Verdict,
)

__all__ = [
    "MESSAGE",
    "TRACE_EVENT",
    "Answer",
    "AnswerStatus",
    "Certificate",
    "ChatMessage",
    "Countermodel",
    "Evidence",
    "Formalization",
    "Interrupted",
    "Label",
    "Message",
    "MessageError",
    "ModelRequest",
    "ModelResponse",
    "NodeFailed",
    "NodeFinished",
    "NodeStarted",
    "Note",
    "Predicate",
    "Problem",
    "Record",
    "RouteChosen",
    "RunFinished",
    "RunStarted",
    "SearchNode",
    "SentenceFormula",
    "ToolCall",
    "TraceEvent",
    "Usage",
    "Verdict",
    "load_message",
    "message_kinds",
    "message_type",
]
