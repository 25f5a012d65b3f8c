"""The model extension point: one small async-first protocol.

A backend implements :class:`ChatModel`: ``await model.chat(request)`` returns ``request.n`` samples.
Lifecycle: construct (cheap; heavy backends load lazily on the first call), call ``chat`` from any
number of tasks, then ``close()``.  Backends raise only the typed errors below; anything retryable
is a :class:`RetryableModelError` (retried by :class:`thinkgraph.llm.managed.ManagedModel`), anything
else is final.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.messages import ChatMessage, Usage


class ChatRequest(BaseModel):
    """What a node asks of a model.  ``response_format`` is an OpenAI-style JSON schema dict;
    ``grammar`` is a GBNF grammar (honoured by llama.cpp backends, ignored with a note elsewhere)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[ChatMessage, ...]
    n: int = Field(default=1, ge=1, le=128)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    grammar: str | None = None
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=20)

    @classmethod
    def of(cls, messages: Sequence[ChatMessage | tuple[str, str] | dict[str, str]], **kw: Any) -> ChatRequest:
        msgs = []
        for m in messages:
            if isinstance(m, ChatMessage):
                msgs.append(m)
            elif isinstance(m, tuple):
                msgs.append(ChatMessage(role=m[0], content=m[1]))  # type: ignore[arg-type]
            else:
                msgs.append(ChatMessage.model_validate(m))
        return cls(messages=tuple(msgs), **kw)

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"messages"}, exclude_defaults=True)


class TokenLogprob(BaseModel):
    model_config = ConfigDict(frozen=True)
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)


class Completion(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    finish_reason: str = "stop"
    logprobs: tuple[TokenLogprob, ...] | None = None


class ChatResponse(BaseModel):
    model_config = ConfigDict(frozen=True)
    model: str
    choices: tuple[Completion, ...]
    usage: Usage = Usage()
    seconds: float = 0.0
    cost: float | None = None

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.choices]


def logprobs_from_openai(raw: dict[str, Any] | None) -> tuple[TokenLogprob, ...] | None:
    """OpenAI-format ``choice.logprobs`` (a dict) → token logprobs."""
    if not raw or not raw.get("content"):
        return None
    return tuple(
        TokenLogprob(
            token=t.get("token", ""),
            logprob=float(t.get("logprob", 0.0)),
            top={x.get("token", ""): float(x.get("logprob", 0.0)) for x in t.get("top_logprobs", []) or []},
        )
        for t in raw["content"]
    )


# ----------------------------------------------------------------------------- errors


class ModelError(Exception):
    """Base of every error a backend raises."""


class RetryableModelError(ModelError):
    """Transient: rate limit, timeout, connection reset, 5xx.  ``retry_after`` (seconds) if the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitError(RetryableModelError):
    pass


class ModelTimeoutError(RetryableModelError):
    pass


class ServerError(RetryableModelError):
    pass


class ModelRequestError(ModelError):
    """The request itself is wrong (4xx, unsupported parameter, context overflow): retrying cannot help."""


class ModelUnavailable(ModelError):
    """The backend cannot start: a missing extra, a missing file, a blocked network call.  Says how to fix."""


# ----------------------------------------------------------------------------- protocol


@runtime_checkable
class ChatModel(Protocol):
    name: str

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    async def aclose(self) -> None: ...


def chat_sync(model: ChatModel, request: ChatRequest) -> ChatResponse:
    """Synchronous convenience for scripts and notebooks without a running event loop."""
    return asyncio.run(model.chat(request))
