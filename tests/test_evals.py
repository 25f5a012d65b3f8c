"""Evaluation runs: stored as they finish, resumable, refused against another experiment, surviving a
flaky server; metrics (pass@k, risk–coverage, confusion, ProcBench steps) and the honest-tuning holdout."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from math import comb
from pathlib import Path
from typing import Any

import pytest

from openai_stub import OpenAIStub, RawBody, completion, error
from thinkgraph.evals.holdout import HoldoutExhausted, Thresholdout, in_holdout, split
from thinkgraph.evals.items import EvalItem, LoadReport
from thinkgraph.evals.metrics import pass_at_k, procbench_scores, risk_coverage, summarize
from thinkgraph.evals.runner import EvalSetupError, evaluate, run_items
from thinkgraph.evals.store import Row, RunStore, RunStoreError
from thinkgraph.graphs.library import resolve
from thinkgraph.logic.records import Problem
from thinkgraph.testing import ScriptedModel

LABELS = ["True", "False", "Uncertain"]


def items(n: int, tmp_path: Path) -> LoadReport:
    """n entailment problems whose gold label cycles; the dataset file exists so it can be hashed."""
    data = tmp_path / "data.json"
    data.write_text(json.dumps([i for i in range(n)]), encoding="utf-8")
    out = []
    for i in range(n):
        problem = Problem(id=f"p{i}", premises=(f"Fact {i}.",), conclusion=f"Claim {i}.", gold=LABELS[i % 3])  # type: ignore[arg-type]
        out.append(
            EvalItem(id=f"p{i}", dataset="toy", line=i + 1, input=problem.model_dump(mode="json"), gold=LABELS[i % 3])
        )
    return LoadReport(dataset="toy", path=str(data), items=tuple(out))


def oracle(request: Any, index: int) -> str:
    """A chain-of-thought model that answers from the claim's number: right on two thirds of the problems."""
    claim = request.messages[-1].content.split("Conclusion: Claim ")[-1].split(".")[0]
    i = int(claim)
    label = LABELS[i % 3] if i % 3 != 2 else "True"
    return f"Thinking.\nAnswer: {label}"


def test_run_stores_rows_and_resumes_without_repeating(tmp_path: Path) -> None:
    report = items(9, tmp_path)
    cot = resolve("cot")
    out = tmp_path / "run.db"
    model = ScriptedModel(oracle)
    first = evaluate(report, cot, model, "scripted", out, limit=4, progress=False, say=lambda s: None)
    assert first["problems"] == 4 and len(model.requests) == 4
    messages: list[str] = []
    second = evaluate(report, cot, model, "scripted", out, progress=False, say=messages.append)
    assert second["problems"] == 9 and len(model.requests) == 9  # the 4 finished ones were not run again
    assert any("4 problem(s) already finished" in m for m in messages)
    assert second["correct"] == 6 and second["accuracy"] == round(6 / 9, 4)
    rows = RunStore.open(out).rows()
    assert [r.item_id for r in rows] == [f"p{i}" for i in range(9)]
    assert all(r.calls == 1 and r.prompt_tokens > 0 for r in rows)


def test_another_experiment_against_a_run_file_is_refused(tmp_path: Path) -> None:
    report = items(3, tmp_path)
    out = tmp_path / "run.db"
    evaluate(report, resolve("cot"), ScriptedModel(oracle), "scripted", out, progress=False, say=lambda s: None)
    with pytest.raises(RunStoreError, match=r"holds another experiment.*model"):
        evaluate(report, resolve("cot"), ScriptedModel(oracle), "other-model", out, progress=False)
    with pytest.raises(RunStoreError, match="workflow"):
        evaluate(report, resolve("cot", {"reason.samples": 3}), ScriptedModel(oracle), "scripted", out, progress=False)
    not_a_run = tmp_path / "notes.db"
    not_a_run.write_text("hello", encoding="utf-8")
    with pytest.raises(RunStoreError, match="not a thinkgraph run file"):
        RunStore.open(not_a_run)


def test_a_workflow_that_does_not_take_the_datasets_input_is_refused(tmp_path: Path) -> None:
    from thinkgraph.evals.items import Question

    report = items(1, tmp_path)
    question = Question(id="q", text="2+2?")
    wrong = LoadReport(
        dataset="toy",
        path=report.path,
        items=(
            EvalItem(
                id="q", dataset="toy", line=1, input=question.model_dump(mode="json"), gold=4, answer_type="number"
            ),
        ),
    )
    with pytest.raises(EvalSetupError, match="takes problem messages, but toy gives question messages"):
        evaluate(wrong, resolve("cot"), ScriptedModel(oracle), "scripted", None, progress=False)


