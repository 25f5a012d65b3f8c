"""Embedders, faiss specifics, and the uses of memory: translator examples, episodic recall (re-verified),
premise retrieval, the memory.* nodes in a YAML workflow, and the ``thinkgraph memory`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import EXAMPLE_FORMULAS
from openai_stub import OpenAIStub
from thinkgraph.agents.examples import ExampleBank
from thinkgraph.agents.translator import SentenceTranslator, TranslatorConfig
from thinkgraph.cli import main
from thinkgraph.graphs.yaml_loader import loads_workflow
from thinkgraph.logic.records import Answer, Evidence, Problem
from thinkgraph.memory import Item, MemoryUnavailable, MemoryUsageError, open_memory
from thinkgraph.memory import faiss_store as fs
from thinkgraph.memory.embed import (
    CachedEmbedder,
    HashEmbedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    default_cache_path,
    load_embedder,
)
from thinkgraph.memory.episodic import EpisodicMemory
from thinkgraph.memory.examples import FORMALIZATION, RetrievedExamples, remember_formalization
from thinkgraph.memory.faiss_store import FaissMemory
from thinkgraph.memory.premises import MemoryPremiseRetriever, Premise, PremiseRetriever, lean_declarations
from thinkgraph.provers.z3 import Z3Prover
from thinkgraph.testing import ScriptedModel

PROBLEM = Problem(
    id="nutty",
    premises=tuple(list(EXAMPLE_FORMULAS)[:4]),
    conclusion="Nutty is a reptile.",
)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKGRAPH_CACHE_DIR", str(tmp_path / "cache"))


def scripted() -> ScriptedModel:
    return ScriptedModel(lambda r, i: EXAMPLE_FORMULAS[r.messages[-1].content.split("Sentence: ")[-1]])


# -- light imports ------------------------------------------------------------------------------------
def test_importing_thinkgraph_its_memory_nodes_and_cli_loads_no_heavy_backend() -> None:
    code = (
        "import sys, thinkgraph, thinkgraph.memory, thinkgraph.memory.nodes, thinkgraph.memory.embed\n"
        "from thinkgraph.cli import build_parser; build_parser()\n"
        "from thinkgraph.graphs.node import registry; assert 'memory.retrieve' in registry()\n"
        "heavy = [m for m in ('faiss', 'torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


# -- embedders ----------------------------------------------------------------------------------------
class Counting:
    spec = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.inner = HashEmbedder(32)

    @property
    def dim(self) -> int:
        return 32

    def embed(self, texts: Any) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


def test_the_cache_embeds_each_text_once_in_memory_and_across_processes_on_disk(tmp_path: Path) -> None:
    inner = Counting()
    cached = CachedEmbedder(inner, tmp_path / "v.sqlite")
    first = cached.embed(["a", "b", "a"])
    assert inner.calls == [["a", "b"]] and first.shape == (3, 32)
    again = cached.embed(["b", "c"])
    assert inner.calls[-1] == ["c"] and np.allclose(again[0], first[1])
    assert (cached.hits, cached.misses) == (2, 3)  # 'a' twice in one call is embedded once
    cached.close()
    other = Counting()
    reopened = CachedEmbedder(other, tmp_path / "v.sqlite")
    assert np.allclose(reopened.embed(["a", "b", "c"]), np.vstack([first[0], first[1], again[1]]))
    assert other.calls == []  # all from the file
    assert reopened.embed([]).shape == (0, 32)
    reopened.close()


def test_specs_name_embedders_and_a_bad_one_says_the_choices(tmp_path: Path) -> None:
    assert isinstance(load_embedder("hash"), HashEmbedder) and load_embedder("hash:64").dim == 64
    default = load_embedder("default")
    assert isinstance(default, CachedEmbedder) and default.spec == "default"
    assert default.path == default_cache_path() == tmp_path / "cache" / "embeddings.sqlite"
    assert load_embedder("st:/models/x", cache=False).spec == "st:/models/x"
    assert load_embedder("openai:emb@http://127.0.0.1:9/v1").spec == "openai:emb@http://127.0.0.1:9/v1"
    with pytest.raises(MemoryUsageError, match="default, st:NAME_OR_PATH, openai:MODEL"):
        load_embedder("word2vec")
    with pytest.raises(MemoryUsageError, match="hash:DIM"):
        load_embedder("hash:big")
    vec = HashEmbedder().embed(["Tom is a cat.", "Tom is a cat.", ""])
    assert np.allclose(vec[0], vec[1]) and np.linalg.norm(vec[0]) == pytest.approx(1.0) and not vec[2].any()


def test_an_openai_compatible_embeddings_endpoint_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = HashEmbedder(16)

    def handler(body: dict[str, Any]) -> Any:
        texts = body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": (hasher.embed([t])[0] * 3).tolist()}
            for i, t in enumerate(texts)
        ]
        data.reverse()  # out of order: the client sorts by index
        return (
            200,
            {},
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}},
        )

    with OpenAIStub(handler) as stub:
        emb = OpenAIEmbedder("emb", stub.base_url, batch_size=2)
        out = emb.embed(["one", "two", "three"])
        assert [b["input"] for b in stub.bodies] == [["one", "two"], ["three"]]
        assert np.allclose(out, hasher.embed(["one", "two", "three"]), atol=1e-6) and emb.dim == 16
    blocked = OpenAIEmbedder("text-embedding-3-small")
    with pytest.raises(MemoryUnavailable, match="non-loopback"):
        blocked.embed(["x"])


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def test_the_default_model_loads_offline_batches_and_reads_other_scripts(minilm: SentenceTransformerEmbedder) -> None:
    texts = ["All cats are mammals.", "The rocket launched from Florida.", "猫是哺乳动物。", "火箭从佛罗里达发射。"]
    batch = minilm.embed(texts)
    assert batch.shape == (4, 384) and minilm.dim == 384
    assert np.allclose(batch, np.vstack([minilm.embed([t]) for t in texts]), atol=1e-5)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_a_real_store_finds_by_meaning_in_english_and_chinese(tmp_path: Path, minilm: Any) -> None:
    mem = open_memory(tmp_path / "m", CachedEmbedder(minilm))
    mem.add(["All cats are mammals.", "The rocket launched from Florida.", "猫是哺乳动物。", "今天的股市下跌了。"])
    assert mem.search("Which animals are mammals?", k=1)[0].text == "All cats are mammals."
    assert mem.search("猫是动物吗？", k=1)[0].text == "猫是哺乳动物。"
    assert mem.search("space launch", k=1)[0].text == "The rocket launched from Florida."
    mem.close()


# -- faiss specifics ----------------------------------------------------------------------------------
def _vectors(n: int, dim: int = 32, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((8, dim))
    return (centers[rng.integers(0, 8, n)] + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)


def _recall(mem: FaissMemory, exact: FaissMemory, queries: np.ndarray) -> float:
    found = 0
    for q in queries:
        truth = {h.id for h in exact.search(q, k=10)}
        found += len(truth & {h.id for h in mem.search(q, k=10)})
    return found / (10 * len(queries))


def test_auto_turns_approximate_at_its_size_and_keeps_recall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs, "AUTO_APPROXIMATE_AT", 600)
    vecs = _vectors(1000)
    auto, exact = FaissMemory(tmp_path / "a", None), FaissMemory(None, None, index="flat")
    items = [Item(f"v{k}", {}, f"v{k}", vecs[k]) for k in range(1000)]
    auto.add(items[:500])
    exact.add(items)
    assert auto.stats()["index"] == "flat"
    auto.add(items[500:])
    assert auto.stats()["index"] == "hnsw" and auto.stats()["index_entries"] == 1000
    assert _recall(auto, exact, vecs[:50] + 0.1) >= 0.95
    auto.close()
    reopened = FaissMemory(tmp_path / "a", None)
    assert reopened.stats()["index"] == "hnsw" and _recall(reopened, exact, vecs[50:80]) >= 0.95
    reopened.close()


def test_ivf_trains_once_the_store_is_big_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs, "IVF_MIN_TRAIN", 800)
    vecs = _vectors(2000)
    ivf, exact = FaissMemory(tmp_path / "i", None, index="ivf"), FaissMemory(None, None, index="flat")
    items = [Item(f"v{k}", {"even": k % 2 == 0}, f"v{k}", vecs[k]) for k in range(2000)]
    ivf.add(items[:500])
    assert ivf.stats()["index"] == "flat"  # too few to train
    ivf.add(items[500:])
    exact.add(items)
    stats = ivf.stats()
    assert stats["index"] == "ivf" and stats["ivf_nlist"] >= 16
    assert _recall(ivf, exact, vecs[:40]) >= 0.95
    ivf.delete([f"v{k}" for k in range(100)])
    assert ivf.stats()["index_entries"] == 1900 and all(
        h.metadata["even"] for h in ivf.search(vecs[0], 5, {"even": True})
    )
    ivf.close()


def test_hnsw_deletions_are_skipped_then_rebuilt_away(tmp_path: Path) -> None:
    vecs = _vectors(3000, 16)
    mem = FaissMemory(tmp_path / "h", None, index="hnsw")
    mem.add([Item(f"v{k}", {}, f"v{k}", vecs[k]) for k in range(3000)])
    mem.delete([f"v{k}" for k in range(500)])
    assert mem.stats()["stale_index_entries"] == 500
    assert all(int(h.id[1:]) >= 500 for h in mem.search(vecs[0], k=20))
    mem.delete([f"v{k}" for k in range(500, 1200)])  # 1,200 stale of 3,000: rebuilt
    assert mem.stats()["stale_index_entries"] == 0 and mem.stats()["index_entries"] == 1800
    mem.close()
    flat = FaissMemory(tmp_path / "h", None, index="flat")  # another kind asked for: rebuilt as asked
    assert flat.stats()["index"] == "flat" and flat.search(vecs[2999], k=1)[0].id == "v2999"
    flat.close()


# -- translator examples ------------------------------------------------------------------------------
def test_the_default_translator_still_selects_by_shape() -> None:
    config = TranslatorConfig()
    assert config.example_selection == "shape" and config.example_store is None
    t = SentenceTranslator(scripted(), config)
    bank = ExampleBank.default()
    for s in EXAMPLE_FORMULAS:
        assert t.select_examples(s) == bank.select(s, 3)


def test_embedding_and_both_selections_rank_the_bank_and_verified_formalizations(tmp_path: Path) -> None:
    bank = ExampleBank.default()
    by_meaning = RetrievedExamples(bank, "embedding", HashEmbedder())
    picked = by_meaning.select("Fiona is big and Fiona is rough.", 3)
    assert len(picked) == 3 and "Fiona" in picked[-1].sentence  # nearest last
    both = RetrievedExamples(bank, "both", HashEmbedder())
    assert len(both.select("No cat is a dog.", 2)) == 2
    assert RetrievedExamples(bank, "shape", HashEmbedder()).select("No cat is a dog.", 3) == bank.select(
        "No cat is a dog.", 3
    )
    store = open_memory(tmp_path / "ex", HashEmbedder())
    remember_formalization(store, "Every squirrel is a rodent.", "∀x (Squirrel(x) → Rodent(x))", run_id="r1")
    store.add([Item("Every squirrel is a rodent, unverified.", {"kind": "note"})])  # not a formalization
    mine = RetrievedExamples(bank, "embedding", HashEmbedder(), store)
    chosen = mine.select("Every squirrel is a mammal.", 3)
    assert chosen[-1].sentence == "Every squirrel is a rodent." and chosen[-1].formula == "∀x (Squirrel(x) → Rodent(x))"
    assert all(c.sentence != "Every squirrel is a rodent, unverified." for c in chosen)
    assert store.search("x", where={"kind": FORMALIZATION})[0].metadata["run_id"] == "r1"
    store.close()


def test_the_translator_prompt_carries_retrieved_examples(tmp_path: Path) -> None:
    store = open_memory(tmp_path / "ex", HashEmbedder())
    remember_formalization(store, "Nutty is a squirrel.", "Squirrel(nutty)")
    store.close()
    model = scripted()
    config = TranslatorConfig(
        samples=1, example_selection="embedding", embedder="hash", example_store=str(tmp_path / "ex")
    )
    import asyncio

    out = asyncio.run(SentenceTranslator(model, config).translate("Nutty is a squirrel."))
    assert out[0].formula == "Squirrel(nutty)"
    with pytest.raises(ValueError, match="shape"):
        TranslatorConfig(example_selection="nearest")  # type: ignore[arg-type]


# -- episodic memory ----------------------------------------------------------------------------------
def _solved() -> tuple[Answer, EpisodicMemory, Any]:
    from thinkgraph import solve_sync

    answer = solve_sync(PROBLEM, scripted())
    store = open_memory(None, HashEmbedder())
    return answer, EpisodicMemory(store), store


def test_only_verified_answers_are_remembered_and_recall_names_the_run() -> None:
    answer, episodic, store = _solved()
    assert answer.status == "verified" and answer.value == "False"
    voted = answer.model_copy(update={"status": "voted"})
    assert episodic.remember(PROBLEM, voted, run_id="r0") is None
    assert episodic.remember(PROBLEM, Answer(value=None, status="abstained", evidence=Evidence())) is None
    ident = episodic.remember(PROBLEM, answer, run_id="run-1")
    assert ident and len(store) == 1 + 5  # the episode and its five verified sentence formulas
    (rec,) = episodic.recall(PROBLEM, k=3)
    assert rec.run_id == "run-1" and rec.answer.value == "False" and "run run-1" in rec.describe()


def test_a_recalled_answer_is_used_only_after_it_is_proved_again() -> None:
    answer, episodic, _ = _solved()
    episodic.remember(PROBLEM, answer, run_id="run-1")
    prover = Z3Prover(timeout_s=5)
    reused = episodic.recall_verified(PROBLEM, prover)
    assert reused is not None and reused.value == "False" and reused.evidence.verdict is not None
    assert "recalled from run run-1" in reused.evidence.reason and "re-proved by z3" in reused.evidence.reason
    # a sentence the remembered problem did not have: not reused
    other = PROBLEM.model_copy(update={"premises": (*PROBLEM.premises[:3], "No mammal is a bird.")})
    assert episodic.recall_verified(other, prover, min_score=0.0) is None
    # a remembered verdict the prover no longer reaches: not reused
    (rec,) = episodic.recall(PROBLEM)
    wrong = rec.answer.model_copy(update={"value": "True"})
    assert episodic.reverify(rec.__class__(**{**rec.__dict__, "answer": wrong}), PROBLEM, prover) is None


# -- premise retrieval --------------------------------------------------------------------------------
def test_premises_nearest_a_goal_from_a_lean_file() -> None:
    lean = """
