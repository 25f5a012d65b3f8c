"""Network backends: the official ``openai`` SDK (OpenAI or any OpenAI-compatible server such as vLLM,
llama.cpp or Ollama, chosen by base URL) and LiteLLM for every other provider.

Both map provider errors onto the typed errors of :mod:`thinkgraph.llm.base` by exception *type* and
structured error fields (never by message text) and read ``Retry-After`` from the response headers.  A
response body that is not the JSON the protocol promises (cut off, HTML from a proxy, the wrong shape)
is a retryable :class:`ServerError`.  SDK-level retries are off: :class:`~thinkgraph.llm.managed.ManagedModel`
owns retrying.

Capabilities (see :class:`~thinkgraph.llm.base.ChatModel`): api.openai.com honours everything but a GBNF
``grammar``; any other OpenAI-compatible server is assumed to be llama.cpp / vLLM-like and gets the
grammar in the request body.  ``grammar=`` (constructor, or ``#grammar=off`` in the spec) overrides the
guess.  LiteLLM providers honour what LiteLLM's provider table lists, no grammar unless enabled.

Setting ``THINKGRAPH_BLOCK_REMOTE=1`` (the test suite does) makes any call to a non-loopback host
fail with :class:`ModelUnavailable`, so no test can reach a real network model by accident.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from thinkgraph.llm._http import HttpError, HttpPool, HttpProtocolError
from thinkgraph.llm.base import (
    CAPABILITIES,
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
    UnsupportedRequest,
    check_request,
    logprobs_from_openai,
    parse_capabilities,
    sample_slice,
)
from thinkgraph.messages import Usage

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
OPENAI_URL = "https://api.openai.com/v1"
#: Hosts whose chat API rejects or ignores a GBNF grammar (and their subdomains, e.g. eu.api.openai.com).
NO_GRAMMAR_HOSTS = frozenset({"api.openai.com"})
#: The server's parameter names → capability names (for the server's ``unsupported_parameter`` errors).
_PARAM_OPTION = {"response_format": "json_schema", "top_logprobs": "logprobs", "stop": "stop", "n": "n"}


def _check_network_allowed(base_url: str | None, what: str) -> None:
    if os.environ.get("THINKGRAPH_BLOCK_REMOTE") != "1":
        return
    host = urlparse(base_url).hostname if base_url else None
    if host not in _LOOPBACK:
        raise ModelUnavailable(
            f"{what}: calls to non-loopback model servers are blocked (THINKGRAPH_BLOCK_REMOTE=1, set by tests); "
            "use a scripted or replay model"
        )


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or as an HTTP date."""
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(float(ms) / 1000.0, 0.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    found = parse_retry_after(getattr(response, "headers", None))
    if found is None:  # LiteLLM keeps the provider's headers here
        found = parse_retry_after(getattr(exc, "litellm_response_headers", None))
    return found


def _malformed_response_types() -> tuple[type[BaseException], ...]:
    import pydantic

    types: list[type[BaseException]] = [json.JSONDecodeError, UnicodeDecodeError, pydantic.ValidationError]
    try:
        import httpx

        types.append(httpx.DecodingError)
    except ImportError:  # pragma: no cover - httpx comes with openai
        pass
    return tuple(types)


def map_openai_error(exc: Exception, backend: str = "") -> ModelError:
    """Translate an ``openai`` SDK exception (LiteLLM's subclass them) into a thinkgraph error."""
    import openai

    who = f"{backend}: " if backend else ""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, openai.RateLimitError):
        return RateLimitError(f"{who}{exc}", _retry_after(exc))
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(f"{who}{exc}")
    if isinstance(exc, openai.APIConnectionError):
        return ServerError(f"{who}connection failed: {exc}")
    if isinstance(exc, openai.InternalServerError):
        return ServerError(f"{who}{exc}", _retry_after(exc))
    if isinstance(exc, openai.AuthenticationError):
        return ModelUnavailable(
            f"{who}the server rejected the credentials (HTTP 401): set the provider's API key "
            f"(OPENAI_API_KEY for openai:) or pass api_key=; {exc}"
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (408, 409, 425) or exc.status_code >= 500:
            return ServerError(f"{who}{exc}", _retry_after(exc))
        unsupported = _unsupported_parameter(exc, backend)
        if unsupported is not None:
            return unsupported
        return ModelRequestError(f"{who}HTTP {exc.status_code}: {exc}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ServerError(f"{who}the server's response does not follow the protocol: {exc}")
    if isinstance(exc, openai.OpenAIError):
        return ModelRequestError(f"{who}{exc}")
    if isinstance(exc, _malformed_response_types()):
        return ServerError(f"{who}the server sent a malformed response body: {exc!r}")
    raise exc


def _unsupported_parameter(exc: Any, backend: str) -> UnsupportedRequest | None:
    litellm = sys.modules.get("litellm")  # only if LiteLLM is loaded already: never import it for an error
    lite_unsupported = getattr(litellm, "UnsupportedParamsError", None)
    if lite_unsupported is not None and isinstance(exc, lite_unsupported):
        return UnsupportedRequest("a request option", backend or "litellm", f"LiteLLM refused it: {exc}")
    code = getattr(exc, "code", None)
    param = getattr(exc, "param", None)
    if code in ("unsupported_parameter", "unsupported_value") and param:
        option = _PARAM_OPTION.get(str(param), str(param))
        return UnsupportedRequest(option, backend or "the server", f"the server refused it: {exc}")
    return None


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` of an SDK object, or ``obj[name]`` of a parsed JSON object."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name)


def _choice_logprobs(choice: Any) -> tuple[TokenLogprob, ...] | None:
    lp = choice.get("logprobs") if isinstance(choice, dict) else getattr(choice, "logprobs", None)
    if lp is None:
        return None
    return logprobs_from_openai(lp.model_dump() if hasattr(lp, "model_dump") else lp)


def request_kwargs(request: ChatRequest, *, n: int, grammar_field: str | None) -> dict[str, Any]:
    """The ``chat.completions.create`` arguments for ``request``.  A grammar is sent only with a field; a dotted
    field nests (``structured_outputs.grammar`` → ``{"structured_outputs": {"grammar": ...}}``, as vLLM reads it)."""
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
    if request.logprobs or request.top_logprobs:
        kw["logprobs"] = True
        if request.top_logprobs:
            kw["top_logprobs"] = request.top_logprobs
    if request.grammar is not None and grammar_field:
        value: Any = request.grammar
        for part in reversed(grammar_field.split(".")):
            value = {part: value}
        kw["extra_body"] = value
    return kw


def _to_response(
    name: str, responses: list[Any], start: float, cost: float | None = None, *, expect: int | None = None
) -> ChatResponse:
    """Provider responses (SDK objects or parsed JSON) → one :class:`ChatResponse`; a body of the wrong shape is a
    retryable ServerError."""
    choices: list[Completion] = []
    prompt = completion = 0
    try:
        for resp in responses:
            raw_choices = _field(resp, "choices")
            if not isinstance(raw_choices, list) or not raw_choices:
                raise TypeError(f"no choices in the response: {resp!r:.200}")
            for ch in raw_choices:
                content = _field(_field(ch, "message"), "content")
                if content is not None and not isinstance(content, str):
                    raise TypeError(f"message content is {type(content).__name__}, not text")
                choices.append(
                    Completion(
                        text=content or "",
                        finish_reason=_field(ch, "finish_reason") or "stop",
                        logprobs=_choice_logprobs(ch),
                    )
                )
            usage = resp.get("usage") if isinstance(resp, dict) else getattr(resp, "usage", None)
            if usage is not None:
                prompt += int(_field(usage, "prompt_tokens") or 0)
                completion += int(_field(usage, "completion_tokens") or 0)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise ServerError(f"{name}: the server's response is not a chat completion: {exc}") from exc
    if expect is not None and len(choices) != expect:
        raise UnsupportedRequest(
            "n",
            name,
            f"asked for {expect} samples in one request, the server returned {len(choices)}; "
            "draw them as parallel requests with native_n=False (spec suffix #native_n=off), "
            "or let the backend find out (#native_n=auto)",
        )
    return ChatResponse(
        model=name,
        choices=tuple(choices),
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        seconds=time.perf_counter() - start,
        cost=cost,
    )


def _is_openai_host(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in NO_GRAMMAR_HOSTS)


def status_error(name: str, status: int, headers: Any, body: bytes) -> ModelError:
    """An HTTP error status → a typed error, as :func:`map_openai_error` maps the SDK's (by status and the
    structured ``error`` fields, never by message text)."""
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        err = data if isinstance(data, dict) else {}
    message = str(err.get("message") or body[:200].decode("utf-8", "replace") or f"HTTP {status}")
    text = f"{name}: HTTP {status}: {message}"
    if status == 429:
        return RateLimitError(text, parse_retry_after(headers))
    if status == 401:
        return ModelUnavailable(
            f"{name}: the server rejected the credentials (HTTP 401): set the provider's API key "
            f"(OPENAI_API_KEY for openai:) or pass api_key=; {message}"
        )
    if status in (408, 409, 425) or status >= 500:
        return ServerError(text, parse_retry_after(headers))
    code, param = err.get("code"), err.get("param")
    if code in ("unsupported_parameter", "unsupported_value") and param:
        option = _PARAM_OPTION.get(str(param), str(param))
        return UnsupportedRequest(option, name, f"the server refused it: {message}")
    return ModelRequestError(text)


#: Whether a server (by base URL) takes ``n`` in one request, as learnt by backends in ``native_n="auto"`` mode.
_NATIVE_N: dict[str, bool] = {}
_SDK_IMPORT: list[threading.Thread] = []


def _import_sdk_in_background() -> None:
    """Import the ``openai`` SDK (~1 s) in a daemon thread, once per process."""
    if _SDK_IMPORT or "openai" in sys.modules:
        return

    def load() -> None:
        try:
            import openai  # noqa: F401
        except ImportError:  # reported by the first call, with the fix
            pass

    thread = threading.Thread(target=load, name="thinkgraph-openai-import", daemon=True)
    _SDK_IMPORT.append(thread)
    thread.start()


def _plain_http(url: str, client: str) -> bool:
    """Whether the direct HTTP client serves ``url`` (``client``: auto, direct or sdk)."""
    parts = urlparse(url)
    if client == "sdk":
        return False
    if client == "direct":
        if parts.scheme != "http":
            raise ValueError(f"client='direct' speaks plain http:// only, not {url!r}: use client='sdk'")
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    from urllib.request import getproxies, proxy_bypass

    # a proxy set for http:// is the SDK's (httpx's) business, except for hosts it bypasses
    return parts.hostname in _LOOPBACK or "http" not in getproxies() or bool(proxy_bypass(parts.hostname))


class OpenAIModel:
    """``openai:MODEL`` (api.openai.com) or ``openai:MODEL@BASE_URL`` (any OpenAI-compatible server).

    ``native_n``: ``True`` sends ``n`` in one request (OpenAI, vLLM) and refuses a server that returns fewer
    samples; ``False`` draws the samples as parallel single-sample requests (llama.cpp allows only n=1), sample
    ``i`` with seed ``seed + i`` when a seed is given, so no sample repeats another by construction; ``None``
    ("auto") sends ``n`` in one request, and when the server refuses it (a 4xx) or returns fewer samples, draws
    the rest as parallel requests and remembers that for this server.  Default: native for api.openai.com,
    auto elsewhere.  ``max_concurrency`` caps the requests this backend has in flight at once (default 32).
    ``grammar``: whether the server honours a GBNF grammar.  Default (``None``): not api.openai.com,
    yes anywhere else (llama.cpp, vLLM).  When it does not, a request with a grammar raises
    :class:`UnsupportedRequest` instead of the grammar being dropped.
    ``grammar_field``: the body field the grammar goes in (``grammar`` for llama.cpp; vLLM reads
    ``structured_outputs.grammar``, older versions ``guided_grammar``); ``None`` is the same as ``grammar=False``.
    ``capabilities`` replaces the whole declared set (names from :data:`~thinkgraph.llm.base.CAPABILITIES`).
    ``client``: ``auto`` talks to plain ``http://`` servers with a small built-in HTTP client (no SDK import, no
    set-up cost on the first request, low per-request overhead) and to everything else (https, api.openai.com,
    an ``http`` proxy) through the ``openai`` SDK; ``direct`` / ``sdk`` force one.

    Without ``base_url`` the SDK's ``OPENAI_BASE_URL`` (if set) decides the server, as in the SDK.
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
        grammar: bool | None = None,
        capabilities: Iterable[str] | None = None,
        max_concurrency: int = 32,
        client: str = "auto",
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.name = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.url = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
        is_openai = _is_openai_host(self.url)
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or (None if is_openai else "not-needed")
        self.timeout_s = timeout_s
        self.native_n: bool | None = native_n if native_n is not None else (True if is_openai else None)
        if capabilities is not None:  # explicit: wins over the guess from the URL
            self.capabilities = parse_capabilities(capabilities)
        else:
            honours_grammar = (not is_openai if grammar is None else grammar) and bool(grammar_field)
            self.capabilities = CAPABILITIES if honours_grammar else CAPABILITIES - {"grammar"}
        if "grammar" in self.capabilities and not grammar_field:
            raise ValueError(f"{self.name}: the grammar capability needs a grammar_field to send it in")
        self.grammar_field = grammar_field if "grammar" in self.capabilities else None
        if max_concurrency < 1:
            raise ValueError(f"{self.name}: max_concurrency must be ≥ 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        if client not in ("auto", "direct", "sdk"):
            raise ValueError(f"{self.name}: client must be auto, direct or sdk, not {client!r}")
        self.direct = _plain_http(self.url, client)
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._pools: dict[asyncio.AbstractEventLoop, HttpPool] = {}
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def samples_in_one_request(self) -> bool | None:
        """Whether ``n`` goes in one request: set, learnt from this server, or ``None`` (not known yet)."""
        return self.native_n if self.native_n is not None else _NATIVE_N.get(self.url)

    def warmup(self) -> None:
        """Import the ``openai`` SDK in the background when this backend will need it (the direct client needs
        nothing); called by :func:`~thinkgraph.llm.load_model`."""
        if not self.direct:
            _import_sdk_in_background()

    def _check_ready(self) -> None:
        _check_network_allowed(self.url, self.name)
        if self.api_key is None:
            raise ModelUnavailable(f"{self.name}: set OPENAI_API_KEY or pass api_key")

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for gone in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[gone]  # a finished asyncio.run: its client cannot be used again
            try:
                import openai
            except ImportError as exc:  # pragma: no cover - openai is a core dependency
                raise ModelUnavailable("the openai backend needs the openai SDK: pip install openai") from exc

            client = openai.AsyncOpenAI(api_key=self.api_key, base_url=self.url, max_retries=0, timeout=self.timeout_s)
            self._clients[loop] = client
        return client

    def _pool(self) -> HttpPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            for gone in [lp for lp in self._pools if lp.is_closed()]:
                del self._pools[gone]
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            pool = HttpPool(self.url, headers=headers, timeout_s=self.timeout_s, max_idle=self.max_concurrency)
            self._pools[loop] = pool
        return pool

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.max_concurrency)
        return sem

    async def _create(self, request: ChatRequest, n: int) -> Any:
        """One HTTP request for ``n`` samples of ``request``: an SDK object or the parsed JSON body."""
        self._check_ready()
        kw = request_kwargs(request, n=n, grammar_field=self.grammar_field)
        async with self._semaphore():
            if self.direct:
                return await self._post(kw)
            client = self._client()
            try:
                return await client.chat.completions.create(model=self.model, **kw)
            except Exception as exc:
                raise map_openai_error(exc, self.name) from exc

    async def _post(self, kw: dict[str, Any]) -> dict[str, Any]:
        body = {"model": self.model, **kw}
        body.update(body.pop("extra_body", {}))
        try:
            resp = await self._pool().request("POST", "/chat/completions", body)
        except TimeoutError as exc:
            raise ModelTimeoutError(f"{self.name}: no answer within {self.timeout_s:g} s") from exc
        except HttpProtocolError as exc:
            raise ServerError(f"{self.name}: the server sent a malformed response body: {exc}") from exc
        except HttpError as exc:
            raise ServerError(f"{self.name}: connection failed: {exc}") from exc
        if not 200 <= resp.status < 300:
            raise status_error(self.name, resp.status, resp.headers, resp.body)
        try:
            data = resp.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServerError(f"{self.name}: the server sent a malformed response body: {exc!r}") from exc
        if not isinstance(data, dict):
            raise ServerError(f"{self.name}: the server's response is not a chat completion: {data!r:.200}")
        return data

    async def _split(self, request: ChatRequest, first: int = 0, *, learn: bool = False) -> list[Any]:
        """Samples ``first .. n-1`` as one request each (sample ``i`` seeded ``seed + i``).  ``learn``: send the
        first alone, and when it succeeds where ``n`` in one request failed, remember the server wants this."""
        indices = list(range(first, request.n))
        raws: list[Any] = []
        if learn:
            raws.append(await self._create(sample_slice(request, indices.pop(0), 1), 1))
            _NATIVE_N[self.url] = False
        raws += await asyncio.gather(*[self._create(sample_slice(request, i, 1), 1) for i in indices])
        return raws

    async def chat(self, request: ChatRequest) -> ChatResponse:
        check_request(self.name, self.capabilities, request)
        start = time.perf_counter()
        n = request.n
        native = self.samples_in_one_request
        if n == 1 or native:
            return _to_response(self.name, [await self._create(request, n)], start, expect=n)
        if native is False:
            out = _to_response(self.name, await self._split(request), start)
        else:  # not known yet: try n in one request, fall back (and remember) when the server does not take it
            try:
                one = [await self._create(request, n)]
            except ModelRequestError:  # e.g. llama.cpp: "n must be 1"; a request wrong otherwise fails again
                one = []
            got = len(_to_response(self.name, one, start).choices) if one else 0
            if got > n:
                raise ServerError(f"{self.name}: asked for {n} samples, the server returned {got}")
            if one:
                _NATIVE_N[self.url] = got == n
            rest = await self._split(request, got, learn=not one) if got < n else []
            out = _to_response(self.name, [*one, *rest], start)
        if len(out.choices) != n:
            raise ServerError(f"{self.name}: asked for {n} samples, the server returned {len(out.choices)}")
        return out

    async def aclose(self) -> None:
        """Close the client of the running loop; clients of loops that are gone went down with them."""
        loop = asyncio.get_running_loop()
        clients, self._clients = self._clients, {}
        pools, self._pools = self._pools, {}
        for owner, pool in pools.items():
            if owner is loop:
                await pool.aclose()
        for owner, client in clients.items():
            if owner is loop:
                await client.close()


_LITELLM_PARAM_CAPS = {"stop": "stop", "seed": "seed", "response_format": "json_schema", "logprobs": "logprobs"}


class LiteLLMModel:
    """``litellm:PROVIDER/MODEL`` through LiteLLM (imported lazily; its offline price-map fetch is disabled).

    ``n`` samples are drawn as ``n`` parallel requests (seeds offset by the sample index), at most
    ``max_concurrency`` (default 32) in flight at once.
    ``capabilities`` starts as everything but ``grammar`` and is narrowed on the first call (or by
    :meth:`resolve_capabilities`) to what LiteLLM's provider table says the provider accepts; pass
    ``capabilities=`` to fix it.  ``grammar=True`` sends a GBNF grammar in the body field
    ``grammar_field`` (for OpenAI-compatible llama.cpp / vLLM servers behind LiteLLM).
    A provider whose API key is missing raises :class:`ModelUnavailable` naming the variable.
    """

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        grammar: bool = False,
        grammar_field: str = "grammar",
        capabilities: Iterable[str] | None = None,
        max_concurrency: int = 32,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.max_concurrency = max_concurrency
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self.api_key = api_key or ("not-needed" if api_base else None)
        self.name = f"litellm:{model}" + (f"@{api_base}" if api_base else "")
        self.timeout_s = timeout_s
        if capabilities is not None:  # explicit: not narrowed from LiteLLM's provider table
            self.capabilities = parse_capabilities(capabilities)
        else:
            self.capabilities = CAPABILITIES if grammar else CAPABILITIES - {"grammar"}
        self.grammar_field = grammar_field if "grammar" in self.capabilities else None
        self._resolved = capabilities is not None

    def _import(self) -> Any:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as exc:
            raise ModelUnavailable("the litellm backend needs LiteLLM: pip install 'thinkgraph[litellm]'") from exc
        litellm.suppress_debug_info = True
        return litellm

    def resolve_capabilities(self) -> frozenset[str]:
        """Narrow ``capabilities`` to what LiteLLM lists for this provider (imports LiteLLM)."""
        if self._resolved:
            return self.capabilities
        litellm = self._import()
        try:
            model, provider, _, _ = litellm.get_llm_provider(self.model, api_base=self.api_base)
            params = set(litellm.get_supported_openai_params(model=model, custom_llm_provider=provider) or ())
        except Exception:  # unknown to LiteLLM's table: keep the declared set, the provider will say
            params = set(_LITELLM_PARAM_CAPS)
        dropped = {cap for param, cap in _LITELLM_PARAM_CAPS.items() if param not in params}
        self.capabilities = self.capabilities - dropped
        self._resolved = True
        return self.capabilities

    def _check_key(self, litellm: Any) -> None:
        if self.api_key is not None:
            return
        try:
            env = litellm.validate_environment(model=self.model)
        except Exception:  # LiteLLM cannot tell: the provider will answer 401 if the key is missing
            return
        missing = env.get("missing_keys") or []
        if not env.get("keys_in_environment", True) and missing:
            raise ModelUnavailable(f"{self.name}: set {', '.join(missing)} (or pass api_key=)")

    async def chat(self, request: ChatRequest) -> ChatResponse:
        check_request(self.name, self.capabilities, request)
        _check_network_allowed(self.api_base or "https://provider.invalid", self.name)
        litellm = self._import()
        self.resolve_capabilities()
        check_request(self.name, self.capabilities, request)
        self._check_key(litellm)
        start = time.perf_counter()
        kw = request_kwargs(request, n=1, grammar_field=self.grammar_field)

        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.max_concurrency)

        async def one(i: int) -> Any:
            args = dict(kw)
            if request.seed is not None:
                args["seed"] = request.seed + i
            try:
                async with sem:
                    return await litellm.acompletion(
                        model=self.model,
                        api_base=self.api_base,
                        api_key=self.api_key,
                        timeout=self.timeout_s,
                        num_retries=0,
                        **args,
                    )
            except Exception as exc:
                raise map_openai_error(exc, self.name) from exc

        responses = list(await asyncio.gather(*[one(i) for i in range(request.n)]))
        cost: float | None = None
        try:
            cost = sum(float(litellm.completion_cost(completion_response=r)) for r in responses)
        except Exception:  # price unknown for this model: leave the cost empty
            cost = None
        out = _to_response(self.name, responses, start, cost)
        if len(out.choices) != request.n:
            raise ServerError(f"{self.name}: {request.n} single-sample requests returned {len(out.choices)} samples")
        return out

    async def aclose(self) -> None:
        return None
