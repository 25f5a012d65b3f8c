"""The persistent sample cache: keyed by request and sample index (n=8 then n=12 draws 4 more), a warm rerun
sends no request (Python API and ``--cache`` on ask, run and eval), greedy samples share one entry, samples are
never copies of one another, cached samples are marked and accounted, concurrent calls do not draw twice, and a
process killed while writing leaves a usable file."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from loopback_server import LoopbackServer
from openai_stub import completion
from thinkgraph.cli import main
from thinkgraph.llm import ChatRequest, ManagedModel, load_model
from thinkgraph.llm.cache import CachedModel, CacheError, SampleCache, cache_key
from thinkgraph.messages import Note
from thinkgraph.runtime import Budget, BudgetExceeded, Ledger, RunContext
from thinkgraph.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]


def req(text: str = "q", **kw: Any) -> ChatRequest:
    return ChatRequest.of([("user", text)], **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def by_seed_and_index(r: ChatRequest, i: int) -> str:
    """A fake model whose sample i of a request seeded s is the sample of seed s + i (as split requests draw)."""
    return f"sample of seed {None if r.seed is None else r.seed + i} temp {r.temperature}"


def test_n8_then_n12_reuses_8_and_asks_for_the_4_after_them(tmp_path: Path) -> None:
    inner = ScriptedModel(by_seed_and_index)
    model = CachedModel(inner, tmp_path / "c.sqlite")
    eight = run(model.chat(req(n=8, temperature=0.7, seed=100)))
    twelve = run(model.chat(req(n=12, temperature=0.7, seed=100)))
    assert [(r.n, r.seed) for r in inner.requests] == [(8, 100), (4, 108)]
    assert twelve.texts[:8] == eight.texts and len(set(twelve.texts)) == 12  # never copies of samples 0..3
    assert twelve.texts == [f"sample of seed {100 + i} temp 0.7" for i in range(12)]
    assert [c.cached for c in twelve.choices] == [True] * 8 + [False] * 4 and twelve.cached == 8
    assert model.store.count() == 12 and (model.hits, model.misses) == (8, 12)


def test_unseeded_samples_are_stored_by_index_and_a_rerun_returns_them(tmp_path: Path) -> None:
    counter = iter(range(1000))
    inner = ScriptedModel(lambda r, i: f"draw {next(counter)}")
    model = CachedModel(inner, tmp_path / "c.sqlite")
    first = run(model.chat(req(n=3, temperature=1.0)))
    again = run(CachedModel(ScriptedModel([]), tmp_path / "c.sqlite").chat(req(n=3, temperature=1.0)))
    assert first.texts == again.texts == ["draw 0", "draw 1", "draw 2"] and again.cached == 3
    more = run(model.chat(req(n=5, temperature=1.0)))
    assert more.texts[:3] == first.texts and more.texts[3:] == ["draw 3", "draw 4"]
    assert [r.n for r in inner.requests] == [3, 2]


def test_every_sampling_parameter_and_the_model_are_in_the_key(tmp_path: Path) -> None:
    base = req(n=2, temperature=0.7, seed=1)
    variants = [
        base.model_copy(update={"temperature": 0.8}),
        base.model_copy(update={"seed": 2}),
        base.model_copy(update={"max_tokens": 9}),
        base.model_copy(update={"stop": ("x",)}),
        base.model_copy(update={"grammar": 'root ::= "a"'}),
        base.model_copy(update={"response_format": {"type": "json_object"}}),
        base.model_copy(update={"logprobs": True}),
        req("other", n=2, temperature=0.7, seed=1),
    ]
    keys = {cache_key("m", r) for r in [base, *variants]} | {cache_key("other-model", base)}
    assert len(keys) == len(variants) + 1  # the seed is not: it is where a request starts in the seeded stream
    assert cache_key("m", base) == cache_key("m", base.model_copy(update={"seed": 2}))
    assert cache_key("m", base) != cache_key("m", base.model_copy(update={"seed": None}))
    assert cache_key("m", base) == cache_key("m", base.model_copy(update={"n": 7}))  # n is not: samples are indexed
    inner = ScriptedModel(by_seed_and_index)
    model = CachedModel(inner, tmp_path / "c.sqlite")
    for r in [base, *variants, base]:
        run(model.chat(r))
    assert len(inner.requests) == len(variants) + 1  # only the repeated base request was served from the cache


def test_greedy_samples_share_one_entry_unless_told_not_to(tmp_path: Path) -> None:
    inner = ScriptedModel(lambda r, i: f"greedy {i}")
    model = CachedModel(inner, tmp_path / "c.sqlite")
    three = run(model.chat(req(n=3, temperature=0.0, seed=5)))
    assert three.texts == ["greedy 0"] * 3 and [r.n for r in inner.requests] == [1]
    assert [c.cached for c in three.choices] == [False, True, True]
    other_seed = run(model.chat(req(n=1, temperature=0.0, seed=9)))  # the seed does not matter at temperature 0
    assert other_seed.texts == ["greedy 0"] and other_seed.cached == 1 and len(inner.requests) == 1
    strict = CachedModel(ScriptedModel(lambda r, i: f"greedy {i}"), tmp_path / "d.sqlite", share_greedy=False)
    assert run(strict.chat(req(n=3, temperature=0.0))).texts == ["greedy 0", "greedy 1", "greedy 2"]


def test_usage_of_cached_samples_is_what_they_cost_and_is_marked(tmp_path: Path) -> None:
    inner = ScriptedModel(lambda r, i: "one two three" if i == 0 else "four five")
    model = CachedModel(inner, tmp_path / "c.sqlite")
    cold = run(model.chat(req("a b c d", n=2, temperature=0.7, seed=0)))
    warm = run(model.chat(req("a b c d", n=2, temperature=0.7, seed=0)))
    assert cold.cached == 0 and cold.cached_usage.completion_tokens == 0
    assert warm.cached == 2 and warm.usage == cold.usage == warm.cached_usage
    assert cold.usage.completion_tokens == 5 and cold.usage.prompt_tokens == 4


def test_managed_model_accounts_cached_samples_and_notes_them_in_the_trace(tmp_path: Path) -> None:
    inner = ScriptedModel(by_seed_and_index)
    cached = CachedModel(inner, tmp_path / "c.sqlite")
    cold_ctx, warm_ctx = RunContext(), RunContext()
    run(ManagedModel(cached, cold_ctx).chat(req(n=4, temperature=0.7, seed=0)))
    run(ManagedModel(cached, warm_ctx).chat(req(n=4, temperature=0.7, seed=0)))
    assert vars(cold_ctx.ledger.total()) == {
        **vars(warm_ctx.ledger.total()),
        "seconds": cold_ctx.ledger.total().seconds,
    }
    assert warm_ctx.ledger.total().samples == 4 and len(inner.requests) == 1
    notes = [e for e in warm_ctx.tracer.events if isinstance(e, Note)]
    assert len(notes) == 1 and "4 of 4 samples" in notes[0].text and "(all)" in notes[0].text
    assert not [e for e in cold_ctx.tracer.events if isinstance(e, Note)]
    # budgets count cached samples too: a rerun stops where the first run stopped
    tight = RunContext(ledger=Ledger(budget=Budget(max_calls=1)))
    managed = ManagedModel(cached, tight)
    run(managed.chat(req(n=4, temperature=0.7, seed=0)))
    with pytest.raises(BudgetExceeded):
        run(managed.chat(req(n=4, temperature=0.7, seed=0)))


def test_concurrent_identical_calls_draw_once(tmp_path: Path) -> None:
    calls = []

    class Slow(ScriptedModel):
        async def chat(self, request: ChatRequest) -> Any:
            calls.append(request.n)
            await asyncio.sleep(0.05)
            return await super().chat(request)

    model = CachedModel(Slow(by_seed_and_index), tmp_path / "c.sqlite")

    async def many() -> list[list[str]]:
        return [
            r.texts for r in await asyncio.gather(*[model.chat(req(n=3, temperature=0.7, seed=1)) for _ in range(6)])
        ]

    results = run(many())
    assert calls == [3] and all(r == results[0] for r in results)


def test_a_failed_run_keeps_nothing_and_raises(tmp_path: Path) -> None:
    from thinkgraph.llm.base import ServerError

    class Flaky(ScriptedModel):
        async def chat(self, request: ChatRequest) -> Any:
            raise ServerError("boom")

    model = CachedModel(Flaky(by_seed_and_index), tmp_path / "c.sqlite")
    with pytest.raises(ServerError):
        run(model.chat(req(n=2, temperature=0.7)))
    assert model.store.count() == 0


def test_capabilities_pass_through_and_unsupported_options_are_refused_before_the_cache(tmp_path: Path) -> None:
    from thinkgraph.llm import UnsupportedRequest, capabilities_of

    model = CachedModel(ScriptedModel(["x"], capabilities={"n"}), tmp_path / "c.sqlite")
    assert capabilities_of(model) == {"n"}
    with pytest.raises(UnsupportedRequest):
        run(model.chat(req(grammar='root ::= "a"')))


def test_a_file_that_is_not_a_cache_is_refused_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("my notes")
    with pytest.raises(CacheError, match="not a thinkgraph sample cache"):
        SampleCache(text)
    assert text.read_text() == "my notes"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(CacheError, match="other tables"):
        SampleCache(other)
    with pytest.raises(CacheError, match="does not exist"):
        SampleCache(tmp_path / "no" / "such" / "dir" / "c.sqlite")
    with pytest.raises(CacheError, match="not a file"):
        SampleCache(tmp_path)


def test_closing_and_using_again_reopens(tmp_path: Path) -> None:
    model = CachedModel(ScriptedModel(by_seed_and_index), tmp_path / "c.sqlite")
    run(model.chat(req(n=2, temperature=0.5, seed=0)))
    run(model.aclose())
    assert run(model.chat(req(n=2, temperature=0.5, seed=0))).cached == 2


KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from thinkgraph.llm import ChatRequest
    from thinkgraph.llm.cache import CachedModel
    from thinkgraph.testing import ScriptedModel

    async def main():
        model = CachedModel(ScriptedModel(lambda r, i: "x" * 2000 + str(i)), sys.argv[1])
        for k in range(100000):
            await model.chat(ChatRequest.of([("user", f"q{k}")], n=8, temperature=0.7))
            if k == 20:
                print("writing", flush=True)

    asyncio.run(main())
    """
)


