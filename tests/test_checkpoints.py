"""Checkpoints: a run killed with SIGKILL resumes after its last finished node without repeating that
node's model requests (counted at a real loopback OpenAI-compatible server); finished threads return
their stored result; a person approves or rejects through an interrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE_FORMULAS
from openai_stub import OpenAIStub, completion
from thinkgraph.cli import main
from thinkgraph.graphs.library import linc_workflow
from thinkgraph.graphs.yaml_loader import load_workflow
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = {
    "id": "nutty",
    "premises": [
        "All squirrels are rodents.",
        "All rodents are mammals.",
        "Nutty is a squirrel.",
        "No mammal is a reptile.",
    ],
    "conclusion": "Nutty is a reptile.",
}
WORKFLOW = """\
workflow: classify-then-linc
input: problem
output: answer
nodes:
  classify:  {use: route.classify, with: {method: model}}
  translate: {use: linc.translate, with: {samples: 2}}
  prove:     {use: linc.prove}
  vote:      {use: linc.vote}
  reason:    {use: cot.reason}
  cot_vote:  {use: cot.vote}
routes:
  - {from: classify, on: category, cases: {deductive: translate}, default: reason}
edges:
  - {from: translate, to: prove}
  - {from: prove, to: vote}
  - {from: reason, to: cot_vote}
