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
"""

from __future__ import annotations

from thinkgraph.llm.base import (
    ChatModel,
    ChatRequest,
    ChatResponse,
    Completion,
    ModelError,
    ModelRequestError,
    ModelUnavailable,
    RetryableModelError,
    chat_sync,
)
from thinkgraph.llm.managed import ManagedModel

__all__ = [
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "Completion",
    "ManagedModel",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailable",
    "RetryableModelError",
    "chat_sync",
    "load_model",
]


def load_model(spec: str, **options: object) -> ChatModel:
    """Build a backend from its spec string (see the module docstring).  Heavy imports stay lazy."""
    kind, _, rest = spec.partition(":")
    if kind == "local":
        from thinkgraph.llm.local import LocalModel

        return LocalModel(rest, **options)  # type: ignore[arg-type]
    if kind == "openai":
        from thinkgraph.llm.remote import OpenAIModel

        model, _, base_url = rest.partition("@")
        if not model:
            raise ValueError("openai spec needs a model name: openai:MODEL or openai:MODEL@BASE_URL")
        return OpenAIModel(model, base_url or None, **options)  # type: ignore[arg-type]
    if kind == "litellm":
        from thinkgraph.llm.remote import LiteLLMModel

        model, _, base_url = rest.partition("@")
        if not model:
            raise ValueError("litellm spec needs a model: litellm:PROVIDER/MODEL[@API_BASE]")
        return LiteLLMModel(model, base_url or None, **options)  # type: ignore[arg-type]
    if kind == "replay":
        from thinkgraph.testing import ReplayModel

        return ReplayModel(rest)
    raise ValueError(
        f"unknown model spec {spec!r}; use local, local:small, local:/path.gguf, openai:MODEL[@URL], "
        "litellm:PROVIDER/MODEL or replay:/path.jsonl"
    )