theorem add_comm' (a b : Nat) : a + b = b + a := by omega
lemma mul_pos_of_pos {a b : Nat} (ha : 0 < a) (hb : 0 < b) : 0 < a * b := Nat.mul_pos ha hb
@[simp] theorem list_length_nil : ([] : List Nat).length = 0 := rfl
def not_a_theorem : Nat := 3
"""
    premises = lean_declarations(lean, "Basic.lean")
    assert [p.name for p in premises] == ["add_comm'", "mul_pos_of_pos", "list_length_nil"]
    assert premises[1].statement == "{a b : Nat} (ha : 0 < a) (hb : 0 < b) : 0 < a * b"
    retriever = MemoryPremiseRetriever(open_memory(None, HashEmbedder()))
    assert isinstance(retriever, PremiseRetriever)
    retriever.add(premises)
    retriever.add([Premise("add_comm'", "(a b : Nat) : a + b = b + a", "Again.lean")])  # replaced, not doubled
    best = retriever.retrieve("0 < x * y", k=2)
    assert best[0].name == "mul_pos_of_pos" and best[0].source == "Basic.lean" and len(best) == 2
    assert len(retriever.store) == 3 and retriever.retrieve("a + b = b + a", 1)[0].source == "Again.lean"


# -- nodes in a YAML workflow -------------------------------------------------------------------------
LINC_YAML = """
workflow: linc-remembered
input: problem
output: answer
nodes:
  recall:    {{use: memory.retrieve, with: {{store: "{store}", embedder: hash}}}}
  translate: {{use: linc.translate, with: {{samples: 2}}}}
  prove:     {{use: linc.prove}}
  vote:      {{use: linc.vote}}
  remember:  {{use: memory.remember, with: {{store: "{store}", embedder: hash}}}}
