"""search.repeated_sampling (a verifier, pass@k, verifier-aware abstention) and search.thinksum as nodes, from
Python and YAML, with scripted models."""

from __future__ import annotations

from pathlib import Path

import pytest

import thinkgraph.nodes  # noqa: F401  (registers the built-in nodes)
from thinkgraph.evals.items import Question
from thinkgraph.graphs.workflow import Workflow
from thinkgraph.graphs.yaml_loader import load_workflow
from thinkgraph.llm.base import ChatRequest
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.messages import SearchNode
from thinkgraph.nodes.verified import think_queries
from thinkgraph.runtime import RunContext
from thinkgraph.search import SearchAnswer
from thinkgraph.testing import ScriptedModel

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def checker_model(accept: str) -> ScriptedModel:
    """Samples answer 41, 42, 43, 42 … in turn; the self-check says Yes only to a solution that names ``accept``."""

    def reply(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "Reply with Yes or No" in last:
            return "Yes" if f"Answer: {accept}" in last else "No"
        return f"Work.\nAnswer: {[41, 42, 43, 42][i % 4]}"

    return ScriptedModel(reply)


def run_question(
    params: dict[str, object], model: ScriptedModel, use: str = "search.repeated_sampling"
) -> SearchAnswer:
    wf = Workflow("w", input="question", output="search_answer")
    wf.add("s", use, params)
    result = wf.compile().run_sync(Question(id="q", text="6 * 7?"), model=model)
    assert result.ending in ("answered", "abstained"), result.error
    assert isinstance(result.output, SearchAnswer)
    assert (result.ending == "abstained") == (result.output.status == "abstained")
    return result.output


def test_repeated_sampling_answers_the_first_accepted_sample_with_pass_at_k() -> None:
    model = checker_model("42")
    out = run_question({"samples": 4, "ks": [1, 2, 4]}, model)
    assert (out.value, out.status) == ("42", "scored")
    assert out.evidence.votes == {"42": 2} and out.evidence.samples == 4
    assert out.evidence.scores == (0.0, 1.0, 0.0, 1.0)
    # pass@1 = 2/4; pass@2 = 1 - C(2,2)/C(4,2) = 5/6; pass@4 = 1
    assert "pass@1 0.50" in out.evidence.reason and "pass@2 0.83" in out.evidence.reason
    assert "pass@4 1.00" in out.evidence.reason
    sampling = [r for r in model.requests if r.n and r.n > 1]
    assert len(sampling) == 1 and sampling[0].n == 4  # n samples in one request


def test_repeated_sampling_abstains_when_no_sample_passes() -> None:
    out = run_question({"samples": 4}, checker_model("7"))
    assert out.value is None and out.status == "abstained"
    assert "no sample was accepted" in out.evidence.reason and out.evidence.scores == (0.0, 0.0, 0.0, 0.0)


def test_abstention_decision_skips_sampling_when_the_verifier_is_too_weak() -> None:
    model = checker_model("42")
    # p = 0.2, FPR 0.5: an accepted answer is right with probability 0.2*0.9/(0.18+0.4) = 0.31 < 1/2 at equal costs
    out = run_question({"samples": 8, "accuracy": 0.2, "false_positive_rate": 0.5}, model)
    assert out.status == "abstained" and model.requests == []
    assert out.evidence.reason.startswith("abstain:") and "0.310" in out.evidence.reason


def test_abstention_decision_chooses_the_sample_count_from_the_sample_cost() -> None:
    model = checker_model("42")
    # p = 0.5, FPR 0.1, TPR 0.9: q = 0.5, precision 0.9, m = 0.8; c = 0.1 -> k* = ceil(ln(0.1/0.4)/ln(0.5)) = 2
    out = run_question({"samples": 8, "accuracy": 0.5, "false_positive_rate": 0.1, "cost_sample": 0.1}, model)
    assert out.value == "42" and out.evidence.samples == 2
    assert out.confidence == pytest.approx(0.9)
    assert "up to 2 samples" in out.evidence.reason


def test_repeated_sampling_on_a_logic_problem_and_in_the_trace() -> None:
    problem = Problem(id="p", premises=("All cats are animals.", "Tom is a cat."), conclusion="Tom is an animal.")

    def reply(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "Reply with Yes or No" in last:
            return "Yes" if "Answer: True" in last else "No"
        return ["So.\nAnswer: False", "So.\nAnswer: True"][i % 2]

    ctx = RunContext()
    wf = Workflow("w", input="problem", output="answer")
    wf.add("s", "search.repeated_sampling", {"samples": 2, "ks": [1, 2]})
    result = wf.compile().run_sync(problem, model=ScriptedModel(reply), ctx=ctx)
    out = result.output
    assert isinstance(out, Answer) and (out.value, out.status) == ("True", "voted")
    tree = [e for e in ctx.tracer.events if isinstance(e, SearchNode)]
    assert len(tree) == 3 and sum(e.verdict == "chosen" for e in tree) == 1


def test_thinksum_queries_each_candidate_both_ways() -> None:
    q = Question(text="Which is a mammal?", options=("whale", "shark"))
    queries = think_queries(q)
    assert [(x.candidate, x.negate) for x in queries] == [("A", False), ("A", True), ("B", False), ("B", True)]
    assert "option A (whale)" in queries[0].prompt and queries[1].prompt.count("Is it false") == 1
    with pytest.raises(ValueError, match="options"):
        think_queries(Question(text="6 * 7?"))


def test_thinksum_node_combines_the_probabilities() -> None:
    def reply(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        whale = "option A (whale)" in last
        positive = "Is it true" in last
        return "Yes" if whale == positive else "No"

    ctx = RunContext()
    wf = Workflow("w", input="question", output="search_answer")
    wf.add("s", "search.thinksum", {"votes": 1})
    q = Question(id="m", text="Which is a mammal?", options=("whale", "shark"))
    result = wf.compile().run_sync(q, model=ScriptedModel(reply), ctx=ctx)
    out = result.output
    assert isinstance(out, SearchAnswer) and out.value == "A" and out.status == "scored"
    assert out.evidence.weights["A"] > 0.99 and out.evidence.samples == 4
    tree = [e for e in ctx.tracer.events if isinstance(e, SearchNode)]
    assert len(tree) == 1 + 2 + 4  # root, a node per candidate, a leaf per query


def test_the_yaml_examples_load_and_run() -> None:
    wf = load_workflow(EXAMPLES / "search_repeated.yaml").compile()
    result = wf.run_sync(Question(id="q", text="6 * 7?"), model=checker_model("42"))
    assert isinstance(result.output, SearchAnswer) and result.output.value == "42"
    ts = load_workflow(EXAMPLES / "search_thinksum.yaml").compile()

    def reply(request: ChatRequest, i: int) -> str:
        return (
            "Yes"
            if ("option B" in request.messages[-1].content) == ("Is it true" in request.messages[-1].content)
            else "No"
        )

    q = Question(id="m", text="Which is a fish?", options=("whale", "shark"))
    assert getattr(ts.run_sync(q, model=ScriptedModel(reply)).output, "value", None) == "B"


def test_thinksum_on_a_logic_problem_weighs_the_three_labels() -> None:
    problem = Problem(id="p", premises=("Tom is a cat.",), conclusion="Tom is a dog.")

    def reply(request: ChatRequest, i: int) -> str:
        claim = request.messages[-1].content.rsplit("\n", 1)[-1]
        uncertain = "decide neither" in claim
        return "Yes" if uncertain == ("Is it true" in claim) else "No"

    wf = Workflow("w", input="problem", output="answer")
    wf.add("s", "search.thinksum", {"votes": 1})
    out = wf.compile().run_sync(problem, model=ScriptedModel(reply)).output
    assert isinstance(out, Answer) and out.value == "Uncertain" and out.evidence.agreement > 0.99
    assert "P(Uncertain)" in out.evidence.reason
