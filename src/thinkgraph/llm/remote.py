"""Network backends: the official ``openai`` SDK (OpenAI or any OpenAI-compatible server such as vLLM,
llama.cpp or Ollama, chosen by base URL) and LiteLLM for every other provider.

Both map provider errors onto the typed errors of :mod:`thinkgraph.llm.base` by exception *type*
(never by message text) and read ``Retry-After`` from the response headers.  SDK-level retries are
off: :class:`~thinkgraph.llm.managed.ManagedModel` owns retrying.

Setting ``THINKGRAPH_BLOCK_REMOTE=1`` (the test suite does) makes any call to a non-loopback host
fail with :class:`ModelUnavailable`, so no test can reach a real network model by accident.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlparse

from thinkgraph.llm.base import (
    ChatRequest,
    ChatResponse,
    Completion,
    ModelError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailable,
    RateLimitError,
    ServerError,
    TokenLogprob,
    logprobs_from_openai,
)
from thinkgraph.messages import Usage

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _check_network_allowed(base_url: str | None, what: str) -> None:
    if os.environ.get("THINKGRAPH_BLOCK_REMOTE") != "1":
        return
    host = urlparse(base_url).hostname if base_url else None
    if host not in _LOOPBACK:
        raise ModelUnavailable(
            f"{what}: calls to non-loopback model servers are blocked (THINKGRAPH_BLOCK_REMOTE=1, set by tests); "
            "use a scripted or replay model"
        )


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def map_openai_error(exc: Exception) -> ModelError:
    """Translate an ``openai`` SDK exception (LiteLLM's subclass them) into a thinkgraph error."""
    import openai

    if isinstance(exc, openai.RateLimitError):
        return RateLimitError(str(exc), _retry_after(exc))
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(str(exc))
    if isinstance(exc, openai.APIConnectionError):
        return ServerError(f"connection failed: {exc}")
    if isinstance(exc, openai.InternalServerError):
        return ServerError(str(exc), _retry_after(exc))
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (408, 409, 425) or exc.status_code >= 500:
            return ServerError(str(exc), _retry_after(exc))
        return ModelRequestError(f"HTTP {exc.status_code}: {exc}")
    if isinstance(exc, openai.OpenAIError):
        return ModelRequestError(str(exc))
    raise exc


def _choice_logprobs(choice: Any) -> tuple[TokenLogprob, ...] | None:
    lp = getattr(choice, "logprobs", None)
    return logprobs_from_openai(lp.model_dump()) if lp is not None else None


def request_kwargs(request: ChatRequest, *, n: int, grammar_field: str | None) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "messages": [m.model_dump() for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if n != 1:
        kw["n"] = n
    if request.stop:
        kw["stop"] = list(request.stop)
    if request.seed is not None:
        kw["seed"] = request.seed
    if request.response_format is not None:
        kw["response_format"] = request.response_format
    if request.logprobs:
        kw["logprobs"] = True
        if request.top_logprobs:
            kw["top_logprobs"] = request.top_logprobs
    if request.grammar is not None and grammar_field:
        kw["extra_body"] = {grammar_field: request.grammar}
    return kw


def _to_response(name: str, responses: list[Any], start: float, cost: float | None = None) -> ChatResponse:
    choices: list[Completion] = []
    prompt = completion = 0
    for resp in responses:
        for ch in resp.choices:
            choices.append(
                Completion(
                    text=ch.message.content or "",
                    finish_reason=ch.finish_reason or "stop",
                    logprobs=_choice_logprobs(ch),
                )
            )
        if resp.usage is not None:
            prompt += int(resp.usage.prompt_tokens or 0)
            completion += int(resp.usage.completion_tokens or 0)
    out = ChatResponse(
        model=name,
        choices=tuple(choices),
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        seconds=time.perf_counter() - start,
        cost=cost,
    )
    return out


class OpenAIModel:
    """``openai:MODEL`` (api.openai.com) or ``openai:MODEL@BASE_URL`` (any OpenAI-compatible server).

    ``native_n``: send ``n`` in one request (OpenAI, vLLM) or draw samples as parallel requests
    (llama.cpp allows only n=1).  Default: native for api.openai.com, parallel elsewhere.
    ``grammar_field``: the body field a GBNF grammar goes in (``grammar`` for llama.cpp; ``None`` drops it).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 120.0,
        native_n: bool | None = None,
        grammar_field: str | None = "grammar",
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.name = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
        self.timeout_s = timeout_s
        self.native_n = native_n if native_n is not None else base_url is None
        self.grammar_field = grammar_field if base_url else None
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def _client(self) -> Any:
        _check_network_allowed(self.base_url or "https://api.openai.com/v1", self.name)
        if self.api_key is None:
            raise ModelUnavailable(f"{self.name}: set OPENAI_API_KEY or pass api_key")
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import openai

            client = openai.AsyncOpenAI(
                api_key=self.api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s
            )
            self._clients[loop] = client
        return client

    async def _create(self, request: ChatRequest, n: int, index: int) -> Any:
        kw = request_kwargs(request, n=n, grammar_field=self.grammar_field)
        if not self.native_n and request.seed is not None:
            kw["seed"] = request.seed + index
        try:
            return await self._client().chat.completions.create(model=self.model, **kw)
        except ModelError:
            raise
        except Exception as exc:
            raise map_openai_error(exc) from exc

    async def chat(self, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        if self.native_n or request.n == 1:
            responses = [await self._create(request, request.n, 0)]
        else:
            responses = list(await asyncio.gather(*[self._create(request, 1, i) for i in range(request.n)]))
        return _to_response(self.name, responses, start)

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()


class LiteLLMModel:
    """``litellm:PROVIDER/MODEL`` through LiteLLM (imported lazily; its offline price-map fetch is disabled)."""

    def __init__(
        self, model: str, api_base: str | None = None, *, api_key: str | None = None, timeout_s: float = 120.0
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.api_key = api_key or ("not-needed" if api_base else None)
        self.name = f"litellm:{model}" + (f"@{api_base}" if api_base else "")
        self.timeout_s = timeout_s

    async def chat(self, request: ChatRequest) -> ChatResponse:
        _check_network_allowed(self.api_base or "https://provider.invalid", self.name)
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as exc:
            raise ModelUnavailable("the litellm backend needs LiteLLM: pip install 'thinkgraph[litellm]'") from exc
        start = time.perf_counter()
        kw = request_kwargs(request, n=1, grammar_field=None)
        kw.pop("extra_body", None)

        async def one(i: int) -> Any:
            args = dict(kw)
            if request.seed is not None:
                args["seed"] = request.seed + i
            try:
                return await litellm.acompletion(
                    model=self.model,
                    api_base=self.api_base,
                    api_key=self.api_key,
                    timeout=self.timeout_s,
                    num_retries=0,
                    **args,
                )
            except Exception as exc:
                raise map_openai_error(exc) from exc

        responses = list(await asyncio.gather(*[one(i) for i in range(request.n)]))
        cost: float | None = None
        try:
            cost = sum(float(litellm.completion_cost(completion_response=r)) for r in responses)
        except Exception:  # price unknown for this model: leave the cost empty
            cost = None
        return _to_response(self.name, responses, start, cost)

    async def aclose(self) -> None:
        return None
