"""Model backends behind one protocol, named by one string.

=====================================================  ===========================================
spec                                                   backend
=====================================================  ===========================================
``local``                                              embedded Qwen2.5-Coder-1.5B (llama.cpp)
``local:small``                                        embedded Qwen2.5-Coder-0.5B
``local:/path/model.gguf``                             any GGUF file
``openai:gpt-4o-mini``                                 OpenAI API (``OPENAI_API_KEY``)
``openai:Qwen2.5-7B@http://127.0.0.1:8000/v1``         any OpenAI-compatible server (vLLM, llama.cpp)
``vllm:Qwen/Qwen2.5-7B-Instruct``                      a vLLM server started and stopped by this process
``vllm:Qwen/Qwen2.5-7B-Instruct@http://gpu:8000/v1``   a running vLLM server
``litellm:anthropic/claude-3-5-haiku-latest``          LiteLLM, every other provider
``replay:/path/recording.jsonl``                       answers from a recording (tests, demos)
=====================================================  ===========================================

``openai:``, ``vllm:`` and ``litellm:`` specs take options after ``#``, comma-separated:
``openai:Qwen@http://gpu:8000/v1#grammar=off,native_n=on``.  ``grammar=on|off`` says whether the server
honours a GBNF grammar (default for ``openai:``: off for api.openai.com, on for any other server; for
``litellm:``: off).  ``openai:`` only: ``native_n=on|off|auto`` whether ``n`` samples go in one request
(``auto``, the default except on api.openai.com: try, and when the server refuses ``n`` or returns fewer
samples, draw the rest as parallel requests and remember that for the server) and ``client=auto|direct|sdk``
(plain ``http://`` servers get a small built-in HTTP client, the rest the ``openai`` SDK).  All three:
``concurrency=N``, the requests in flight at once (default 32).  Keyword arguments to
:func:`load_model` override the spec.

``load_model(spec, cache="runs/cache.sqlite")`` wraps the model in :class:`~thinkgraph.llm.cache.CachedModel`:
samples are stored by request and sample index, and a rerun sends no request at all.  ``load_model`` also
starts what the first call would otherwise wait for (:func:`start_warmup`; ``warmup=False`` to skip).

Every backend declares ``capabilities`` (see :class:`ChatModel`) and raises :class:`UnsupportedRequest`
for a request option it cannot honour.  A backend that cannot start (a missing extra, missing weights,
a missing API key or recording, no ``vllm`` executable) raises :class:`ModelUnavailable` with the fix: at
:func:`load_model` for a missing recording or ``vllm`` executable, on the first call otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from thinkgraph.llm.base import (
    CAPABILITIES,
    ChatModel,
    ChatRequest,
    ChatResponse,
    Completion,
    ModelError,
    ModelRequestError,
    ModelUnavailable,
    RetryableModelError,
    UnsupportedRequest,
    capabilities_of,
    chat_sync,
    requested_options,
)
from thinkgraph.llm.base import warmup as start_warmup
from thinkgraph.llm.managed import ManagedModel

if TYPE_CHECKING:
    from thinkgraph.llm.cache import CachedModel

__all__ = [
    "CAPABILITIES",
    "CachedModel",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "Completion",
    "ManagedModel",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailable",
    "RetryableModelError",
    "UnsupportedRequest",
    "capabilities_of",
    "chat_sync",
    "load_model",
    "requested_options",
    "start_warmup",
]


def __getattr__(name: str) -> object:
    if name == "CachedModel":  # lazily: sqlite3 stays unimported until a cache is used
        from thinkgraph.llm.cache import CachedModel

        return CachedModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}


def _switch(value: str) -> bool | None:
    return True if value in _ON else False if value in _OFF else None


def _native_n(value: str) -> bool | str | None:
    return "auto" if value == "auto" else _switch(value)


def _concurrency(value: str) -> int | None:
    return int(value) if value.isdigit() and int(value) >= 1 else None


def _client(value: str) -> str | None:
    return value if value in ("auto", "direct", "sdk") else None


#: spec options per backend kind: option → (its constructor keyword, a parser returning None when invalid, usage)
_SPEC_OPTIONS: dict[str, dict[str, tuple[str, Callable[[str], object], str]]] = {
    "openai": {
        "grammar": ("grammar", _switch, "grammar=on|off"),
        "native_n": ("native_n", _native_n, "native_n=on|off|auto"),
        "concurrency": ("max_concurrency", _concurrency, "concurrency=N"),
        "client": ("client", _client, "client=auto|direct|sdk"),
    },
    "litellm": {
        "grammar": ("grammar", _switch, "grammar=on|off"),
        "concurrency": ("max_concurrency", _concurrency, "concurrency=N"),
    },
    "vllm": {
        "grammar": ("grammar", _switch, "grammar=on|off"),
        "concurrency": ("max_concurrency", _concurrency, "concurrency=N"),
    },
}


def _spec_options(kind: str, rest: str, options: dict[str, object]) -> tuple[str, dict[str, object]]:
    """Split ``MODEL[@URL]#key=value,...`` into the spec and constructor options (keyword arguments win)."""
    rest, _, tail = rest.partition("#")
    table = _SPEC_OPTIONS[kind]
    parsed: dict[str, object] = {}
    for item in filter(None, (x.strip() for x in tail.split(","))):
        key, sep, value = item.partition("=")
        entry = table.get(key.strip())
        found = entry[1](value.strip().lower()) if entry is not None and sep else None
        if entry is None or found is None:
            raise ValueError(f"bad {kind} spec option {item!r}: use " + ", ".join(e[2] for e in table.values()))
        parsed[entry[0]] = None if found == "auto" and key.strip() == "native_n" else found
    return rest, {**parsed, **options}


