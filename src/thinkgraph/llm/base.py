"""The model extension point: one small async-first protocol.

A backend implements :class:`ChatModel`: ``await model.chat(request)`` returns ``request.n`` samples.
Lifecycle: construct (cheap; heavy backends load lazily on the first call, or earlier from an optional
``warmup()`` — see :func:`warmup`), call ``chat`` from any number of tasks, then ``aclose()``.  Backends
raise only the typed errors below; anything retryable is a :class:`RetryableModelError` (retried by
:class:`thinkgraph.llm.managed.ManagedModel`), anything else is final.  A backend declares which request
options it can honour (``capabilities``, see :class:`ChatModel`) and raises :class:`UnsupportedRequest` for
any other, never dropping one silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.messages import ChatMessage, Usage


class ChatRequest(BaseModel):
    """What a node asks of a model.  ``response_format`` is an OpenAI-style JSON schema dict;
    ``grammar`` is a GBNF grammar (honoured by llama.cpp-style backends; the others raise
    :class:`UnsupportedRequest`).  :func:`requested_options` names the options a request uses."""

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
    """One sample.  ``cached``: served from a cache (:mod:`thinkgraph.llm.cache`), not drawn by this call."""

    model_config = ConfigDict(frozen=True)
    text: str
    finish_reason: str = "stop"
    logprobs: tuple[TokenLogprob, ...] | None = None
    cached: bool = False


class ChatResponse(BaseModel):
    """The samples of one call.  ``usage`` covers every sample, cached ones at what they cost when they were
    drawn (so a rerun from a cache accounts, and meets budgets, exactly like the first run);
    ``cached_usage`` is that cached part, and ``cached`` counts the cached samples."""

    model_config = ConfigDict(frozen=True)
    model: str
    choices: tuple[Completion, ...]
    usage: Usage = Usage()
    seconds: float = 0.0
    cost: float | None = None
    cached_usage: Usage = Usage()

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.choices]

    @property
    def cached(self) -> int:
        """How many of the samples came from a cache."""
        return sum(1 for c in self.choices if c.cached)


def sample_slice(request: ChatRequest, start: int, count: int) -> ChatRequest:
    """The request for samples ``start .. start + count - 1`` of ``request``.

    A seeded request's sample ``i`` is drawn with seed ``seed + i`` whenever samples are split over requests,
    so the slice's seed is ``seed + start``: asking for the samples after the first ``start`` never draws
    copies of samples ``0 .. count - 1`` (a cache that holds 8 samples asks for samples 8..11 this way)."""
    update: dict[str, Any] = {"n": count}
    if request.seed is not None:
        update["seed"] = request.seed + start
    return request.model_copy(update=update)


def merge_responses(model: str, parts: Sequence[ChatResponse], seconds: float) -> ChatResponse:
    """The responses of consecutive sample slices as one response (choices in order, usage and cost summed)."""
    costs = [p.cost for p in parts if p.cost is not None]
    return ChatResponse(
        model=model,
        choices=tuple(c for p in parts for c in p.choices),
        usage=Usage(
            prompt_tokens=sum(p.usage.prompt_tokens for p in parts),
            completion_tokens=sum(p.usage.completion_tokens for p in parts),
        ),
        seconds=seconds,
        cost=sum(costs) if costs else None,
        cached_usage=Usage(
            prompt_tokens=sum(p.cached_usage.prompt_tokens for p in parts),
            completion_tokens=sum(p.cached_usage.completion_tokens for p in parts),
        ),
    )


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
    """The backend cannot start: a missing extra, a missing file, a missing or rejected API key, a blocked
    network call.  Says how to fix."""


class UnsupportedRequest(ModelRequestError):
    """The backend cannot honour a request option (``option``, one of :data:`CAPABILITIES`, or the server's
    name for a parameter it rejected).  Final: retrying cannot help; ``hint`` says what to do instead.

    Raised before anything is sent when the option is outside the backend's declared ``capabilities``."""

    def __init__(self, option: str, backend: str, hint: str = "") -> None:
        self.option = option
        self.backend = backend
        self.hint = hint or OPTION_HINTS.get(option, "")
        message = f"{backend} cannot honour the request option {option!r}"
        super().__init__(f"{message}: {self.hint}" if self.hint else message)


# ----------------------------------------------------------------------------- capabilities

#: Every request option a backend may declare in ``capabilities``:
#:
#: * ``n``: ``n > 1`` samples (natively or as parallel requests);
#: * ``stop``: stop sequences;
#: * ``seed``: a sampling seed (reproducible samples, best effort: a real engine's prompt cache and batching
#:   can change the numerics);
#: * ``json_schema``: ``response_format`` (a JSON schema, or ``{"type": "json_object"}``) constrains the output;
#: * ``grammar``: a GBNF ``grammar`` constrains the output;
#: * ``logprobs``: ``logprobs`` / ``top_logprobs`` are returned.
CAPABILITIES: frozenset[str] = frozenset({"n", "stop", "seed", "json_schema", "grammar", "logprobs"})

