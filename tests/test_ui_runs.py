"""The chat interface's run manager in process, with scripted models: events that cannot be encoded, viewers
that fail, cancellation, the queue limit, a reused pid after a restart, SSE-safe event lines."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from thinkgraph.messages import Note
from thinkgraph.testing import ScriptedModel
from thinkgraph.ui.runs import BadRequest, RunManager, event_json, merge_usage
from thinkgraph.ui.store import RunRecord, UIStore

PROBLEM = {"premises": ["All cats are animals."], "conclusion": "Tom is an animal."}


class Held(ScriptedModel):
    """Answers only once ``gate`` is set."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__(lambda _r, _i: "Answer: True")
        self.gate = gate

    async def chat(self, request: Any) -> Any:
        await self.gate.wait()
        return await super().chat(request)


def _manager(tmp_path: Path, model: Any, **kw: Any) -> RunManager:
    return RunManager(UIStore(tmp_path / "ui.sqlite"), models=["scripted"], model_loader=lambda _spec: model, **kw)


def test_event_lines_are_safe_for_sse_and_line_splitting_clients() -> None:
    text = event_json(Note(text="a\u2028b\u2029c\u0085d\re"))
    assert "\n" not in text and "\u2028" not in text and "\u2029" not in text and "\u0085" not in text
    assert json.loads(text)["text"] == "a\u2028b\u2029c\u0085d\re"
    broken = event_json(Note(text="lone \ud800 surrogate"))  # what a model can send as JSON "\ud800"
    assert json.loads(broken)["kind"] == "note"


def test_a_reply_that_cannot_be_encoded_still_ends_the_run(tmp_path: Path) -> None:
    async def go() -> RunRecord | None:
        manager = _manager(tmp_path, ScriptedModel(["oops \ud800\nAnswer: True"]))
        record = await manager.start("cot", PROBLEM)
        final = await manager.wait(record.id)
        await manager.aclose()
        return final

    final = asyncio.run(go())
    assert final is not None and final.status == "finished" and final.output is not None


def test_a_failing_viewer_does_not_cost_the_run_its_record(tmp_path: Path) -> None:
    def viewer(_event: Any) -> None:
        raise RuntimeError("viewer bug")

    async def go() -> tuple[RunRecord | None, int]:
        manager = _manager(tmp_path, ScriptedModel(["Answer: True"]))
        record = await manager.start("cot", PROBLEM, on_event=viewer)
        final = await manager.wait(record.id)
        events = len(manager.store.events(record.id))
        await manager.aclose()
        return final, events

    final, events = asyncio.run(go())
    assert final is not None and final.status == "finished" and events > 3


def test_cancel_stops_a_run_and_keeps_its_trace(tmp_path: Path) -> None:
    async def go() -> None:
        manager = _manager(tmp_path, Held(asyncio.Event()))
        record = await manager.start("cot", PROBLEM)
        while not any('"model_request"' in e for e in manager.store.events(record.id)):
            await asyncio.sleep(0.01)
        cancelled = await manager.cancel(record.id)
        assert cancelled.status == "failed" and "cancelled" in cancelled.error
        assert manager.store.events(record.id)
        with pytest.raises(BadRequest) as again:
            await manager.cancel(record.id)
        assert again.value.status == 409
        await manager.aclose()

    asyncio.run(go())


def test_too_many_runs_at_once_are_refused_with_429(tmp_path: Path) -> None:
    async def go() -> None:
        gate = asyncio.Event()
        manager = _manager(tmp_path, Held(gate), max_concurrent=1, max_queued=2)
        await manager.start("cot", PROBLEM)
        await manager.start("cot", PROBLEM)
        with pytest.raises(BadRequest) as refused:
            await manager.start("cot", PROBLEM)
        assert refused.value.status == 429
        gate.set()
        await manager.aclose()

    asyncio.run(go())


def test_a_run_left_running_by_an_earlier_process_with_the_same_pid_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "ui.sqlite"
    UIStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO conversations VALUES ('c', 't', 0)")
    db.execute(
        "INSERT INTO runs(id, conversation, workflow, model, input, status, created, owner, instance) "
        "VALUES ('r', 'c', 'cot', 'm', '{}', 'running', 0, ?, 'an-earlier-process')",
        (os.getpid(),),
    )
    db.commit()
    db.close()
    store = UIStore(path)
    run = store.run("r")
    assert run is not None and run.status == "lost"


def test_usage_before_and_after_a_pause_adds_up() -> None:
    before = {"translate": {"calls": 10, "seconds": 1.5, "cost": None}, "total": {"calls": 10, "seconds": 1.5}}
    after = {"review": {"calls": 0, "seconds": 0.0}, "total": {"calls": 0, "seconds": 0.0}}
    merged = merge_usage(before, after)
    assert merged["total"]["calls"] == 10 and merged["translate"]["calls"] == 10 and "review" in merged


def test_only_offered_models_can_be_named(tmp_path: Path) -> None:
    manager = _manager(tmp_path, ScriptedModel(["x"]))
    for spec in (
        "local",
        "local:/etc/passwd",
        "openai:m@http://127.attacker.example/v1",
        "openai:m@http://127.0.0.1:9/v1",
    ):
        with pytest.raises(BadRequest) as refused:
            manager.check_model(spec)
        assert refused.value.status == 403
    assert manager.check_model(None) == "scripted" == manager.check_model("scripted")