def load_model(spec: str, *, cache: str | Path | None = None, warmup: bool = True, **options: object) -> ChatModel:
    """Build a backend from its spec string (see the module docstring).  Heavy imports stay lazy.

    ``cache``: a SQLite file; the model is wrapped in :class:`~thinkgraph.llm.cache.CachedModel` (a rerun of the
    same requests sends none).  ``warmup`` (default on): start what the first call would otherwise pay for — an
    SDK import in the background, a managed vLLM server — now (:func:`~thinkgraph.llm.base.warmup`)."""
    model = _build(spec, options)
    if warmup:
        start_warmup(model)
    if cache is not None:
        from thinkgraph.llm.cache import CachedModel

        return CachedModel(model, cache)
    return model


def _build(spec: str, options: dict[str, object]) -> ChatModel:
    kind, _, rest = spec.partition(":")
    if kind == "local":
        from thinkgraph.llm.local import LocalModel

        return LocalModel(rest, **options)  # type: ignore[arg-type]
    if kind in ("openai", "vllm"):
        rest, options = _spec_options(kind, rest, options)
        model, _, base_url = rest.partition("@")
        if not model:
            raise ValueError(f"{kind} spec needs a model name: {kind}:MODEL or {kind}:MODEL@BASE_URL")
        if kind == "vllm":
            from thinkgraph.llm.vllm import VLLMModel

            return VLLMModel(model, base_url or None, **options)  # type: ignore[arg-type]
        from thinkgraph.llm.remote import OpenAIModel

        return OpenAIModel(model, base_url or None, **options)  # type: ignore[arg-type]
    if kind == "litellm":
        from thinkgraph.llm.remote import LiteLLMModel

        rest, options = _spec_options(kind, rest, options)
        model, _, base_url = rest.partition("@")
        if not model:
            raise ValueError("litellm spec needs a model: litellm:PROVIDER/MODEL[@API_BASE]")
        return LiteLLMModel(model, base_url or None, **options)  # type: ignore[arg-type]
    if kind == "replay":
        from thinkgraph.testing import ReplayModel

        if not rest:
            raise ValueError("replay spec needs a file: replay:/path/recording.jsonl")
        # options meant for other backends (n_parallel, timeout_s...) are ignored, as they always were
        known = {k: v for k, v in options.items() if k in ("name", "capabilities")}
        return ReplayModel(rest, **known)  # type: ignore[arg-type]
    raise ValueError(
        f"unknown model spec {spec!r}; use local, local:small, local:/path.gguf, openai:MODEL[@URL], "
        "vllm:MODEL[@URL], litellm:PROVIDER/MODEL or replay:/path.jsonl"
    )