OPTION_HINTS: dict[str, str] = {
    "n": "ask for one sample per request instead",
    "stop": "drop stop= and cut the text after it arrives",
    "seed": "drop seed= (this backend cannot seed its sampling)",
    "json_schema": "drop response_format= and parse the text, or use a backend with structured output",
    "grammar": (
        "drop grammar= (the CLI's --no-grammar), constrain with response_format= (a JSON schema) instead, "
        "or use a backend that accepts GBNF (local, or openai:MODEL@URL of a llama.cpp / vLLM server)"
    ),
    "logprobs": "drop logprobs= / top_logprobs=, or use a backend that returns them (local, openai)",
}


def requested_options(request: ChatRequest) -> frozenset[str]:
    """The optional features ``request`` uses, named as in :data:`CAPABILITIES`."""
    used = set()
    if request.n > 1:
        used.add("n")
    if request.stop:
        used.add("stop")
    if request.seed is not None:
        used.add("seed")
    if request.response_format is not None:
        used.add("json_schema")
    if request.grammar is not None:
        used.add("grammar")
    if request.logprobs or request.top_logprobs:
        used.add("logprobs")
    return frozenset(used)


def parse_capabilities(names: Iterable[str]) -> frozenset[str]:
    """Validate capability names (a typo must not silently declare nothing)."""
    caps = frozenset(names)
    unknown = caps - CAPABILITIES
    if unknown:
        raise ValueError(f"unknown capabilities {sorted(unknown)}; valid: {sorted(CAPABILITIES)}")
    return caps


def check_request(
    backend: str, capabilities: Iterable[str], request: ChatRequest, hints: Mapping[str, str] | None = None
) -> None:
    """Raise :class:`UnsupportedRequest` for the first option ``request`` uses outside ``capabilities``."""
    missing = sorted(requested_options(request) - frozenset(capabilities))
    if missing:
        raise UnsupportedRequest(missing[0], backend, (hints or {}).get(missing[0], ""))


def capabilities_of(model: object) -> frozenset[str]:
    """The options ``model`` declares it honours, looking through wrappers that keep the backend in ``inner``
    (like :class:`~thinkgraph.llm.managed.ManagedModel`).  A model that declares nothing is taken to honour
    everything (it must then raise :class:`UnsupportedRequest` itself)."""
    seen = 0
    while seen < 16:
        caps = getattr(model, "capabilities", None)
        if caps is not None:
            return frozenset(caps)
        inner = getattr(model, "inner", None)
        if inner is None:
            break
        model, seen = inner, seen + 1
    return CAPABILITIES


def _through_wrappers(model: object, attr: str) -> Any:
    """``attr`` of ``model`` or of the first backend under it (wrappers keep theirs in ``inner``)."""
    for _ in range(16):
        found = getattr(model, attr, None)
        if found is not None:
            return found
        model = getattr(model, "inner", None)
        if model is None:
            break
    return None


def warmup(model: object) -> None:
    """Start what ``model`` needs before its first call — imports, an HTTP client, a server process — without
    waiting for it, so the first request does not pay for it.  Calls the backend's optional ``warmup()``
    (found through wrappers); :func:`~thinkgraph.llm.load_model` calls it for every model it builds."""
    start = _through_wrappers(model, "warmup")
    if callable(start):
        start()


# ----------------------------------------------------------------------------- protocol


@runtime_checkable
class ChatModel(Protocol):
    """A chat backend.

    ``name``: a label for traces and errors.  ``chat(request)`` returns exactly ``request.n`` choices and
    reports usage; ``n`` samples are ``n`` independent draws, never copies of one (sample ``i`` of a seeded
    request split over requests uses seed ``seed + i``, see :func:`sample_slice`).  ``aclose()`` frees what
    the backend holds.  Optional: ``warmup()`` starts set-up work without waiting for it (:func:`warmup`).

    Every backend also declares ``capabilities: frozenset[str]``, the request options (names from
    :data:`CAPABILITIES`: ``n``, ``stop``, ``seed``, ``json_schema``, ``grammar``, ``logprobs``) it honours.
    A request using any other option raises :class:`UnsupportedRequest` before anything is sent; an
    option is never dropped silently.  (The attribute is not a protocol member, so wrappers without it
    still type-check; read it with :func:`capabilities_of`, which looks through wrappers.)  ``max_tokens``
    and ``temperature`` are always honoured.
    """

    name: str

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    async def aclose(self) -> None: ...


def chat_sync(model: ChatModel, request: ChatRequest) -> ChatResponse:
    """Synchronous convenience for scripts and notebooks without a running event loop."""
    return asyncio.run(model.chat(request))
