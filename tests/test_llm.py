from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest

from openai_stub import OpenAIStub, completion
from thinkgraph.llm import (
    CAPABILITIES,
    ChatRequest,
    ManagedModel,
    ModelRequestError,
    ModelUnavailable,
    UnsupportedRequest,
    capabilities_of,
    load_model,
    requested_options,
)
from thinkgraph.llm.base import ChatResponse, Completion, RateLimitError, ServerError
from thinkgraph.llm.remote import LiteLLMModel, OpenAIModel
from thinkgraph.runtime import Budget, BudgetExceeded, Ledger, RunContext
from thinkgraph.testing import (
    RecordingModel,
    ReplayMiss,
    ReplayModel,
    ScriptedModel,
    ScriptExhausted,
    request_key,
)


def req(text: str = "hi", **kw: Any) -> ChatRequest:
    return ChatRequest.of([("user", text)], **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_scripted_model_list_and_function() -> None:
    m = ScriptedModel(["a", "b", "c"])
    assert run(m.chat(req(n=2))).texts == ["a", "b"]
    assert run(m.chat(req())).texts == ["c"]
    with pytest.raises(ScriptExhausted):
        run(m.chat(req()))
    f = ScriptedModel(lambda r, i: f"{r.messages[-1].content}-{i}")
    assert run(f.chat(req("q", n=3))).texts == ["q-0", "q-1", "q-2"]


def test_record_then_replay_keys_by_request_and_sample(tmp_path) -> None:
    path = tmp_path / "rec.jsonl"
    rec = RecordingModel(ScriptedModel(lambda r, i: f"{r.messages[-1].content}#{i}"), path)
    run(rec.chat(req("one", n=2, temperature=0.7)))
    run(rec.chat(req("two")))
    rep = ReplayModel(path)
    assert run(rep.chat(req("one", n=2, temperature=0.7))).texts == ["one#0", "one#1"]
    assert run(rep.chat(req("two"))).texts == ["two#0"]
    with pytest.raises(ReplayMiss):  # a third sample was never recorded: fail, never repeat one
        run(rep.chat(req("one", n=3, temperature=0.7)))
    with pytest.raises(ReplayMiss):  # different parameters are a different request
        run(rep.chat(req("two", temperature=0.5)))
    assert isinstance(load_model(f"replay:{path}"), ReplayModel)


class Flaky:
    name = "flaky"

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return ChatResponse(model=self.name, choices=(Completion(text="ok"),))

    async def aclose(self) -> None:
        return None


def test_managed_retries_only_typed_retryable_errors() -> None:
    inner = Flaky([ServerError("502"), RateLimitError("slow down", retry_after=0.05)])
    m = ManagedModel(inner, backoff_initial=0.01)
    assert run(m.chat(req())).texts == ["ok"]
    assert inner.calls == 3
    bad = Flaky([ModelRequestError("400 bad request")])
    with pytest.raises(ModelRequestError):
        run(ManagedModel(bad, backoff_initial=0.01).chat(req()))
    assert bad.calls == 1


def test_managed_records_usage_and_trace_and_enforces_budget() -> None:
    ctx = RunContext(ledger=Ledger(budget=Budget(max_calls=2)))
    m = ManagedModel(ScriptedModel(lambda r, i: "x y z"), ctx)
    with ctx.tracer.node("translate"):
        run(m.chat(req(n=2)))
        run(m.chat(req()))
    line = ctx.ledger.by_node["translate"]
    assert (line.calls, line.samples, line.completion_tokens) == (2, 3, 9)
    kinds = [e.kind for e in ctx.tracer.events]
    assert kinds.count("model_request") == 2 and kinds.count("model_response") == 2
    with pytest.raises(BudgetExceeded):
        run(m.chat(req()))


def test_managed_concurrency_limit() -> None:
    active = 0
    peak = 0

    class Slow:
        name = "slow"

        async def chat(self, request: ChatRequest) -> ChatResponse:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.02)
            active -= 1
            return ChatResponse(model="slow", choices=(Completion(text="."),))

        async def aclose(self) -> None:
            return None

    m = ManagedModel(Slow(), max_concurrency=2)

    async def many() -> None:
        await asyncio.gather(*[m.chat(req()) for _ in range(6)])

    run(many())
    assert peak == 2


# ----------------------------------------------------------------------------- real HTTP on loopback