def test_concurrent_problems_each_get_their_own_accounting(tmp_path: Path) -> None:
    report = items(12, tmp_path)
    out = tmp_path / "run.db"
    summary = evaluate(report, resolve("cot"), ScriptedModel(oracle), "s", out, concurrency=4, progress=False)
    assert summary["problems"] == 12 and summary["calls_per_problem"] == 1.0


def test_a_flaky_server_still_gives_every_problem_a_row_and_the_retries_are_counted(tmp_path: Path) -> None:
    from thinkgraph.llm import load_model
    from thinkgraph.llm.managed import ManagedModel

    rng = random.Random(7)
    failures = itertools.cycle(["429", "500", "stall", "truncated", "malformed"])

    def handle(body: dict[str, Any]) -> Any:
        if rng.random() < 0.3:
            kind = next(failures)
            if kind == "429":
                return error(429, "slow down", "rate_limit_error", headers={"retry_after": "0"})
            if kind == "500":
                return error(500, "boom", "server_error")
            if kind == "stall":
                import time

                time.sleep(1.5)  # longer than the client's timeout
            if kind == "truncated":
                return 200, {}, RawBody(b'{"id": "x", "choices": [{"mess', declared_length=200)
            if kind == "malformed":
                return 200, {}, RawBody(b"<html>proxy error</html>", content_type="text/html")

        from types import SimpleNamespace

        req = SimpleNamespace(messages=[SimpleNamespace(content=body["messages"][-1]["content"])])
        return 200, {}, completion([oracle(req, 0)] * int(body.get("n") or 1))

    report = items(30, tmp_path)
    with OpenAIStub(handle) as stub:
        inner = load_model(f"openai:stub@{stub.base_url}", timeout_s=0.5)
        model = ManagedModel(inner, max_concurrency=8, backoff_initial=0.01, backoff_max=0.05, max_attempts=6)
        out = tmp_path / "run.db"
        summary = evaluate(report, resolve("cot"), model, "stub", out, concurrency=4, progress=False)
    rows = RunStore.open(out).rows()
    assert len(rows) == 30 and len({r.item_id for r in rows}) == 30
    assert summary["retries"] > 0 and summary["retries"] == sum(r.retries for r in rows)
    assert summary["correct"] + summary["failed"] + summary["abstained"] >= 20


# ----------------------------------------------------------------------------- metrics


def test_pass_at_k_matches_its_closed_form_and_enumeration() -> None:
    for n, c, k in [(5, 0, 1), (5, 1, 1), (5, 2, 3), (10, 3, 5), (4, 4, 2), (20, 7, 10)]:
        expected = 1 - comb(n - c, k) / comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected)
        outcomes = [True] * c + [False] * (n - c)
        subsets = list(itertools.combinations(range(n), k))
        brute = sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(brute)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def row(i: int, value: Any, gold: Any, correct: bool | None, conf: float | None = None, status: str = "voted") -> Row:
    return Row(item_id=f"r{i}", idx=i, line=i, answer_type="label", gold=gold, value=value, status=status,
               ending="answered", correct=correct, confidence=conf)  # fmt: skip


def test_risk_coverage_ranks_answers_by_confidence() -> None:
    rows = [
        row(0, "True", "True", True, 0.9),
        row(1, "False", "True", False, 0.8),
        row(2, "True", "True", True, 0.7),
        row(3, None, "False", False, None, status="abstained"),
    ]
    curve, area = risk_coverage(rows)
    assert curve == [
        {"coverage": 0.25, "risk": 0.0},
        {"coverage": 0.5, "risk": 0.5},
        {"coverage": 0.75, "risk": round(1 / 3, 4)},
    ]
    assert area == round((0 + 0.5 + 1 / 3) / 3, 4)
    summary = summarize(rows)
    assert summary["coverage"] == 0.75 and summary["answered_accuracy"] == round(2 / 3, 4)
    assert summary["confusion"]["matrix"]["True"] == {"True": 2, "False": 1}
    assert summary["confusion"]["matrix"]["False"] == {"abstained": 1}
    assert summary["confusion"]["per_class"]["True"]["recall"] == round(2 / 3, 4)


def test_procbench_step_scores() -> None:
    gold = {"init": "cab", "intermediate": ["acb", "abc"], "final": "abc"}
    assert procbench_scores({"intermediate": ["acb", "abc"], "final": "abc"}, gold) == {
        "prefix_accuracy": 1.0, "step_match": 1.0, "final": 1.0}  # fmt: skip
    assert procbench_scores({"intermediate": ["acb", "xyz"], "final": "abc"}, gold) == {
        "prefix_accuracy": 0.5, "step_match": 0.5, "final": 1.0}  # fmt: skip
    assert procbench_scores({"intermediate": ["bad", "abc"], "final": "no"}, gold) == {
        "prefix_accuracy": 0.0, "step_match": 0.5, "final": 0.0}  # fmt: skip