"""


class Server:
    """Answers the router and the translator; can hold the first translation request until released."""

    def __init__(self) -> None:
        self.counts = {"classify": 0, "translate": 0}
        self.hold = threading.Event()  # set: translation requests block
        self.held = threading.Event()  # set when a request is being held
        self.stub = OpenAIStub(self.handle)

    def handle(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        messages = body.get("messages") or [{"content": ""}]
        system = str(messages[0]["content"])
        if system.startswith("Classify the problem"):
            self.counts["classify"] += 1
            return 200, {}, completion([json.dumps({"category": "deductive", "reason": "premises and a statement"})])
        self.counts["translate"] += 1
        if self.hold.is_set():
            self.held.set()
            time.sleep(60)  # the client is killed meanwhile
        sentence = str(body["messages"][-1]["content"]).split("Sentence: ")[-1]
        return 200, {}, completion([EXAMPLE_FORMULAS[sentence]] * int(body.get("n") or 1))


def _cli(tmp_path: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "thinkgraph.cli",
        "run",
        str(tmp_path / "wf.yaml"),
        "--input",
        str(tmp_path / "problem.json"),
        "--model",
        f"openai:stub@{url}",
        "--checkpoint",
        str(tmp_path / "runs.db"),
        "--thread",
        "t1",
        "--json",
        "-q",
        *extra,
    ]


def test_sigkill_mid_run_resumes_after_the_last_finished_node_without_repeating_its_requests(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "problem.json").write_text(json.dumps(PROBLEM), encoding="utf-8")
    server = Server()
    with server.stub as stub:
        env = {**os.environ, "OPENAI_API_KEY": "test", "THINKGRAPH_BLOCK_REMOTE": "1"}
        server.hold.set()
        proc = subprocess.Popen(_cli(tmp_path, stub.base_url), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert server.held.wait(60), "the run never reached the translate node"
            assert server.counts["classify"] == 1
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        server.hold.clear()
        before = dict(server.counts)

        done = subprocess.run(_cli(tmp_path, stub.base_url), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["ending"] == "answered" and result["output"]["value"] == "False"
        assert [m["node"] for m in result["messages"]][:2] == ["(input)", "classify"]
        # the finished node's request was not sent again; the interrupted node ran again in full
        assert server.counts["classify"] == before["classify"] == 1
        assert server.counts["translate"] > before["translate"]

        again = dict(server.counts)
        stored = subprocess.run(_cli(tmp_path, stub.base_url), env=env, capture_output=True, text=True, timeout=120)
        assert stored.returncode == 0, stored.stderr
        third = json.loads(stored.stdout.strip().splitlines()[-1])
        assert third["from_checkpoint"] is True and third["output"] == result["output"]
        assert server.counts == again  # a finished thread answers at once, no request


def translator() -> ScriptedModel:
    return ScriptedModel(lambda r, i: EXAMPLE_FORMULAS[r.messages[-1].content.split("Sentence: ")[-1]])


def test_a_person_approves_or_rejects_through_an_interrupt(tmp_path: Path) -> None:
    compiled = load_workflow(ROOT / "examples" / "linc-reviewed.yaml").compile()
    problem = Problem.model_validate(PROBLEM)
    db = tmp_path / "cp.db"
    model = translator()
    paused = compiled.run_sync(problem, model=model, checkpoint=db, thread="a")
    assert paused.ending == "interrupted" and paused.interrupt is not None
    assert paused.interrupt["answer"]["value"] == "False" and "Is this answer right?" in paused.interrupt["question"]
    calls = len(model.requests)
    # asking again without a reply says it is still waiting, and runs nothing
    waiting = compiled.run_sync(None, model=model, checkpoint=db, thread="a")
    assert waiting.ending == "interrupted" and len(model.requests) == calls
    approved = compiled.run_sync(None, model=model, checkpoint=db, thread="a", resume={"approve": True})
    assert approved.ending == "answered" and isinstance(approved.output, Answer)
    assert approved.output.value == "False" and len(model.requests) == calls  # no model call repeated
    assert approved.output.evidence.reason.endswith("approved by a person")

    compiled.run_sync(problem, model=model, checkpoint=db, thread="b")
    rejected = compiled.run_sync(
        None, model=model, checkpoint=db, thread="b", resume={"approve": False, "reason": "no"}
    )
    assert rejected.ending == "abstained" and rejected.output.evidence.reason == "rejected by a person: no"  # type: ignore[union-attr]


def test_cli_resume_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from thinkgraph.testing import RecordingModel

    # record the translations so the CLI can replay them
    rec_path = tmp_path / "rec.jsonl"
    rec = RecordingModel(translator(), rec_path)
    linc_workflow().compile().run_sync(Problem.model_validate(PROBLEM), model=rec)  # the same translate node
    (tmp_path / "p.json").write_text(json.dumps(PROBLEM), encoding="utf-8")
    args = ["run", str(ROOT / "examples" / "linc-reviewed.yaml"), "--model", f"replay:{rec_path}"]
    cp = ["--checkpoint", str(tmp_path / "cp.db"), "--thread", "x"]
    assert main([*args, "--input", str(tmp_path / "p.json"), *cp, "-q"]) == 6
    waiting = capsys.readouterr().out
    assert "waiting for a person: Is this answer right?" in waiting and "False [verified]" in waiting
    assert '--resume \'{"approve": false, "reason": "why"}\'' in waiting
    assert main([*args, *cp, "--resume", '{"approve": true}', "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ending"] == "answered" and out["output"]["value"] == "False"
    assert main([*args, *cp, "--resume", "{not json", "-q"]) == 2
    assert main([*args, "--resume", '{"approve": true}', "-q"]) == 2
    assert main([*args, *cp[:2], "--input", str(tmp_path / "p.json"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "--resume: not valid JSON" in err and "--checkpoint and --thread go together" in err
    assert "Traceback" not in err


def test_a_pausing_workflow_without_a_checkpoint_is_refused_before_it_runs() -> None:
    from thinkgraph.graphs import RunSetupError

    model = translator()
    compiled = load_workflow(ROOT / "examples" / "linc-reviewed.yaml").compile()
    with pytest.raises(RunSetupError, match="pause for a person"):
        compiled.run_sync(Problem.model_validate(PROBLEM), model=model)
    assert model.requests == []


def test_a_thread_belongs_to_one_workflow(tmp_path: Path) -> None:
    from thinkgraph.graphs import RunSetupError

    db = tmp_path / "cp.db"
    problem = Problem.model_validate(PROBLEM)
    linc_workflow().compile().run_sync(problem, model=translator(), checkpoint=db, thread="t")
    other = load_workflow(ROOT / "examples" / "cot.yaml").compile()
    with pytest.raises(RunSetupError, match="belongs to another workflow"):
        other.run_sync(problem, model=translator(), checkpoint=db, thread="t")


def test_an_invalid_edit_withholds_the_answer(tmp_path: Path) -> None:
    compiled = load_workflow(ROOT / "examples" / "linc-reviewed.yaml").compile()
    db = tmp_path / "cp.db"
    compiled.run_sync(Problem.model_validate(PROBLEM), model=translator(), checkpoint=db, thread="e")
    bad = compiled.run_sync(None, model=translator(), checkpoint=db, thread="e", resume={"edit": {"value": "Maybe"}})
    assert bad.ending == "abstained" and "edit is invalid" in bad.output.evidence.reason  # type: ignore[union-attr]
    compiled.run_sync(Problem.model_validate(PROBLEM), model=translator(), checkpoint=db, thread="f")
    good = compiled.run_sync(None, model=translator(), checkpoint=db, thread="f", resume={"edit": {"value": "True"}})
    assert good.ending == "answered" and good.output.value == "True"  # type: ignore[union-attr]
    assert "edited by a person" in good.output.evidence.reason  # type: ignore[union-attr]


def test_unusable_checkpoint_files_and_reused_threads_are_refused(tmp_path: Path) -> None:
    from thinkgraph.graphs.errors import RunUsageError

    compiled = linc_workflow().compile()
    problem = Problem.model_validate(PROBLEM)
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello", encoding="utf-8")
    with pytest.raises(RunUsageError, match="not a usable SQLite checkpoint"):
        compiled.run_sync(problem, model=translator(), checkpoint=not_db, thread="t")
    assert not_db.read_text(encoding="utf-8") == "hello"
    db = tmp_path / "cp.db"
    compiled.run_sync(problem, model=translator(), checkpoint=db, thread="t")
    other = problem.model_copy(update={"conclusion": "Nutty is a mammal."})
    with pytest.raises(RunUsageError, match="holds the run of another input"):
        compiled.run_sync(other, model=translator(), checkpoint=db, thread="t")
