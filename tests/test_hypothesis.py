"""Hypothesis search (Wang et al., 2024) and its direct baseline: scripted models, a fake program checker (and the
real sandbox where it is installed), and scoring of grid and program answers in `thinkgraph eval`."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import thinkgraph.nodes.hypothesis  # noqa: F401  (registers hypothesis.search / hypothesis.direct)
from thinkgraph.agents.hypothesis import (
    CallResult,
    HypothesisConfig,
    ProgramRun,
    direct_answer,
    hypothesis_search,
    judge,
)
from thinkgraph.agents.hypothesis_prompts import extract_code, parse_grid_reply
from thinkgraph.agents.hypothesis_records import ProgramAnswer
from thinkgraph.agents.hypothesis_tasks import TaskFormatError, parse_task, same_value
from thinkgraph.evals.items import AnswerType, EvalItem, Question
from thinkgraph.evals.loaders import load_dataset
from thinkgraph.evals.programs import check_program, spread
from thinkgraph.evals.runner import evaluate, score
from thinkgraph.graphs.compiled import RunResult
from thinkgraph.graphs.library import resolve
from thinkgraph.graphs.node import NodeContext, get_node
from thinkgraph.llm.base import ChatRequest
from thinkgraph.messages import SearchNode, ToolCall
from thinkgraph.nodes.hypothesis import HypothesisSearchParams, hypothesis_search_node
from thinkgraph.runtime import RunContext, Tracer
from thinkgraph.search.base import SearchBudget
from thinkgraph.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "fixtures" / "datasets"

FILL = {
    "train": [
        {"input": [[0, 3, 0, 0, 3, 0]], "output": [[0, 3, 3, 3, 3, 0]]},
        {"input": [[5, 0, 5, 0, 0, 0]], "output": [[5, 5, 5, 0, 0, 0]]},
        {"input": [[0, 0, 7, 0, 0, 7]], "output": [[0, 0, 7, 7, 7, 7]]},
    ],
    "test_input": [[0, 2, 0, 0, 2, 0]],
}
FILL_GOLD = [[0, 2, 2, 2, 2, 0]]
GOOD_FILL = """```python
def transform(row):
    idx = [i for i, c in enumerate(row) if c]
    out = list(row)
    for i in range(idx[0], idx[-1] + 1):
        out[i] = row[idx[0]]
    return out
```"""
IDENTITY = "```python\ndef transform(row):\n    return row\n```"
FIRST_WORD = "(synth-fun f ((_arg_0 String)) String)\nexamples: " + json.dumps(
    [
        {"inputs": ["Ada Lovelace"], "output": "Ada"},
        {"inputs": ["Alan Turing"], "output": "Alan"},
        {"inputs": ["Grace"], "output": "Grace"},
    ]
)


def arc_question(data: dict[str, Any] = FILL, qid: str = "fill") -> Question:
    return Question(id=qid, text=json.dumps(data))


def exec_checker(code: str, function: str, inputs: Sequence[Sequence[Any]]) -> ProgramRun:
    """A fake checker for the tests' own scripted programs (never model-written code): runs them in-process,
    except that a program containing ``while True`` is reported as timed out, like the sandbox would."""
    if "while True" in code:
        return ProgramRun(status="timeout", outcomes=(), detail="", seconds=0.0)
    ns: dict[str, Any] = {}
    try:
        exec(code, ns)
    except Exception as exc:
        return ProgramRun(status="error", outcomes=(), detail=f"{type(exc).__name__}: {exc}")
    outcomes = []
    for args in inputs:
        try:
            value = json.loads(json.dumps(ns[function](*copy.deepcopy(list(args)))))
            outcomes.append(CallResult(ok=True, value=value))
        except Exception as exc:
            outcomes.append(CallResult(ok=False, error=f"{type(exc).__name__}: {exc}"))
    return ProgramRun(status="ok", outcomes=tuple(outcomes))


class Script:
    """A scripted model by prompt kind: hypotheses (n samples), first programs, revisions (in order)."""

    def __init__(self, hypotheses: Sequence[str], programs: Sequence[str], revisions: Sequence[str] = ()) -> None:
        self.hypotheses, self.programs, self.revisions = list(hypotheses), list(programs), list(revisions)

    def __call__(self, request: ChatRequest, i: int) -> str:
        system, last = request.messages[0].content, request.messages[-1].content
        if "find the rule" in system:
            return self.hypotheses[i % len(self.hypotheses)]
        if last.startswith(("Your function passes", "SyntaxError")) or "no Python function" in last:
            return self.revisions.pop(0)
        return self.programs.pop(0)


def search(
    model: ScriptedModel,
    question: Question,
    config: HypothesisConfig | None = None,
    budget: SearchBudget | None = None,
    checker: Any = exec_checker,
) -> tuple[ProgramAnswer, Tracer]:
    tracer = Tracer()
    task = parse_task(question.id, question.text, max_shown=8)
    answer = asyncio.run(hypothesis_search(model, task, config, checker=checker, budget=budget, tracer=tracer))
    return answer, tracer


def nodes_of(tracer: Tracer) -> dict[str, SearchNode]:
    return {e.node_id: e for e in tracer.events if isinstance(e, SearchNode)}  # the latest event per node


def sandbox_runs(tracer: Tracer) -> list[ToolCall]:
    return [e for e in tracer.events if isinstance(e, ToolCall) and e.tool == "sandbox"]


# ----------------------------------------------------------------------------- the search


def test_a_passing_program_answers_with_its_hypothesis_program_and_checked_examples() -> None:
    model = ScriptedModel(Script(["Fill between the two coloured cells."], [GOOD_FILL]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=1))
    assert answer.status == "verified" and answer.value == FILL_GOLD and answer.answer_type == "grid"
    assert answer.hypothesis == "Fill between the two coloured cells." and "def transform(row)" in answer.program
    ev = answer.evidence
    assert ev.stop_reason == "found" and ev.passed == ev.examples_total == 3 and all(c.ok for c in ev.checked)
    assert ev.checked[0].inputs == ([0, 3, 0, 0, 3, 0],) and ev.checked[0].got == [0, 3, 3, 3, 3, 0]
    assert ev.calls == 2 and ev.sandbox_runs == 1 and ev.programs == 1
    nodes = nodes_of(tracer)  # root → hypothesis → program
    assert [n.depth for n in nodes.values()] == [0, 1, 2]
    assert nodes["1"].text == answer.hypothesis and nodes["1"].verdict == "passed"
    assert nodes["2"].verdict == "passed" and nodes["2"].score == 1.0 and nodes["2"].parent == "1"
    (run,) = sandbox_runs(tracer)
    assert run.output["status"] == "ok" and run.output["passed"] == 3 and run.input["calls"] == 4  # 3 train + test
    assert "passed 3/3" in answer.summary() and "hypothesis: Fill" in answer.render()


def test_a_failing_program_gets_its_failures_back_and_the_revision_passes() -> None:
    model = ScriptedModel(Script(["Fill the gap."], [IDENTITY], [GOOD_FILL]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=1, revisions=2))
    assert answer.status == "verified" and answer.value == FILL_GOLD
    assert answer.evidence.best is not None and answer.evidence.best.round == 1
    revision = model.requests[-1].messages
    assert revision[-2].role == "assistant" and "return row" in revision[-2].content  # the last attempt
    feedback = revision[-1].content
    assert feedback.startswith("Your function passes 0 of 3 examples.")
    assert "Example 1: input [0,3,0,0,3,0]" in feedback and "expected [0,3,3,3,3,0]" in feedback
    assert "returned [0,3,0,0,3,0]" in feedback
    nodes = nodes_of(tracer)
    assert nodes["2"].verdict == "failed" and nodes["2"].score == 0.0
    assert nodes["3"].parent == "2" and nodes["3"].depth == 3 and nodes["3"].verdict == "passed"


def test_no_passing_program_abstains_naming_the_best_candidate_and_its_pass_count() -> None:
    one_of_three = "```python\ndef transform(row):\n    return [0, 3, 3, 3, 3, 0]\n```"  # right on example 1 only
    model = ScriptedModel(Script(["A.", "B."], [IDENTITY, one_of_three], [IDENTITY, IDENTITY]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=2, revisions=1))
    assert answer.status == "abstained" and answer.value is None and answer.abstained()
    best = answer.evidence.best
    assert best is not None and best.passed == 1 and best.total == 3 and best.hypothesis == "B."
    assert answer.evidence.stop_reason == "done" and answer.evidence.programs == 4 and answer.evidence.calls == 5
    assert "no program passed all 3 examples; best candidate passed 1/3" in answer.evidence.reason
    nodes = nodes_of(tracer)
    assert nodes["0"].verdict == "abstained" and nodes["3"].verdict == "repeated"
    assert len(sandbox_runs(tracer)) == 2  # a program written again is not run again
    assert [r.temperature for r in model.requests] == [0.7, 0.0, 0.7, 0.0, 0.7]  # revisions are sampled


def test_a_repeated_program_is_not_rerun_and_the_next_round_starts_afresh() -> None:
    model = ScriptedModel(Script(["Fill."], [IDENTITY, GOOD_FILL], [IDENTITY]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=1, revisions=2))
    assert answer.status == "verified" and answer.evidence.best is not None and answer.evidence.best.round == 2
    assert len(sandbox_runs(tracer)) == 2 and nodes_of(tracer)["3"].verdict == "repeated"
    fresh = model.requests[3]  # the program prompt alone, sampled with its own seed
    assert [m.role for m in fresh.messages] == ["system", "user"] and fresh.temperature == 0.7 and fresh.seed == 2


def test_a_reply_without_code_gets_feedback_and_the_next_round_is_checked() -> None:
    model = ScriptedModel(Script(["Fill."], ["I think the rule is to fill the gap."], [GOOD_FILL]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=1))
    assert answer.status == "verified"
    assert "has no Python function" in model.requests[-1].messages[-1].content
    assert nodes_of(tracer)["2"].verdict == "no_code" and len(sandbox_runs(tracer)) == 1  # nothing ran for prose


def test_a_syntax_error_is_fed_back_without_a_sandbox_run() -> None:
    broken = "```python\ndef transform(row)\n    return row\n```"
    model = ScriptedModel(Script(["Fill."], [broken], [GOOD_FILL]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=1))
    assert answer.status == "verified" and nodes_of(tracer)["2"].verdict == "syntax_error"
    assert model.requests[-1].messages[-1].content.startswith("SyntaxError on line 1")
    assert len(sandbox_runs(tracer)) == 1


def test_an_endless_loop_is_recorded_as_a_timeout_and_the_search_goes_on() -> None:
    loop = "```python\ndef transform(row):\n    while True:\n        pass\n```"
    model = ScriptedModel(Script(["Loop.", "Fill."], [loop, GOOD_FILL]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=2, revisions=0))
    assert answer.status == "verified" and answer.hypothesis == "Fill."
    first, second = sandbox_runs(tracer)
    assert first.output["status"] == "timeout" and first.output["verdict"] == "timeout" and "time limit" in first.error
    assert second.output["verdict"] == "passed"
    assert nodes_of(tracer)["1"].verdict == "failed"  # the looping hypothesis


def test_budget_exhaustion_is_a_named_stop_and_an_abstention() -> None:
    model = ScriptedModel(Script(["A.", "B."], [IDENTITY, IDENTITY], [IDENTITY, IDENTITY]))
    answer, _ = search(model, arc_question(), HypothesisConfig(hypotheses=2), budget=SearchBudget(max_calls=2))
    ev = answer.evidence
    assert answer.status == "abstained" and ev.stop_reason == "budget_exhausted"
    assert ev.stop_detail == "search model calls limit 2" and ev.calls == 2 and len(model.requests) == 2


def test_sygus_checks_every_constraint_including_those_not_shown() -> None:
    # shown: the first 2 examples; the third (no space) is only checked, and its failure is fed back
    split_space = "```python\ndef f(_arg_0):\n    return _arg_0[: _arg_0.index(' ')]\n```"
    first_word = "```python\ndef f(_arg_0: str) -> str:\n    return _arg_0.split(' ')[0]\n```"
    model = ScriptedModel(Script(["The first word."], [split_space], [first_word]))
    task = parse_task("fw", FIRST_WORD, max_shown=2)
    assert task.shown == 2
    answer = asyncio.run(hypothesis_search(model, task, HypothesisConfig(hypotheses=1), checker=exec_checker))
    assert "Grace" not in model.requests[1].messages[-1].content  # the program prompt shows 2 examples
    feedback = model.requests[2].messages[-1].content
    assert 'f("Grace") should be "Grace", but it raised ValueError' in feedback
    assert answer.status == "verified" and answer.answer_type == "program" and answer.value == answer.program
    assert answer.evidence.examples_total == 3 and answer.evidence.examples_shown == 2
    assert "(2 shown)" in answer.evidence.reason


def test_program_nodes_without_hypotheses_hang_from_the_root() -> None:
    model = ScriptedModel(Script([], [GOOD_FILL]))
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=0))
    assert answer.status == "verified" and answer.hypothesis == "" and answer.evidence.calls == 1
    assert nodes_of(tracer)["1"].parent == "0"


def test_judge_is_strict_and_reads_the_test_output_as_a_grid() -> None:
    task = parse_task("t", json.dumps(FILL))
    ok = CallResult(ok=True, value=[0, 3, 3, 3, 3, 0])
    rest = (CallResult(True, [5, 5, 5, 0, 0, 0]), CallResult(True, [0, 0, 7, 7, 7, 7]), CallResult(True, "no grid"))
    run = ProgramRun("ok", (ok, *rest))
    check = judge(task, run)
    assert check.passed == 3 and check.verdict == "test_failed" and check.failures[0].test
    not_run = CallResult(ok=False, error="not run: SystemError: boom")
    crashed = judge(task, ProgramRun("ok", (not_run,) * 4, load_error="SystemError: boom"))
    assert crashed.run_problem == "The code failed to load: SystemError: boom" and crashed.failures == ()
    assert same_value(1, 1) and not same_value(True, 1) and not same_value(3.0, 3) and same_value((1, 2), [1, 2])


# ----------------------------------------------------------------------------- reading replies and tasks


def test_code_is_read_fenced_unfenced_renamed_and_without_stray_calls() -> None:
    fenced = "Here:\n```python\ndef transform(row):\n    return row\n```\nThis returns the row."
    assert extract_code(fenced, "transform").code == "def transform(row):\n    return row\n"
    unfenced = "Sure.\ndef transform(row):\n    return row[::-1]\n\nThis reverses the row."
    assert extract_code(unfenced, "transform").code == "def transform(row):\n    return row[::-1]\n"
    renamed = extract_code("```py\ndef solve(row):\n    return row\nprint(solve([1]))\n```", "transform")
    assert renamed.code is not None and renamed.code.endswith("transform = solve\n") and "print" not in renamed.code
    assert "solve called as transform" in renamed.note and "top-level calls removed" in renamed.note
    truncated = extract_code("```python\ndef transform(row):\n    return row", "transform")  # max_tokens cut it
    assert truncated.code == "def transform(row):\n    return row\n"
    assert extract_code("no code at all", "transform").code is None
    two = "```python\nx = 1\n```\n```python\ndef transform(row):\n    return row\n```"
    assert "def transform" in (extract_code(two, "transform").code or "")


def test_grid_replies_are_read_from_lists_or_digits() -> None:
    assert parse_grid_reply("The output is [0, 2, 2, 0].", one_row=True) == [[0, 2, 2, 0]]
    assert parse_grid_reply("Output: [[0,2,2,0]]", one_row=True) == [[0, 2, 2, 0]]
    assert parse_grid_reply("0 2 2 0", one_row=True) == [[0, 2, 2, 0]]
    assert parse_grid_reply("[[1,2],[3,4]] then [[5,6],[7,8]]", one_row=False) == [[5, 6], [7, 8]]
    assert parse_grid_reply("[[1,2],[3]]", one_row=False) is None
    assert parse_grid_reply("no grid here", one_row=True) is None


def test_tasks_are_parsed_from_both_loaders_and_other_text_is_refused() -> None:
    arc = load_dataset("arc1d", DATA / "arc1d").items[0]
    task = parse_task(arc.id, arc.input["text"])
    assert task.one_row and task.signature == "def transform(row: list[int]) -> list[int]:"
    sy = {i.id: i for i in load_dataset("sygus", DATA / "sygus").items}["nth-char"]
    t = parse_task(sy.id, sy.input["text"])
    assert t.signature == "def g(s: str, n: int) -> str:" and len(t.examples) == 3 and t.test_inputs == ()
    two_d = {"train": [{"input": [[1], [2]], "output": [[2], [1]]}], "test_input": [[3], [4]]}
    assert not parse_task("2d", json.dumps(two_d)).one_row
    with pytest.raises(TaskFormatError, match="neither"):
        parse_task("x", "What is 2 + 2?")
    with pytest.raises(TaskFormatError, match="at least one example"):
        parse_task("x", "(synth-fun f ((a Int)) Int)\nexamples: []")


# ----------------------------------------------------------------------------- the direct baseline


def test_direct_answers_are_unverified_and_abstain_without_a_grid_or_code() -> None:
    task = parse_task("fill", json.dumps(FILL))
    grid = asyncio.run(direct_answer(ScriptedModel(["The output is [0,2,2,2,2,0]."]), task))
    assert grid.status == "unverified" and grid.value == FILL_GOLD and grid.evidence.method == "direct"
    none = asyncio.run(direct_answer(ScriptedModel(["I am not sure."]), task))
    assert none.status == "abstained" and none.value is None and none.evidence.reason == "no grid in the reply"
    sy = parse_task("fw", FIRST_WORD)
    prog = asyncio.run(direct_answer(ScriptedModel(["```python\ndef f(_arg_0):\n    return _arg_0\n```"]), sy))
    assert prog.status == "unverified" and prog.answer_type == "program" and "def f(" in str(prog.value)


# ----------------------------------------------------------------------------- nodes and params


def test_node_params_refuse_greedy_hypotheses_and_the_node_takes_an_injected_checker() -> None:
    with pytest.raises(ValidationError, match="temperature 0"):
        HypothesisSearchParams(hypotheses=3, temperature=0)
    spec = get_node("hypothesis.search")
    assert spec is not None and spec.write_kinds == ("program_answer",) and spec.read_kinds == ("question",)
    run = RunContext(models={"default": ScriptedModel(Script(["Fill."], [GOOD_FILL]))})
    ctx = NodeContext(node="search", run=run, spec=spec, extras={"program_checker": exec_checker})
    answer = asyncio.run(hypothesis_search_node(ctx, arc_question(), HypothesisSearchParams(hypotheses=1)))
    assert answer.status == "verified" and answer.value == FILL_GOLD
    assert any(isinstance(e, ToolCall) and e.tool == "sandbox" for e in run.tracer.events)


# ----------------------------------------------------------------------------- scoring in thinkgraph eval


def _item(answer_type: AnswerType, text: str, gold: Any = None) -> EvalItem:
    q = Question(id="i", text=text)
    return EvalItem(id="i", dataset="d", line=1, input=q.model_dump(mode="json"), gold=gold, answer_type=answer_type)


def _result(out: ProgramAnswer) -> RunResult:
    return RunResult(run_id="r", workflow="w", ending="abstained" if out.abstained() else "answered", output=out)


def test_grid_answers_score_by_exact_match_and_verified_status_is_kept() -> None:
    item = _item("grid", json.dumps(FILL), gold=FILL_GOLD)
    verified = ProgramAnswer(value=FILL_GOLD, status="verified")
    fields = score(item, _result(verified))
    assert fields["correct"] is True and fields["status"] == "verified" and fields["confidence"] == 1.0
    wrong = score(item, _result(ProgramAnswer(value=[[0, 2, 2, 2, 0, 0]], status="unverified")))
    assert wrong["correct"] is False and wrong["status"] == "answered"
    as_text = _item("grid", json.dumps(FILL), gold=json.dumps(FILL_GOLD))
    assert score(as_text, _result(ProgramAnswer(value=FILL_GOLD, status="unverified")))["correct"] is True
    abstained = score(item, _result(ProgramAnswer(value=None, status="abstained")))
    assert abstained["status"] == "abstained" and abstained["correct"] is False


def test_program_answers_are_correct_only_when_every_constraint_holds() -> None:
    item = _item("program", FIRST_WORD)
    right = "def f(_arg_0):\n    return _arg_0.split(' ')[0]\n"
    almost = "def f(_arg_0):\n    return _arg_0[: _arg_0.index(' ')]\n"  # fails the third constraint only
    assert check_program(item, right, exec_checker) is True and check_program(item, almost, exec_checker) is False
    fields = score(item, _result(ProgramAnswer(value=almost, status="unverified", answer_type="program")), exec_checker)
    assert fields["correct"] is False and fields["status"] == "answered"
    fields = score(item, _result(ProgramAnswer(value=right, status="unverified", answer_type="program")), exec_checker)
    assert fields["correct"] is True
    abstained = score(item, _result(ProgramAnswer(value=None, status="abstained")), exec_checker)
    assert abstained["correct"] is False  # an abstention counts against accuracy, it is not unscored


def test_spread_takes_items_round_robin_over_concepts() -> None:
    report = load_dataset("arc1d", DATA / "arc1d")
    assert [i.meta["concept"] for i in report.items] == ["1d_fill", "1d_fill", "1d_fill", "1d_flip"]
    assert [i.id for i in spread(report.items, "concept")] == ["1d_fill_1", "1d_flip_10", "1d_fill_2-1", "1d_fill_2-2"]


def test_eval_of_the_direct_workflows_scores_grids_and_programs(tmp_path: Path) -> None:
    arc = load_dataset("arc1d", DATA / "arc1d")
    compiled = resolve(ROOT / "examples" / "direct_arc.yaml")

    def row(request: ChatRequest, i: int) -> str:  # the gold of the fixture's first task, wrong for the others
        return "[0,0,2,2,2,0]"

    model = ScriptedModel(row)
    summary = evaluate(arc, compiled, model, "scripted", tmp_path / "a.db", progress=False, spread="concept", limit=2)
    assert summary["problems"] == 2 and summary["correct"] == 1 and summary["spread"] == "concept"
    sy = load_dataset("sygus", DATA / "sygus")
    compiled = resolve(ROOT / "examples" / "direct_sygus.yaml")
    program = "```python\ndef f(_arg_0):\n    return _arg_0.split(' ')[0]\n```"  # right for first-name only
    model = ScriptedModel(lambda r, i: program)
    out = tmp_path / "s.db"
    summary = evaluate(sy, compiled, model, "scripted", out, progress=False, program_checker=exec_checker)
    assert summary["problems"] == 3 and summary["scored"] == 3 and summary["correct"] == 1


# ----------------------------------------------------------------------------- with the real sandbox


def _sandbox_or_skip() -> None:
    try:
        from thinkgraph.tools import sandbox
    except ImportError:
        pytest.skip("thinkgraph.tools.sandbox is not here")
    if not hasattr(sandbox, "call_function"):
        pytest.skip("thinkgraph.tools.sandbox has no call_function yet")
    try:
        sandbox.default_runner()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(f"no sandbox: {exc}")


def test_the_real_sandbox_runs_programs_times_out_loops_and_scores_via_the_yaml_workflow(tmp_path: Path) -> None:
    _sandbox_or_skip()
    from thinkgraph.agents.hypothesis import sandbox_checker

    loop = "```python\ndef transform(row):\n    while 1:\n        pass\n```"
    crash = "```python\nraise SystemError('boom')\ndef transform(row):\n    return row\n```"
    model = ScriptedModel(Script(["Loop.", "Fill."], [loop, GOOD_FILL], [crash]))
    checker = sandbox_checker(timeout_s=10, call_timeout_s=1)
    answer, tracer = search(model, arc_question(), HypothesisConfig(hypotheses=2, revisions=1), checker=checker)
    assert answer.status == "verified" and answer.value == FILL_GOLD
    looped, loaded, passed = sandbox_runs(tracer)
    assert looped.output["verdict"] != "passed" and looped.output["passed"] == 0
    assert "Timeout" in looped.output["outcomes"][0]["error"]  # each call has its own limit: the search went on
    assert loaded.output["passed"] == 0 and loaded.input["code"].startswith("raise SystemError")
    assert loaded.error.startswith("The code failed to load: ") and "boom" in loaded.error
    assert answer.evidence.best is not None and answer.evidence.best.hypothesis == "Fill."
    assert passed.output["status"] == "ok" and passed.output["passed"] == 3
    # the YAML workflow through thinkgraph eval: hypothesis search verified in the sandbox, scored in it again
    sy = load_dataset("sygus", DATA / "sygus")
    compiled = resolve(ROOT / "examples" / "hypothesis_sygus.yaml")
    first_word = "```python\ndef f(_arg_0):\n    return _arg_0.split(' ')[0]\n```"

    def reply(request: ChatRequest, i: int) -> str:
        return "The first word." if "find the rule" in request.messages[0].content else first_word

    summary = evaluate(sy, compiled, ScriptedModel(reply), "scripted", tmp_path / "h.db", progress=False)
    assert summary["problems"] == 3 and summary["correct"] == 1 and summary["abstained"] == 2


@pytest.mark.slow
def test_hypothesis_search_on_the_real_small_model_ends_in_a_checked_answer_or_an_abstention() -> None:
    pytest.importorskip("xllamacpp")
    _sandbox_or_skip()
    from thinkgraph.llm import load_model

    model = load_model("local:small")
    task = parse_task("fw", FIRST_WORD)
    tracer = Tracer()
    config = HypothesisConfig(hypotheses=1, revisions=1, max_tokens=160, hypothesis_tokens=60)
    try:
        answer = asyncio.run(hypothesis_search(model, task, config, tracer=tracer))
    finally:
        asyncio.run(model.aclose())
    # the small model may or may not find it; either way the answer is backed by sandbox runs, never guessed
    ev = answer.evidence
    assert 2 <= ev.calls <= 3 and ev.programs >= 1 and ev.stop_reason in ("found", "done")
    if answer.status == "verified":
        assert ev.passed == 3 and check_program(_item("program", FIRST_WORD), answer.value) is True
    else:
        assert answer.status == "abstained" and answer.value is None and ev.best is not None
    assert len(sandbox_runs(tracer)) == ev.sandbox_runs