def test_a_process_killed_while_writing_leaves_a_usable_cache(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = SampleCache(path)
    count = store.count()
    assert count >= 21 * 8 and count % 8 == 0  # whole calls only: each call's samples are one transaction
    model = CachedModel(ScriptedModel([]), store)  # an empty script: any request to the model would fail
    assert run(model.chat(req("q3", n=8, temperature=0.7))).cached == 8


# ----------------------------------------------------------------------------- against a server, and the CLI


def answers(body: dict[str, Any]) -> Any:
    n, seed = int(body.get("n") or 1), body.get("seed")
    return 200, {}, completion([f"Reasoning {seed}:{i}.\nAnswer: True" for i in range(n)])


def test_warm_rerun_sends_no_request_through_the_python_api(tmp_path: Path) -> None:
    with LoopbackServer(answers) as server:
        for _ in range(2):
            model = load_model(f"openai:m@{server.base_url}", cache=tmp_path / "c.sqlite")
            assert isinstance(model, CachedModel)
            resp = run(model.chat(req(n=32, temperature=0.7, seed=0)))
            assert len(set(resp.texts)) == 32
            run(model.aclose())
        assert server.requests == 1  # the second run: none


@pytest.mark.parametrize("native", ["on", "off"])
def test_ask_with_cache_reruns_without_requests(
    tmp_path: Path, native: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackServer(answers) as server:
        spec = f"openai:m@{server.base_url}#native_n={native}"
        argv = ["ask", "--example", "--workflow", "cot", "-k", "8", "--model", spec, "--cache", str(tmp_path / "c")]
        assert main(argv) == 0
        cold = capsys.readouterr()
        assert server.requests == (1 if native == "on" else 8)
        assert main(argv) == 0
        warm = capsys.readouterr()
        assert server.requests == (1 if native == "on" else 8)  # nothing more
        assert "8 of 8 samples" in warm.err and "from the cache" not in cold.err
        # the same answer and the same accounting, cold or warm
        assert cold.out.splitlines()[:2] == warm.out.splitlines()[:2]
        usage = next(line for line in cold.out.splitlines() if line.startswith("usage:")).split(";")[0]
        assert usage in warm.out


def test_run_and_eval_take_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = json.dumps({"premises": ["All cats are animals.", "Tom is a cat."], "conclusion": "Tom is an animal."})
    data = ROOT / "tests" / "fixtures" / "datasets" / "proofwriter.json"
    with LoopbackServer(answers) as server:
        spec = f"openai:m@{server.base_url}"
        cache = str(tmp_path / "c.sqlite")
        run_argv = ["run", "cot", "--input", problem, "--model", spec, "--cache", cache, "--json", "-q"]
        run_argv += ["--set", "reason.samples=4"]
        assert main(run_argv) == 0
        after_run = server.requests
        assert main(run_argv) == 0 and server.requests == after_run
        eval_argv = ["eval", "proofwriter", str(data), "--workflow", "cot", "--model", spec, "--cache", cache]
        eval_argv += ["--limit", "3", "--json", "-q"]
        assert main(eval_argv) == 0
        after_eval = server.requests
        assert after_eval > after_run
        assert main(eval_argv) == 0 and server.requests == after_eval
    capsys.readouterr()


def test_cli_refuses_a_cache_path_that_is_not_a_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("keep me")
    code = main(["ask", "--example", "--model", "openai:m@http://127.0.0.1:9/v1", "--cache", str(bad), "-q"])
    assert code == 2 and "not a thinkgraph sample cache" in capsys.readouterr().err
    assert bad.read_text() == "keep me"


def test_a_seeded_request_is_a_slice_of_one_stream_shared_by_batched_and_whole_draws(tmp_path: Path) -> None:
    inner = ScriptedModel(by_seed_and_index)
    model = CachedModel(inner, tmp_path / "c.sqlite")
    whole = run(model.chat(req(n=5, temperature=0.7, seed=0)))
    batches = [run(model.chat(req(n=2, temperature=0.7, seed=s))) for s in (0, 2)]
    last = run(model.chat(req(n=2, temperature=0.7, seed=4)))  # samples 4 and 5: 4 is cached, 5 is new
    assert [c.text for b in batches for c in b.choices] == [c.text for c in whole.choices][:4]
    assert last.choices[0].text == whole.choices[4].text and last.choices[0].cached and not last.choices[1].cached
    assert len(inner.requests) == 2 and inner.requests[1].seed == 5 and inner.requests[1].n == 1
    texts = [c.text for c in whole.choices] + [last.choices[1].text]
    assert len(set(texts)) == 6  # never a copy of another sample


def test_run_cache_covers_the_models_a_workflow_file_names_per_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = json.dumps({"premises": ["All cats are animals."], "conclusion": "Tom is an animal."})
    with LoopbackServer(answers) as server:
        wf = tmp_path / "wf.yaml"
        wf.write_text(
            "workflow: per-node\ninput: problem\noutput: answer\nnodes:\n"
            f"  reason: {{use: cot.reason, model: 'openai:m@{server.base_url}', with: {{samples: 3}}}}\n"
            "  vote: {use: cot.vote}\nedges:\n  - {from: reason, to: vote}\n"
        )
        argv = ["run", str(wf), "--input", problem, "--cache", str(tmp_path / "c.sqlite"), "--json", "-q"]
        assert main(argv) == 0
        cold = server.requests
        assert cold >= 1
        assert main(argv) == 0 and server.requests == cold  # the node's own model was cached too
    capsys.readouterr()