def test_openai_backend_against_loopback_server_retries_429_and_500() -> None:
    replies = [
        (429, {"retry-after": "0.1"}, {"error": {"message": "rate limited", "type": "rate_limit"}}),
        (500, {}, {"error": {"message": "boom", "type": "server_error"}}),
    ]

    def handler(body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if replies:
            return replies.pop(0)
        return 200, {}, completion([f"answer-{body.get('seed')}"])

    with OpenAIStub(handler) as stub:
        model = load_model(f"openai:stub-model@{stub.base_url}")
        assert isinstance(model, OpenAIModel)
        ctx = RunContext()
        m = ManagedModel(model, ctx, backoff_initial=0.01)
        start = time.perf_counter()
        first = run(m.chat(req("hello", n=1, seed=5, max_tokens=9)))  # 429, then 500, then an answer
        assert time.perf_counter() - start >= 0.1  # honoured Retry-After
        assert first.texts == ["answer-5"] and len(stub.bodies) == 3
        resp = run(m.chat(req("hello", n=2, seed=5, grammar='root ::= "a"', max_tokens=9)))
        assert sorted(resp.texts) == ["answer-5", "answer-6"]  # n drawn as parallel requests, seeds offset
        assert resp.usage.prompt_tokens == 14
        last = stub.bodies[-1]
        assert last["model"] == "stub-model" and last["max_tokens"] == 9 and last["grammar"] == 'root ::= "a"'
        assert last["messages"] == [{"role": "user", "content": "hello"}]
        assert ctx.ledger.total().calls == 2 and ctx.ledger.total().retries == 2


def test_openai_backend_maps_4xx_to_non_retryable() -> None:
    def handler(body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        return 400, {}, {"error": {"message": "context length exceeded", "type": "invalid_request_error"}}

    with OpenAIStub(handler) as stub:
        m = ManagedModel(load_model(f"openai:m@{stub.base_url}"), backoff_initial=0.01)
        with pytest.raises(ModelRequestError):
            run(m.chat(req()))
        assert len(stub.bodies) == 1


def test_remote_calls_are_blocked_in_tests() -> None:
    with pytest.raises(ModelUnavailable, match="blocked"):
        run(load_model("openai:gpt-4o-mini").chat(req()))


def test_unknown_spec_says_what_is_valid() -> None:
    with pytest.raises(ValueError, match="local:small"):
        load_model("nope:thing")


def test_litellm_backend_against_loopback_server() -> None:
    import importlib.util

    if importlib.util.find_spec("litellm") is None:  # find, do not import: the backend imports it offline-safe
        pytest.skip("litellm not installed (pip install '.[litellm]')")
    replies = [(503, {"retry-after": "0"}, {"error": {"message": "overloaded", "type": "server_error"}})]

    def handler(body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if replies:
            return replies.pop(0)
        return 200, {}, completion(["via litellm"])

    with OpenAIStub(handler) as stub:
        model = load_model(f"litellm:openai/stub-model@{stub.base_url}")
        m = ManagedModel(model, backoff_initial=0.01)
        resp = run(m.chat(req("hello", n=2, max_tokens=5)))
        # no offline price-map stall: litellm is imported with its local cost map, never fetching one
        assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"
        assert resp.texts == ["via litellm", "via litellm"]
        assert stub.bodies[-1]["model"] == "stub-model"


# ----------------------------------------------------------------------------- capabilities and spec options


def test_spec_options_set_grammar_and_native_n_and_keywords_win() -> None:
    m = load_model("openai:qwen@http://127.0.0.1:8000/v1#grammar=off,native_n=on")
    assert isinstance(m, OpenAIModel) and m.native_n and "grammar" not in m.capabilities
    assert m.base_url == "http://127.0.0.1:8000/v1" and m.grammar_field is None
    m = load_model("openai:qwen@http://127.0.0.1:8000/v1#grammar=off", grammar=True)
    assert isinstance(m, OpenAIModel) and "grammar" in m.capabilities and not m.native_n
    m = load_model("openai:gpt-4o-mini#grammar=on")
    assert isinstance(m, OpenAIModel) and "grammar" in m.capabilities and m.native_n
    lite = load_model("litellm:openai/x@http://127.0.0.1:8000/v1#grammar=on")
    assert isinstance(lite, LiteLLMModel) and lite.capabilities == CAPABILITIES
    assert "grammar" not in load_model("litellm:openai/x").capabilities  # type: ignore[attr-defined]
    for bad in ("openai:m#grammar=maybe", "openai:m#colour=on", "litellm:openai/m#native_n=on"):
        with pytest.raises(ValueError, match=r"grammar=on\|off"):
            load_model(bad)
    with pytest.raises(ValueError, match="unknown capabilities"):
        OpenAIModel("m", capabilities={"grammer"})


def test_grammar_off_means_refused_not_dropped() -> None:
    with OpenAIStub() as stub:
        m = load_model(f"openai:m@{stub.base_url}#grammar=off")
        with pytest.raises(UnsupportedRequest, match="grammar") as info:
            run(m.chat(req(grammar='root ::= "a"')))
        assert info.value.option == "grammar" and stub.bodies == []
        assert run(m.chat(req("plain"))).texts == ["plain"]
        # the grammar-capable default sends it in the body field llama.cpp reads
        on = load_model(f"openai:m@{stub.base_url}")
        assert run(on.chat(req("q", grammar='root ::= "yes"'))).texts == ["yes"]
        assert stub.bodies[-1]["grammar"] == 'root ::= "yes"'


def test_litellm_sends_the_grammar_when_enabled() -> None:
    import importlib.util

    if importlib.util.find_spec("litellm") is None:
        pytest.skip("litellm not installed (pip install '.[litellm]')")
    with OpenAIStub() as stub:
        m = load_model(f"litellm:openai/m@{stub.base_url}#grammar=on")
        assert run(m.chat(req("q", grammar='root ::= "no"'))).texts == ["no"]
        assert stub.bodies[-1]["grammar"] == 'root ::= "no"'


def test_native_n_server_returning_fewer_choices_is_unsupported_n() -> None:
    with OpenAIStub(lambda body: (200, {}, completion(["only one"]))) as stub:
        m = load_model(f"openai:m@{stub.base_url}#native_n=on")
        with pytest.raises(UnsupportedRequest, match="native_n=off") as info:
            run(m.chat(req(n=3, temperature=0.8)))
        assert info.value.option == "n" and stub.bodies[-1]["n"] == 3


def test_scripted_model_honours_stop_max_tokens_logprobs_and_declared_capabilities() -> None:
    m = ScriptedModel(lambda r, i: "one two three\nfour five six")
    resp = run(m.chat(req(stop=("\n",))))
    assert resp.texts == ["one two three"] and resp.choices[0].finish_reason == "stop"
    resp = run(m.chat(req(max_tokens=4, logprobs=True)))
    assert resp.texts == ["one two three\nfour"] and resp.choices[0].finish_reason == "length"
    assert [t.token for t in resp.choices[0].logprobs or ()] == ["one", "two", "three", "four"]
    assert m.capabilities == CAPABILITIES
    narrow = ScriptedModel(["x"], capabilities={"n", "stop"})
    with pytest.raises(UnsupportedRequest, match="json_schema"):
        run(narrow.chat(req(response_format={"type": "json_object"})))
    assert narrow.requests == []  # refused before the script was consumed
    assert run(narrow.chat(req(stop=("y",)))).texts == ["x"]


def test_replay_reports_recorded_usage_finish_reason_and_logprobs(tmp_path) -> None:
    path = tmp_path / "rec.jsonl"
    rec = RecordingModel(ScriptedModel(lambda r, i: f"a b c d {i}"), path)
    recorded = run(rec.chat(req("one two", n=2, max_tokens=3, logprobs=True, temperature=0.5)))
    replayed = run(ReplayModel(path).chat(req("one two", n=2, max_tokens=3, logprobs=True, temperature=0.5)))
    assert replayed.usage == recorded.usage and replayed.usage.completion_tokens == 6
    assert [c.finish_reason for c in replayed.choices] == ["length", "length"]
    assert replayed.choices[0].logprobs == recorded.choices[0].logprobs
    assert rec.capabilities == CAPABILITIES
    # a recording from before usage was kept still replays, with estimated usage
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps({"key": request_key(req("hi")), "sample": 0, "text": "x y"}) + "\n")
    resp = run(load_model(f"replay:{old}").chat(req("hi")))
    assert resp.texts == ["x y"] and resp.usage.completion_tokens == 2 and resp.usage.prompt_tokens == 1


def test_requested_options_and_capabilities_through_wrappers() -> None:
    assert requested_options(req()) == frozenset()
    full = req(n=2, stop=("x",), seed=1, response_format={"type": "json_object"}, grammar="g", top_logprobs=1)
    assert requested_options(full) == CAPABILITIES
    assert capabilities_of(ManagedModel(ScriptedModel(["x"], capabilities=()))) == frozenset()
    assert capabilities_of(Flaky([])) == CAPABILITIES  # declares nothing: trusted to refuse by itself


def test_retry_after_parsing() -> None:
    from thinkgraph.llm.remote import parse_retry_after

    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({}) is None