# ----------------------------------------------------------------------------- honest tuning


def test_the_holdout_split_is_stable_disjoint_and_about_the_asked_size() -> None:
    ids = [type("I", (), {"id": f"item-{i}"})() for i in range(2000)]
    tune, hold = split(ids, "tune"), split(ids, "holdout")
    assert {x.id for x in tune}.isdisjoint({x.id for x in hold}) and len(tune) + len(hold) == 2000
    assert 0.25 < len(hold) / 2000 < 0.35
    assert split(list(reversed(ids)), "holdout")[::-1] == hold  # order does not matter
    assert in_holdout("item-7") == in_holdout("item-7")


def test_thresholdout_spends_budget_only_when_the_splits_disagree() -> None:
    guard = Thresholdout(threshold=0.05, sigma=0.0, budget=2, seed=1)
    assert guard.query(0.80, 0.79) == 0.80 and guard.budget == 2
    assert guard.query(0.95, 0.70) == pytest.approx(0.70) and guard.budget == 1
    assert guard.query(0.90, 0.60) == pytest.approx(0.60) and guard.budget == 0
    with pytest.raises(HoldoutExhausted):
        guard.query(0.5, 0.5)


def test_run_items_writes_each_row_before_the_next_starts(tmp_path: Path) -> None:
    """A run interrupted mid-way keeps every finished row (the SIGKILL test does this across processes)."""
    report = items(6, tmp_path)
    store, _ = RunStore.start(tmp_path / "run.db", {"workflow": "cot", "model": "m", "dataset": "toy"})
    seen: list[int] = []

    class Stop(Exception):
        pass

    def on_row(r: Row) -> None:
        seen.append(RunStore.open(tmp_path / "run.db").count())
        if len(seen) == 3:
            raise Stop

    with pytest.raises(Stop):
        asyncio.run(
            run_items(report.items, resolve("cot"), ScriptedModel(oracle), store, progress=False, on_row=on_row)
        )
    assert seen == [1, 2, 3] and store.count() == 3
    store.close()


# ----------------------------------------------------------------------------- across processes


