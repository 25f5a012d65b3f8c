from __future__ import annotations

import asyncio

from thinkgraph.messages import (
    MESSAGE,
    TRACE_EVENT,
    Answer,
    Certificate,
    ChatMessage,
    Countermodel,
    Evidence,
    Formalization,
    ModelRequest,
    ModelResponse,
    Note,
    Problem,
    SentenceFormula,
    ToolCall,
    Usage,
    Verdict,
)
from thinkgraph.runtime import Tracer


def _answer() -> Answer:
    f = Formalization(
        premises=(SentenceFormula(index=0, sentence="All men are mortal.", formula="∀x (Man(x) → Mortal(x))"),),
        conclusion=SentenceFormula(index=-1, sentence="Socrates is mortal.", formula="Mortal(socrates)"),
    )
    cm = Countermodel(domain=("socrates",), constants={"socrates": "socrates"}, true_atoms=("Man(socrates)",))
    v = Verdict(label="Uncertain", solver="z3", certificate=Certificate(model_goal_true=cm, model_goal_false=cm))
    return Answer(
        value="Uncertain", status="voted", evidence=Evidence(verdict=v, formalization=f, votes={"Uncertain": 2})
    )


def test_messages_round_trip_through_json() -> None:
    items = [
        Problem(premises=("a.",), conclusion="b.", gold="True"),
        _answer(),
        _answer().evidence.formalization,
        _answer().evidence.verdict,
    ]
    for item in items:
        assert MESSAGE.validate_json(MESSAGE.dump_json(item)) == item


def test_trace_events_round_trip_and_save_load(tmp_path) -> None:
    tracer = Tracer("run1")
    tracer.emit(
        ModelRequest(call_id="c1", model="m", messages=(ChatMessage(role="user", content="hi ∀"),), params={"n": 2})
    )
    tracer.emit(
        ModelResponse(call_id="c1", model="m", texts=("a", "b"), usage=Usage(prompt_tokens=3, completion_tokens=2))
    )
    tracer.emit(ToolCall(tool="z3", input={"premises": ["P(a)"]}, output={"label": "True"}, seconds=0.01))
    with tracer.node("vote") as info:
        tracer.emit(Note(text="inside"))
        info["summary"] = "done"
    for e in tracer.events:
        assert TRACE_EVENT.validate_json(TRACE_EVENT.dump_json(e)) == e
    path = tmp_path / "trace.jsonl"
    tracer.save(path)
    assert Tracer.load(path) == tracer.events
    assert [e.node for e in tracer.events[-3:]] == ["vote", "vote", "vote"]
    assert all(e.run_id == "run1" for e in tracer.events)


def test_events_stream_live_while_the_run_proceeds() -> None:
    async def main() -> list[str]:
        tracer = Tracer()
        seen: list[str] = []

        async def consume() -> None:
            async for e in tracer.stream():
                seen.append(e.kind)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        tracer.emit(Note(text="one"))
        await asyncio.sleep(0.01)
        assert seen == ["note"]  # delivered before the run ends
        tracer.emit(Note(text="two"))
        tracer.close()
        await asyncio.wait_for(task, 2)
        return seen

    assert asyncio.run(main()) == ["note", "note"]


def test_answer_render_mentions_evidence() -> None:
    text = _answer().render()
    assert "Uncertain [voted]" in text and "a model where the conclusion holds" in text