routes:
  - {{from: recall, on: kind, cases: {{answer: END, recalled: translate}}}}
edges:
  - {{from: translate, to: prove}}
  - {{from: prove, to: vote}}
  - {{from: vote, to: remember}}
"""


def test_memory_nodes_in_yaml_remember_then_answer_a_later_session_after_reproving(tmp_path: Path) -> None:
    from thinkgraph.memory.nodes import Recalled, Remembered

    wf = loads_workflow(LINC_YAML.format(store=tmp_path / "mem")).compile()
    first = wf.run_sync(PROBLEM, model=scripted())
    assert first.ending == "answered" and isinstance(first.output, Answer) and first.output.status == "verified"
    assert isinstance(first.latest(Recalled), Recalled)  # nothing to recall yet
    remembered = first.latest(Remembered)
    assert isinstance(remembered, Remembered) and len(remembered.ids) == 1
    # a later session: the answer comes from memory, re-proved, without a model call
    empty = ScriptedModel([])
    second = wf.run_sync(PROBLEM, model=empty)
    assert isinstance(second.output, Answer) and second.output.value == "False"
    assert f"recalled from run {first.run_id}" in second.output.evidence.reason
    assert [n for n, _ in second.messages if n != "(input)"] == ["recall"]
    # a changed problem is solved again (and the model is called)
    changed = PROBLEM.model_copy(update={"conclusion": "Nutty is a mammal."})
    third = wf.run_sync(changed, model=empty)
    assert third.ending == "failed" and "script" in third.error.lower()


# -- CLI ----------------------------------------------------------------------------------------------
def test_cli_add_search_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "cli")
    items = tmp_path / "items.jsonl"
    items.write_text(
        '{"text": "All cats are mammals.", "metadata": {"kind": "fact"}}\n\n"A plain string line."\n'
        '{"text": "猫是哺乳动物。", "id": "zh"}\n',
        encoding="utf-8",
    )
    assert main(["memory", "add", "--store", store, "--embedder", "hash", "--file", str(items)]) == 0
    assert main(["memory", "add", "--store", store, "--text", "Tom is a cat.", "--metadata", '{"kind": "fact"}']) == 0
    capsys.readouterr()
    assert main(["memory", "search", "--store", store, "Tom is a cat", "-k", "2", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and set(lines[0]) == {"id", "text", "score", "metadata"}
    assert lines[0]["text"] == "Tom is a cat." and lines[0]["metadata"] == {"kind": "fact"}
    assert main(["memory", "search", "--store", store, "猫", "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "zh"
    assert main(["memory", "search", "--store", store, "cat", "--where", '{"kind": "nope"}', "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["memory", "stats", "--store", store, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["items"] == 4 and stats["embedder"] == "hash" and stats["batches"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["memory", "search", "--store", "{d}/none", "x"], "no memory there"),
        (["memory", "stats", "--store", "{d}/none"], "no memory there"),
        (["memory", "add", "--store", "{d}/s", "--embedder", "hash"], "--text TEXT or --file"),
        (
            ["memory", "add", "--store", "{d}/s", "--embedder", "hash", "--file", "{d}/bad.jsonl"],
            "bad.jsonl:2: not JSON",
        ),
        (["memory", "add", "--store", "{d}/s", "--embedder", "hash", "--file", "{d}/missing.jsonl"], "missing.jsonl"),
        (["memory", "add", "--store", "{d}/s", "--embedder", "hash", "--text", "x", "--metadata", "[1]"], "object"),
        (["memory", "add", "--store", "{d}/s", "--embedder", "w2v", "--text", "x"], "unknown embedder"),
    ],
)
def test_cli_mistakes_exit_2_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{oops\n', encoding="utf-8")
    assert main([a.format(d=tmp_path) for a in argv]) == 2
    assert message in capsys.readouterr().err


def test_the_shipped_memory_example_recalls_in_a_second_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thinkgraph.graphs.yaml_loader import load_workflow

    monkeypatch.chdir(tmp_path)  # the example's store is runs/memory
    example = Path(__file__).resolve().parents[1] / "examples" / "linc-memory.yaml"
    hashed = {f"{n}.embedder": "hash" for n in ("recall", "translate", "remember")}  # fast; the same paths
    wf = load_workflow(example).set_params(hashed).compile()
    first = wf.run_sync(PROBLEM, model=scripted())
    assert isinstance(first.output, Answer) and first.output.status == "verified"
    second = wf.run_sync(PROBLEM, model=ScriptedModel([]))
    assert isinstance(second.output, Answer) and first.run_id in second.output.evidence.reason
    # another problem is translated with the remembered formulas among the example candidates
    changed = PROBLEM.model_copy(update={"conclusion": "Nutty is a mammal."})
    formulas = {**EXAMPLE_FORMULAS, "Nutty is a mammal.": "Mammal(nutty)"}
    model = ScriptedModel(lambda r, i: formulas[r.messages[-1].content.split("Sentence: ")[-1]])
    third = wf.run_sync(changed, model=model)
    assert isinstance(third.output, Answer) and third.output.value == "True"
    shown = " ".join(m.content for r in model.requests for m in r.messages)
    assert "Squirrel(nutty)" in shown  # a verified formula of the first session, shown as an example