def _logiclm_file(path: Path, n: int) -> Path:
    records = [
        {
            "id": f"q{i}",
            "context": f"Fact {i} holds. Rule {i} applies.",
            "question": "Based on the above information, is the following statement true, false, or unknown? "
            f"Claim {i}.",
            "options": ["A) True", "B) False", "C) Unknown"],
            "answer": "ABC"[i % 3],
        }
        for i in range(n)
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_sigkill_halfway_then_the_same_command_gives_exactly_the_uninterrupted_rows(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    data = _logiclm_file(tmp_path / "dev.json", 12)
    released = threading.Event()
    served = {"n": 0}

    def handle(body: dict[str, Any]) -> Any:
        text = body["messages"][-1]["content"]
        served["n"] += 1
        if served["n"] > 5 and not released.is_set():
            released.wait(30)  # hold the run halfway until the test has killed it
        claim = int(text.split("Claim ")[-1].split(".")[0])  # answers depend only on the question
        return 200, {}, completion([f"Reasoning.\nAnswer: {LABELS[claim % 3] if claim % 2 else 'True'}"])

    def command(out: Path, url: str) -> list[str]:
        return [sys.executable, "-m", "thinkgraph.cli", "eval", "proofwriter", str(data), "--workflow", "cot",
                "--model", f"openai:stub@{url}", "--out", str(out), "--json", "-q", "-j", "2"]  # fmt: skip

    env = {**os.environ, "OPENAI_API_KEY": "test"}
    with OpenAIStub(handle) as stub:
        killed = tmp_path / "killed.db"
        proc = subprocess.Popen(command(killed, stub.base_url), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for _ in range(600):
                if served["n"] > 5:
                    break
                time.sleep(0.05)
            time.sleep(0.3)  # the first rows are committed; two requests are held in flight
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            released.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        halfway = RunStore.open(killed).count()
        assert 0 < halfway < 12
        again = subprocess.run(command(killed, stub.base_url), env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        clean = tmp_path / "clean.db"
        whole = subprocess.run(command(clean, stub.base_url), env=env, capture_output=True, text=True, timeout=120)
        assert whole.returncode == 0, whole.stderr

    def fields(path: Path) -> list[tuple[Any, ...]]:
        return [(r.item_id, r.gold, r.value, r.status, r.correct) for r in RunStore.open(path).rows()]

    assert len(fields(killed)) == 12 and fields(killed) == fields(clean)  # none lost, none repeated
    assert json.loads(again.stdout.strip().splitlines()[-1])["problems"] == 12


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    data = _logiclm_file(tmp_path / "dev.json", 8)
    gate = {"n": 0}
    released = threading.Event()

    def handle(body: dict[str, Any]) -> Any:
        gate["n"] += 1
        if gate["n"] > 3:
            # hold the rest until the test is done: the run cannot finish before the interrupt reaches it, however
            # slowly a loaded machine delivers it
            released.wait(60)
        return 200, {}, completion(["Answer: True"])

    with OpenAIStub(handle) as stub:
        out = tmp_path / "run.db"
        cmd = [sys.executable, "-m", "thinkgraph.cli", "eval", "proofwriter", str(data), "--workflow", "cot",
               "--model", f"openai:stub@{stub.base_url}", "--out", str(out), "-q"]  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": "test"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120  # start-up on a loaded machine can take many seconds
        while gate["n"] <= 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gate["n"] > 3, "the eval never reached its fourth request"
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            released.set()
    assert proc.returncode == 130 and "run the same command to resume" in err and "Traceback" not in err
    assert 0 < RunStore.open(out).count() < 8  # the finished problems are kept


def test_slices_extend_one_run_and_the_summary_covers_the_slice_asked_for(tmp_path: Path) -> None:
    report = items(9, tmp_path)
    out = tmp_path / "run.db"
    cot = resolve("cot")
    quiet: dict[str, Any] = {"progress": False, "say": lambda s: None}
    assert evaluate(report, cot, ScriptedModel(oracle), "s", out, offset=0, limit=3, **quiet)["problems"] == 3
    second = evaluate(report, cot, ScriptedModel(oracle), "s", out, offset=3, limit=3, **quiet)
    assert second["problems"] == 3 and second["offset"] == 3
    assert [r.item_id for r in RunStore.open(out).rows()] == [f"p{i}" for i in range(6)]  # absolute order
    messages: list[str] = []
    model = ScriptedModel(oracle)
    whole = evaluate(report, cot, model, "s", out, progress=False, say=messages.append)
    assert whole["problems"] == 9 and len(model.requests) == 3
    assert any("6 problem(s) already finished, 3 to run" in m for m in messages)
    with pytest.raises(EvalSetupError, match="nothing to run"):
        evaluate(report, cot, ScriptedModel(oracle), "s", out, offset=50, **quiet)


def test_failed_problems_are_retried_on_resume_and_duplicate_ids_refused(tmp_path: Path) -> None:
    from thinkgraph.llm.base import ServerError

    report = items(4, tmp_path)
    out = tmp_path / "run.db"
    cot = resolve("cot")
    quiet: dict[str, Any] = {"progress": False, "say": lambda s: None}

    def down(request: Any, index: int) -> str:
        if "Claim 2." in request.messages[-1].content:
            raise ServerError("still down")
        return oracle(request, index)

    first = evaluate(report, cot, ScriptedModel(down), "s", out, **quiet)
    assert first["failed"] == 1
    second = evaluate(report, cot, ScriptedModel(oracle), "s", out, **quiet)
    assert second["failed"] == 0 and second["problems"] == 4
    twice = LoadReport(dataset="toy", path=report.path, items=(report.items[0], report.items[0]))
    with pytest.raises(EvalSetupError, match="unique"):
        evaluate(twice, cot, ScriptedModel(oracle), "s", tmp_path / "dup.db", **quiet)


def test_confusion_compares_normalised_answers_and_unscorable_rows_stay_out_of_accuracy() -> None:
    rows = [
        row(0, "Unknown", "Uncertain", True, 0.9),
        row(1, "true", "True", True, 0.8),
        Row(
            item_id="n",
            idx=2,
            line=3,
            answer_type="number",
            gold=18,
            value="18.0",
            status="answered",
            ending="answered",
            correct=True,
        ),
        Row(
            item_id="prog",
            idx=3,
            line=4,
            answer_type="program",
            gold=None,
            value="f",
            status="answered",
            ending="answered",
            correct=None,
        ),
    ]
    summary = summarize(rows)
    per_class = summary["confusion"]["per_class"]
    assert per_class["Uncertain"]["recall"] == 1.0 and per_class["True"]["recall"] == 1.0
    assert per_class["18"]["recall"] == 1.0
    assert summary["scored"] == 3 and summary["unscored"] == 1 and summary["accuracy"] == 1.0
    assert summary["aurc"] == 0.0
