"""Search trees in the trace (SearchNode events, merged by id), step-level preference pairs, and the search.*
nodes run from YAML with scripted models: answers that say why, budgets, one request per n samples."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from thinkgraph.evals.items import Question
from thinkgraph.graphs.workflow import Workflow
from thinkgraph.graphs.yaml_loader import load_workflow
from thinkgraph.llm.base import ChatRequest
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.messages import TRACE_EVENT, Note, SearchNode
from thinkgraph.runtime import Budget, Ledger, RunContext, Tracer
from thinkgraph.search import (
    BeamParams,
    MCTSParams,
    SearchAnswer,
    beam_search,
    mcts,
    merge_search_nodes,
    preference_pairs,
    write_preference_jsonl,
)
from thinkgraph.search.reasoning import ReasoningState, StepConfig, StepWorld, VerifierScore, first_step
from thinkgraph.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def step_model() -> ScriptedModel:
    """First steps 3+4=7 / 3+4=8 / 3+4=7; then the answer the step implies; self-evaluation likes 7."""

    def reply(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "Reply with Yes or No" in last:
            return "Yes" if "= 7" in last else "No"
        if "No steps yet" in last:
            return ["1. 3 + 4 = 7", "3 + 4 = 8", "3 + 4 = 7\nmore text"][i % 3]
        return "Answer: 7" if "= 7" in last else "Answer: 8"

    return ScriptedModel(reply)


def right_answer(problem: Any, state: ReasoningState) -> bool | None:
    if not state.steps or "Answer" not in state.steps[-1]:
        return None
    return state.steps[-1].endswith("7")


def right_steps(problem: Any, state: ReasoningState) -> bool | None:
    return state.text.endswith("7") if state.steps else None


def test_first_step_keeps_one_line_without_its_number() -> None:
    assert first_step("\n\n2) add them\nthen more") == "add them"
    assert first_step("Step 3: done") == "done" and first_step("  \n ") == ""


def test_every_tree_node_is_traced_and_the_latest_event_is_its_state() -> None:
    tracer = Tracer()
    config = StepConfig(step_model(), VerifierScore(right_answer))
    res = asyncio.run(mcts("3 + 4?", StepWorld(4), config, MCTSParams(iterations=8, children=3), tracer=tracer))
    assert res.texts == ("3 + 4 = 7", "Answer: 7") and res.score == 1.0
    events = [e for e in tracer.events if isinstance(e, SearchNode)]
    assert {e.search for e in events} == {res.search_id} and {e.algorithm for e in events} == {"mcts"}
    merged = merge_search_nodes([*tracer.events, Note(text="not a search node")])
    final = {(n.search, n.node_id): n for n in res.nodes()}

    def stats(nodes: dict[tuple[str, str], SearchNode]) -> dict[tuple[str, str], dict[str, Any]]:
        return {k: v.model_dump(exclude={"run_id", "node", "at"}) for k, v in nodes.items()}

    assert stats(merged) == stats(final)  # replaying the stream gives the tree's final state
    assert len(events) > len(merged)  # creation + updates
    by_id = {n.node_id: n for n in merged.values()}
    assert by_id["0"].parent == "" and by_id["0"].visits == 8
    best = by_id[str(res.path[-1].node_id)]
    assert best.verdict == "correct" and best.depth == 2 and best.text == "Answer: 7"
    # duplicate sampled steps are one child; each event round-trips through JSON
    assert sorted(n.text for n in merged.values() if n.depth == 1) == ["3 + 4 = 7", "3 + 4 = 8"]
    for e in events[:5]:
        assert TRACE_EVENT.validate_json(TRACE_EVENT.dump_json(e)) == e


def test_preference_pairs_from_a_search_and_as_jsonl(tmp_path: Path) -> None:
    config = StepConfig(step_model(), VerifierScore(right_steps))
    res = asyncio.run(beam_search("3 + 4?", StepWorld(4), config, BeamParams(beam_width=2, expand=3)))
    assert res.texts == ("3 + 4 = 7", "Answer: 7")
    pairs = preference_pairs(res, by="score")
    assert [(p.chosen, p.rejected, p.chosen_score, p.rejected_score, p.prompt) for p in pairs] == [
        ("3 + 4 = 7", "3 + 4 = 8", 1.0, 0.0, ("3 + 4?",))
    ]
    out = tmp_path / "pairs.jsonl"
    assert write_preference_jsonl(pairs, out) == 1
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["chosen"] == "3 + 4 = 7" and row["margin"] == 1.0 and row["algorithm"] == "beam"


def test_preference_pairs_from_merged_trace_events() -> None:
    def node(i: str, parent: str, text: str, value: float | None, visits: int = 1) -> SearchNode:
        return SearchNode(search="s", algorithm="mcts", node_id=i, parent=parent, text=text, value=value, visits=visits)

    events = [
        node("0", "", "", None, 0),
        node("1", "0", "good step", None, 0),
        node("2", "0", "bad step", None, 0),
        node("3", "0", "fine step", None, 0),
        node("1", "0", "good step", 0.9, 4),  # updates: the latest event wins
        node("2", "0", "bad step", 0.2, 2),
        node("3", "0", "fine step", 0.85, 2),
        node("4", "1", "only child", 0.5),
    ]
    pairs = preference_pairs(events)
    assert [(p.chosen, p.rejected) for p in pairs] == [("good step", "fine step"), ("good step", "bad step")]
    assert [(p.chosen, p.rejected) for p in preference_pairs(events, min_margin=0.1)] == [("good step", "bad step")]
    with pytest.raises(ValueError):
        preference_pairs(events, by="visits")


# ----------------------------------------------------------------------------- nodes from YAML


def label_model() -> ScriptedModel:
    replies = ["Reasoning.\nAnswer: True", "Hmm.\nAnswer: False", "So\nAnswer: True"]
    return ScriptedModel(lambda r, i: replies[i % 3])


def problem() -> Problem:
    return Problem.model_validate_json((EXAMPLES / "problem.json").read_text(encoding="utf-8"))


def test_the_self_consistency_example_answers_with_its_vote_table() -> None:
    model = label_model()
    ctx = RunContext()
    result = (
        load_workflow(EXAMPLES / "search_self_consistency.yaml").compile().run_sync(problem(), model=model, ctx=ctx)
    )
    out = result.output
    assert isinstance(out, Answer) and result.ending == "answered"
    assert (out.value, out.status, out.evidence.votes) == ("True", "voted", {"True": 3, "False": 2})
    assert "self_consistency" in out.evidence.reason and "stopped: done" in out.evidence.reason
    assert [(r.n, r.temperature) for r in model.requests] == [(5, 0.7)]  # one request, n=5
    samples = [e for e in ctx.tracer.events if isinstance(e, SearchNode)]
    assert len(samples) == 6 and {e.node for e in samples} == {"vote"}
    assert sum(e.verdict == "chosen" for e in samples) == 3


def test_the_mcts_example_answers_a_question_with_its_best_path() -> None:
    ctx = RunContext()
    wf = load_workflow(EXAMPLES / "search_mcts.yaml").compile()
    result = wf.run_sync(Question(id="q1", text="Tom has 3 apples and buys 4 more."), model=step_model(), ctx=ctx)
    out = result.output
    assert isinstance(out, SearchAnswer) and (out.value, out.status, out.question_id) == ("7", "searched", "q1")
    assert out.evidence.path == ("3 + 4 = 7", "Answer: 7") and out.evidence.weights["7"] == 1.0
    assert out.evidence.search_id and "best path" in out.render()
    assert any(isinstance(e, SearchNode) and e.search == out.evidence.search_id for e in ctx.tracer.events)


@pytest.mark.parametrize(
    ("use", "params"),
    [
        ("search.self_consistency", {"samples": 3}),
        ("search.best_of_n", {"samples": 3}),
        ("search.adaptive", {"max_samples": 6, "batch": 3}),
        ("search.beam", {"beam_width": 2, "expand": 2, "max_steps": 3}),
        ("search.mcts", {"iterations": 6, "children": 2, "max_steps": 3}),
        ("search.particles", {"particles": 3, "max_steps": 3}),
    ],
)
def test_every_search_node_answers_a_problem_and_a_question(use: str, params: dict[str, Any]) -> None:
    def reply(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "Yes or No" in last:
            return "Yes"
        return "Answer: True" if "Conclusion:" in last else "Answer: 12"

    for kind, item, expected in [("problem", problem(), "True"), ("question", Question(text="4 * 3?"), "12")]:
        wf = Workflow(f"w_{kind}", input=kind, output="answer" if kind == "problem" else "search_answer")
        wf.add("s", use, params)
        result = wf.compile().run_sync(item, model=ScriptedModel(reply))
        assert result.ending == "answered", (use, kind, result.error)
        assert result.output is not None and getattr(result.output, "value", None) == expected, (use, kind)


def test_rpc_node_without_logprobs_fails_with_the_typed_error() -> None:
    wf = Workflow("w", input="problem", output="answer")
    wf.add("s", "search.rpc", {"samples": 3})
    model = ScriptedModel(["x"], capabilities={"n"})
    result = wf.compile().run_sync(problem(), model=model)
    assert result.ending == "failed" and "LogprobsUnavailable" in result.error and "logprobs" in result.error
    assert model.requests == []  # refused before anything was sent


def test_a_node_budget_gives_a_budget_exhausted_answer() -> None:
    wf = Workflow("w", input="question", output="search_answer")
    wf.add("s", "search.mcts", {"iterations": 50, "children": 2, "max_calls": 3, "max_steps": 6})
    result = wf.compile().run_sync(Question(text="?"), model=ScriptedModel(lambda r, i: f"step {i}"))
    out = result.output
    assert isinstance(out, SearchAnswer) and out.evidence.stop_reason == "budget_exhausted"
    assert out.evidence.calls == 3 and out.status == "abstained"  # no path reached an answer in 3 calls
    # the run's own budget (the ledger) ends the search the same way
    ctx = RunContext(ledger=Ledger(budget=Budget(max_calls=2)))
    wf2 = Workflow("w2", input="problem", output="answer")
    wf2.add("s", "search.adaptive", {"max_samples": 10, "batch": 1, "min_samples": 10})
    result = wf2.compile().run_sync(problem(), model=label_model(), ctx=ctx)
    assert isinstance(result.output, Answer) and "budget_exhausted" in result.output.evidence.reason
    assert result.output.evidence.samples == 2
