"""The real embedded backend (llama.cpp via xllamacpp) with the small pinned model (Qwen2.5-Coder-0.5B).

These load a real model and generate tokens: seconds each.  One model is shared by the module.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from thinkgraph.agents.linc import LincConfig
from thinkgraph.agents.translator import FOL_GRAMMAR, TranslatorConfig
from thinkgraph.graphs.linc import solve
from thinkgraph.llm import ChatRequest, load_model
from thinkgraph.llm.local import PINNED, LocalModel, assemble
from thinkgraph.logic.fol import parse
from thinkgraph.messages import Problem
from thinkgraph.runtime import RunContext

pytestmark = pytest.mark.slow
xllamacpp = pytest.importorskip("xllamacpp")


@pytest.fixture(scope="module")
def model() -> Iterator[LocalModel]:
    m = load_model("local:small", n_parallel=2)
    assert isinstance(m, LocalModel)
    yield m
    asyncio.run(m.aclose())


def test_weights_are_assembled_once_and_hash_checked(tmp_path) -> None:
    pinned = PINNED["qwen2.5-coder-0.5b"]
    path = assemble(pinned, tmp_path)
    assert path.stat().st_size == pinned.size
    mtime = path.stat().st_mtime_ns
    assert assemble(pinned, tmp_path) == path and path.stat().st_mtime_ns == mtime  # cached, not rebuilt


def test_chat_samples_grammar_schema_and_logprobs(model: LocalModel) -> None:
    ask = [("system", "Translate English to first-order logic."), ("user", "Sentence: All cats are animals.")]
    resp = asyncio.run(
        model.chat(ChatRequest.of(ask, n=2, temperature=0.8, max_tokens=40, grammar=FOL_GRAMMAR, seed=1))
    )
    assert len(resp.texts) == 2 and resp.usage.completion_tokens > 0
    for text in resp.texts:
        parse(text)  # the grammar admits only well-formed formulas
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "f",
            "schema": {"type": "object", "properties": {"formula": {"type": "string"}}, "required": ["formula"]},
        },
    }
    resp = asyncio.run(model.chat(ChatRequest.of(ask, max_tokens=60, response_format=schema)))
    assert "formula" in json.loads(resp.texts[0])
    resp = asyncio.run(model.chat(ChatRequest.of(ask, max_tokens=4, logprobs=True, top_logprobs=2)))
    lp = resp.choices[0].logprobs
    assert lp is not None and len(lp) >= 1 and all(t.logprob <= 0 for t in lp)


def test_openai_backend_against_the_real_llama_cpp_http_server(model: LocalModel) -> None:
    """llama.cpp serves the OpenAI protocol on loopback: drive it with the official openai SDK."""
    server = model._ensure()
    spec = f"openai:qwen@{server.listening_address}/v1"
    remote = load_model(spec)

    async def go() -> list[str]:
        try:
            req = ChatRequest.of([("user", "Sentence: Bob is big.")], n=2, max_tokens=20, grammar=FOL_GRAMMAR, seed=3)
            return (await remote.chat(req)).texts
        finally:
            await remote.aclose()

    texts = asyncio.run(go())
    assert len(texts) == 2
    for t in texts:
        parse(t)  # the grammar travelled in the request body


def test_linc_end_to_end_on_the_real_model(model: LocalModel) -> None:
    problem = Problem(premises=("All cats are animals.", "Tom is a cat."), conclusion="Tom is an animal.")
    ctx = RunContext()
    config = LincConfig(translator=TranslatorConfig(samples=2))
    answer = asyncio.run(solve(problem, model, config=config, ctx=ctx))
    # the small model may or may not get it right; the run must end in a well-formed answer either way
    assert answer.status in ("verified", "voted", "abstained")
    if answer.status != "abstained":
        assert answer.evidence.verdict is not None and answer.evidence.formalization is not None
    else:
        assert answer.evidence.reason
    total = ctx.ledger.total()
    assert total.calls >= 3 and total.completion_tokens > 0
    assert [e.node for e in ctx.tracer.events if e.kind == "node_finished"] == ["translate", "prove", "vote"]
