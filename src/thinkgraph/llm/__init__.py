"""Model backends behind one protocol, named by one string.

=====================================================  ===========================================
spec                                                   backend
=====================================================  ===========================================
``local``                                              embedded Qwen2.5-Coder-1.5B (llama.cpp)
``local:small``                                        embedded Qwen2.5-Coder-0.5B
``local:/path/model.gguf``                             any GGUF file
``openai:gpt-4o-mini``                                 OpenAI API (``OPENAI_API_KEY``)
``openai:Qwen2.5-7B@http://127.0.0.1:8000/v1``         any OpenAI-compatible server (vLLM, llama.cpp)
``litellm:anthropic/claude-3-5-haiku-latest``          LiteLLM, every other provider
``replay:/path/recording.jsonl``                       answers from a recording (tests, demos)
=====================================================  ===========================================

``openai:`` and ``litellm:`` specs take options after ``#``, comma-separated:
``openai:Qwen@http://gpu:8000/v1#grammar=off,native_n=on``.  ``grammar=on|off`` says whether the server
honours a GBNF grammar (default for ``openai:``: off for api.openai.com, on for any other server; for
``litellm:``: off), ``native_n=on|off`` (``openai:`` only) whether ``n`` goes in one request.  Keyword
arguments to :func:`load_model` override the spec.

Every backend declares ``capabilities`` (see :class:`ChatModel`) and raises :class:`UnsupportedRequest`
for a request option it cannot honour.  A backend that cannot start (a missing extra, missing weights,
a missing API key or recording) raises :class:`ModelUnavailable` with the fix: at :func:`load_model` for
a missing recording, on the first call otherwise.
"""

from __future__ import annotations

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
from thinkgraph.llm.managed import ManagedModel

__all__ = [
    "CAPABILITIES",
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
]

_SPEC_FLAGS = {"openai": ("grammar", "native_n"), "litellm": ("grammar",)}
_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}


def _spec_options(kind: str, rest: str, options: dict[str, object]) -> tuple[str, dict[str, object]]:
    """Split ``MODEL[@URL]#key=value,...`` into the spec and constructor options (keyword arguments win)."""
    rest, _, tail = rest.partition("#")
    parsed: dict[str, object] = {}
    for item in filter(None, (x.strip() for x in tail.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip().lower()
        if key not in _SPEC_FLAGS[kind] or not sep or value not in _ON | _OFF:
            raise ValueError(
                f"bad {kind} spec option {item!r}: use " + ", ".join(f"{k}=on|off" for k in _SPEC_FLAGS[kind])
            )
        parsed[key] = value in _ON
    return rest, {**parsed, **options}


def load_model(spec: str, **options: object) -> ChatModel:
    """Build a backend from its spec string (see the module docstring).  Heavy imports stay lazy."""
    kind, _, rest = spec.partition(":")
    if kind == "local":
        from thinkgraph.llm.local import LocalModel

        return LocalModel(rest, **options)  # type: ignore[arg-type]
    if kind == "openai":
        from thinkgraph.llm.remote import OpenAIModel

        rest, options = _spec_options(kind, rest, options)
        model, _, base_url = rest.partition("@")
        if not model:
            raise ValueError("openai spec needs a model name: openai:MODEL or openai:MODEL@BASE_URL")
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
        "litellm:PROVIDER/MODEL or replay:/path.jsonl"
    )
