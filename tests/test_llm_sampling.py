"""Parallel sampling: ``n`` in one request where the server takes it, parallel requests otherwise (learnt and
remembered per server), under a concurrency limit, never copies of one sample; and the small HTTP client that
talks to plain-http servers (keep-alive, chunked bodies, a stale connection, timeouts)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from loopback_server import LoopbackServer
from openai_stub import completion, error, fake_server, fake_text
from thinkgraph.llm import ChatRequest, ManagedModel, ModelRequestError, load_model
from thinkgraph.llm.base import merge_responses, sample_slice
from thinkgraph.llm.remote import OpenAIModel
from thinkgraph.runtime import RunContext


def req(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest.of([("user", text)], **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def openai_at(server: LoopbackServer, options: str = "", **kw: Any) -> OpenAIModel:
    model = load_model(f"openai:m@{server.base_url}" + (f"#{options}" if options else ""), **kw)
    assert isinstance(model, OpenAIModel)
    return model


# ----------------------------------------------------------------------------- n in one request, or split


def test_native_n_sends_one_request_for_n_samples() -> None:
    with LoopbackServer() as server:
        model = openai_at(server, "native_n=on")
        resp = run(model.chat(req(n=8, temperature=0.9, seed=3)))
        assert len(resp.texts) == 8 and len(set(resp.texts)) == 8
        assert server.requests == 1 and server.bodies[0]["n"] == 8


def test_split_sends_one_request_per_sample_with_seed_plus_index() -> None:
    with LoopbackServer() as server:
        model = openai_at(server, "native_n=off")
        resp = run(model.chat(req(n=5, temperature=0.9, seed=100)))
        assert server.requests == 5 and all("n" not in b for b in server.bodies)
        assert sorted(b["seed"] for b in server.bodies) == [100, 101, 102, 103, 104]
        assert len(set(resp.texts)) == 5  # never n copies of one sample
        # in index order: sample i is the one drawn with seed + i, as the native path numbers them
        assert resp.texts == [fake_text("hello", temperature=0.9, seed=100 + i) for i in range(5)]


def test_split_without_a_seed_sends_no_seed() -> None:
    with LoopbackServer() as server:
        run(openai_at(server, "native_n=off").chat(req(n=3, temperature=0.9)))
        assert server.requests == 3 and all("seed" not in b for b in server.bodies)


def test_auto_uses_n_where_the_server_takes_it_and_remembers() -> None:
    with LoopbackServer() as server:
        model = openai_at(server)  # the default for a non-OpenAI server: auto
        assert model.native_n is None and model.samples_in_one_request is None
        assert len(run(model.chat(req(n=6, temperature=0.9))).texts) == 6
        assert server.requests == 1 and model.samples_in_one_request is True
        assert openai_at(server).samples_in_one_request is True  # remembered for this server


def test_auto_falls_back_when_the_server_returns_fewer_samples_and_remembers() -> None:
    def one_choice(body: dict[str, Any]) -> Any:  # Ollama-like: ignores n
        return 200, {}, completion([f"seed {body.get('seed')}"])

    with LoopbackServer(one_choice) as server:
        model = openai_at(server)
        resp = run(model.chat(req(n=4, temperature=0.9, seed=10)))
        # the one sample the n-request returned is sample 0 (seed 10); samples 1..3 come from seeds 11..13
        assert resp.texts == ["seed 10", "seed 11", "seed 12", "seed 13"]
        assert server.requests == 4 and server.bodies[0]["n"] == 4
        assert model.samples_in_one_request is False
        server.bodies.clear()
        run(model.chat(req(n=3, temperature=0.9, seed=1)))
        assert len(server.bodies) == 3 and all("n" not in b for b in server.bodies)  # no n-request tried again


def test_auto_falls_back_when_the_server_refuses_n() -> None:
    def llama_cpp(body: dict[str, Any]) -> Any:  # "n must be 1"
        if int(body.get("n") or 1) != 1:
            return error(400, "Field 'n': Value must be between 1 <= value <= 1")
        return fake_server(body)

    with LoopbackServer(llama_cpp) as server:
        model = openai_at(server)
        resp = run(model.chat(req(n=3, temperature=0.9, seed=0)))
        assert len(set(resp.texts)) == 3 and server.requests == 4  # one refused n-request, then 3
        assert model.samples_in_one_request is False


def test_auto_raises_a_request_that_is_wrong_whatever_n_is() -> None:
    with LoopbackServer(lambda body: error(400, "context length exceeded")) as server:
        model = openai_at(server)
        with pytest.raises(ModelRequestError, match="context length"):
            run(model.chat(req(n=8, temperature=0.9)))
        assert server.requests == 2  # the n-request, then sample 0 alone (not 8 doomed requests)
        assert model.samples_in_one_request is None  # nothing learnt


def test_split_requests_respect_the_concurrency_limit() -> None:
    with LoopbackServer(delay_s=0.05) as server:
        model = openai_at(server, "native_n=off,concurrency=4")
        assert model.max_concurrency == 4
        resp = run(model.chat(req(n=12, temperature=0.9)))
        assert len(resp.texts) == 12 and server.peak == 4
    with LoopbackServer(delay_s=0.05) as server:
        run(openai_at(server, "native_n=off").chat(req(n=12, temperature=0.9)))
        assert server.peak == 12  # the default limit (32) lets them all go at once


def test_split_samples_overlap_in_time() -> None:
    with LoopbackServer(delay_s=0.2) as server:
        model = openai_at(server, "native_n=off")
        run(model.chat(req(n=1)))  # warm
        start = time.perf_counter()
        run(model.chat(req(n=16, temperature=0.9)))
        assert time.perf_counter() - start < 0.2 * 4  # sequential would take 3.2 s


def test_ledger_counts_samples_and_tokens_of_split_and_native_calls() -> None:
    for options in ("native_n=off", "native_n=on"):
        with LoopbackServer() as server:
            ctx = RunContext()
            model = ManagedModel(openai_at(server, options), ctx)
            resp = run(model.chat(req("one two three", n=4, temperature=0.9)))
            total = ctx.ledger.total()
            assert total.calls == 1 and total.samples == 4
            assert total.completion_tokens == resp.usage.completion_tokens > 0
            # split: the prompt is sent (and billed) 4 times; native: once
            assert total.prompt_tokens == (12 if options == "native_n=off" else 3)


def test_sample_slice_and_merge() -> None:
    r = req(n=12, temperature=0.7, seed=5)
    part = sample_slice(r, 8, 4)
    assert part.n == 4 and part.seed == 13 and part.messages == r.messages and part.temperature == 0.7
    assert sample_slice(req(n=3, temperature=0.7), 1, 2).seed is None
    with LoopbackServer() as server:
        model = openai_at(server, "native_n=off")
        a, b = run(model.chat(sample_slice(r, 0, 2))), run(model.chat(sample_slice(r, 2, 1)))
        merged = merge_responses("m", [a, b], 0.1)
        assert merged.texts == a.texts + b.texts
        assert merged.usage.completion_tokens == a.usage.completion_tokens + b.usage.completion_tokens


def test_spec_options_for_sampling() -> None:
    m = load_model("openai:q@http://127.0.0.1:9/v1#native_n=auto,concurrency=7,client=sdk")
    assert isinstance(m, OpenAIModel) and m.native_n is None and m.max_concurrency == 7 and not m.direct
    assert load_model("openai:q@http://127.0.0.1:9/v1").direct  # type: ignore[attr-defined]
    assert not load_model("openai:q@https://example.org/v1").direct  # type: ignore[attr-defined]
    assert load_model("openai:gpt-4o-mini").native_n is True  # type: ignore[attr-defined]
    for bad in ("openai:q#concurrency=0", "openai:q#client=curl", "openai:q#native_n=maybe"):
        with pytest.raises(ValueError, match=r"native_n=on\|off\|auto, concurrency=N, client=auto\|direct\|sdk"):
            load_model(bad)
    with pytest.raises(ValueError, match="plain http"):
        OpenAIModel("q", "https://example.org/v1", client="direct")


def test_sdk_and_direct_clients_agree() -> None:
    with LoopbackServer() as server:
        r = req("same words", n=3, temperature=0.9, seed=4, stop=("words",), logprobs=True, top_logprobs=2)
        direct = run(openai_at(server, "native_n=on,client=direct").chat(r))
        sdk = run(openai_at(server, "native_n=on,client=sdk").chat(r))
        assert direct.choices == sdk.choices and direct.usage == sdk.usage
        assert server.bodies[0] == server.bodies[1]


# ----------------------------------------------------------------------------- the small HTTP client


def test_direct_client_reuses_connections() -> None:
    with LoopbackServer() as server:
        model = openai_at(server)

        async def calls() -> None:
            for _ in range(5):
                await model.chat(req())
            await model.aclose()

        run(calls())
        assert server.requests == 5 and server.connections == 1


def test_direct_client_reads_chunked_bodies() -> None:
    with LoopbackServer(chunked=True) as server:
        resp = run(openai_at(server, "native_n=on").chat(req("chunked body", n=2, temperature=0.9)))
        assert len(resp.texts) == 2 and resp.texts[0].startswith("chunked body")


def test_direct_client_retries_once_on_a_connection_the_server_closed() -> None:
    with LoopbackServer() as server:
        model = openai_at(server)

        async def calls() -> list[str]:
            first = await model.chat(req("a"))
            server.drop_idle()
            await asyncio.sleep(0.2)
            second = await model.chat(req("b"))  # the pooled connection is dead: a fresh one, transparently
            await model.aclose()
            return first.texts + second.texts

        assert run(calls()) == ["a", "b"]
        assert server.requests == 2 and server.connections == 2


def test_direct_client_timeout_is_a_retryable_model_timeout() -> None:
    from thinkgraph.llm.base import ModelTimeoutError

    with LoopbackServer(delay_s=1.0) as server:
        model = openai_at(server, timeout_s=0.2)
        start = time.perf_counter()
        with pytest.raises(ModelTimeoutError):
            run(model.chat(req()))
        assert time.perf_counter() - start < 0.9


def test_direct_client_connection_refused_is_retryable() -> None:
    from thinkgraph.llm.base import ServerError
    from thinkgraph.llm.vllm import free_port

    model = load_model(f"openai:m@http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ServerError, match="connection failed"):
        run(model.chat(req()))
