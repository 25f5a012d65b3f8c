"""Prompt strategies (re2, far, cop, reverse) pinned with scripted models: the rendered prompts, COP's selection
call and the reasoning prompt over only the selected premises, and the reverse check that flags an answer whose
reasoning is about another question — in cot.reason, the sampling search nodes and deductive.reason."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import thinkgraph.nodes.deductive  # noqa: F401  (registers deductive.*; until nodes/__init__ imports it)
from thinkgraph.agents.cot import cot_samples, cot_vote, render_cot_prompt
from thinkgraph.agents.natural_program import render_np_prompt
from thinkgraph.agents.strategies import (
    COP_SYSTEM,
    FAR_INSTRUCTIONS,
    RE2_LEAD,
    REVERSE_SYSTEM_PROBLEM,
    SelectionError,
    cop_select,
    far,
    overlap,
    parse_cop_selection,
    premises_of,
    re2,
    render_reverse_prompt,
    reverse_check,
    with_premises,
)
from thinkgraph.evals.items import Question
from thinkgraph.graphs.errors import WorkflowError
from thinkgraph.graphs.workflow import Workflow
from thinkgraph.llm.base import ChatRequest
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.messages import ChatMessage, Note
from thinkgraph.runtime import RunContext
from thinkgraph.search.records import SearchAnswer
from thinkgraph.testing import ScriptedModel

PROBLEM = Problem(
    id="p",
    premises=("All men are mortal.", "Cats are furry.", "Socrates is a man.", "Rex is a dog."),
    conclusion="Socrates is mortal.",
    gold="True",
)


def _system(request: ChatRequest) -> str:
    return request.messages[0].content if request.messages[0].role == "system" else ""


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- pure transforms


def test_re2_repeats_the_question_after_read_it_again_and_keeps_the_rest() -> None:
    base = render_cot_prompt(PROBLEM)
    out = re2(base)
    question = base[-1].content
    assert out[0] == base[0] and len(out) == len(base)
    assert out[-1].content == f"{question}\n\n{RE2_LEAD}{question}"
    assert out[-1].content.count("Conclusion: Socrates is mortal.") == 2
    assert base[-1].content == question  # pure: the input prompt is unchanged
    # a few-shot prompt: only the last user turn (the real question) is repeated, not the example
    np_prompt = render_np_prompt(PROBLEM)
    np_out = re2(np_prompt)
    assert np_out[:-1] == np_prompt[:-1] and np_out[-1].content.count("Statement: Socrates is mortal.") == 2


def test_far_adds_foresee_then_reflect_after_the_question() -> None:
    out = far(render_cot_prompt(PROBLEM))
    text = out[-1].content
    assert text.endswith(FAR_INSTRUCTIONS) and text.index("Foresee:") < text.index("Reflect:")
    assert text.startswith("Premises:")
    with pytest.raises(ValueError, match="user turn"):
        re2([ChatMessage(role="system", content="only a system turn")])


def test_cop_selection_parsing() -> None:
    assert parse_cop_selection("3 -> 1\nRelevant: 3, 1", 4) == (3, 1)
    assert parse_cop_selection("Relevant: 1\nthinking...\nRelevant premises: 2 and 2, 9, 1", 4) == (2, 1)
    for bad in ("I think 1 and 3.", "Relevant: none", "Relevant: 7, 0"):
        with pytest.raises(SelectionError):
            parse_cop_selection(bad, 4)


def test_cop_on_a_question_selects_sentences_of_its_context_or_of_its_text() -> None:
    q = Question(text="Tom has 3 apples. The sky is blue. He buys 4 more. How many apples does he have?")
    assert premises_of(q) == ("Tom has 3 apples.", "The sky is blue.", "He buys 4 more.")
    assert with_premises(q, (1, 3)).text == "Tom has 3 apples. He buys 4 more. How many apples does he have?"
    qc = Question(text="Who is older?", context="Ann is 5. Bo is 7. Cy likes tea.")
    assert with_premises(qc, (2, 1)).context == "Bo is 7. Ann is 5." and with_premises(qc, ()).context == qc.context


def test_overlap_of_content_words() -> None:
    assert overlap("Socrates is mortal.", "Is Socrates mortal?") == 1.0
    assert overlap("Max is sour.", "Max is not sour") == 1.0  # negation is the answer's business, not the question's
    assert overlap("Wumpuses are red.", "Is every wumpus red?") == 1.0  # plurals match
    assert overlap("Max is sour.", "Is Max a dumpus?") == 0.5
    assert overlap("Socrates is mortal.", "Nutty is a reptile.") == 0.0 and overlap("", "x y") == 0.0


def test_the_reverse_prompt_shows_only_the_reasoning() -> None:
    msgs = render_reverse_prompt(PROBLEM, "Men are mortal; Socrates is one.\nAnswer: True")
    text = " ".join(m.content for m in msgs)
    assert msgs[0].content == REVERSE_SYSTEM_PROBLEM and "Answer: True" in text
    assert "Socrates is mortal." not in text and "Cats are furry." not in text


# ----------------------------------------------------------------------------- COP's two calls


def cop_model(selection: str, answer: str = "Men are mortal.\nAnswer: True") -> ScriptedModel:
    return ScriptedModel(lambda r, i: selection if _system(r) == COP_SYSTEM else answer)


def test_cop_makes_its_selection_call_first_and_reasons_over_only_the_selected_premises() -> None:
    model = cop_model("Socrates is a man, men are mortal: 3 -> 1\nRelevant: 3, 1")
    ctx = RunContext()
    texts = run(cot_samples(model, PROBLEM, strategy="cop", tracer=ctx.tracer))
    assert texts == ["Men are mortal.\nAnswer: True"] and len(model.requests) == 2
    select, reason = model.requests
    assert _system(select) == COP_SYSTEM
    assert "1. All men are mortal." in select.messages[-1].content and "4. Rex is a dog." in select.messages[-1].content
    user = reason.messages[-1].content
    assert user.startswith("Premises:\n1. Socrates is a man.\n2. All men are mortal.\n\nConclusion:")  # chain order
    assert "Cats are furry." not in user and "Rex is a dog." not in user
    notes = [e.text for e in ctx.tracer.events if isinstance(e, Note)]
    assert notes == ["COP selected premises 3, 1 of 4"]


def test_an_unusable_cop_selection_falls_back_to_every_premise_and_says_so() -> None:
    model = cop_model("The first and the third, I think.")
    ctx = RunContext()
    run(cot_samples(model, PROBLEM, strategy="cop", tracer=ctx.tracer))
    user = model.requests[1].messages[-1].content
    assert all(p in user for p in PROBLEM.premises)
    notes = [e.text for e in ctx.tracer.events if isinstance(e, Note)]
    assert notes and "unusable" in notes[0] and "all 4 premises" in notes[0]
    sel = run(cop_select(cop_model("Relevant: 2"), PROBLEM))
    assert sel.chosen == (2,) and not sel.error


# ----------------------------------------------------------------------------- in the nodes


def reverse_model(reconstructed: str, answer: str = "Men are mortal and Socrates is a man.\nAnswer: True") -> Any:
    def reply(request: ChatRequest, i: int) -> str:
        return reconstructed if _system(request) == REVERSE_SYSTEM_PROBLEM else answer

    return ScriptedModel(reply)


def cot_workflow(strategy: str, samples: int = 1) -> Workflow:
    wf = Workflow(f"cot_{strategy}", input="problem", output="answer")
    wf.add("reason", "cot.reason", {"samples": samples, "strategy": strategy})
    wf.add("vote", "cot.vote")
    wf.edge("reason", "vote")
    return wf


def test_cot_reason_takes_a_strategy_and_the_default_prompt_is_unchanged() -> None:
    for strategy, check in [
        ("none", lambda u: u == render_cot_prompt(PROBLEM)[-1].content),
        ("re2", lambda u: RE2_LEAD in u and u.count("Conclusion:") == 2),
        ("far", lambda u: "Foresee:" in u and "Reflect:" in u),
    ]:
        model = ScriptedModel(lambda r, i: "Answer: True")
        result = cot_workflow(strategy).compile().run_sync(PROBLEM, model=model)
        assert isinstance(result.output, Answer) and result.output.value == "True"
        assert len(model.requests) == 1 and check(model.requests[0].messages[-1].content), strategy


def test_the_reverse_check_withholds_a_cot_sample_about_another_question() -> None:
    ok = cot_workflow("reverse").compile().run_sync(PROBLEM, model=reverse_model("Socrates is mortal."))
    assert isinstance(ok.output, Answer) and (ok.output.value, ok.output.status) == ("True", "voted")
    ctx = RunContext()
    bad = cot_workflow("reverse").compile().run_sync(PROBLEM, model=reverse_model("Rex is a dog."), ctx=ctx)
    out = bad.output
    assert isinstance(out, Answer) and out.status == "abstained" and out.evidence.failed_samples == 1
    assert "reverse check failed" in out.evidence.rationales[0]
    notes = [e.text for e in ctx.tracer.events if isinstance(e, Note)]
    assert any("reverse check failed" in n and "'Rex is a dog.'" in n for n in notes)
    assert cot_vote(PROBLEM, out.evidence.rationales).value is None  # the withheld text names no answer


def test_reverse_check_record() -> None:
    check = run(reverse_check(reverse_model("Is Socrates mortal?"), PROBLEM, "Answer: True"))
    assert check.passed and check.similarity == 1.0 and check.original == "Socrates is mortal."
    check = run(reverse_check(reverse_model("Is Rex mortal?"), PROBLEM, "Answer: True", threshold=0.6))
    assert not check.passed and check.similarity == 0.5


@pytest.mark.parametrize(
    ("use", "params"),
    [
        ("search.self_consistency", {"samples": 3}),
        ("search.best_of_n", {"samples": 3}),
        ("search.adaptive", {"max_samples": 4, "batch": 2}),
        ("search.rpc", {"samples": 3}),
    ],
)
def test_sampling_nodes_lower_an_answer_failing_the_reverse_check(use: str, params: dict[str, Any]) -> None:
    def model(reconstructed: str) -> ScriptedModel:
        def reply(request: ChatRequest, i: int) -> str:
            if _system(request) == REVERSE_SYSTEM_PROBLEM:
                return reconstructed
            return "Yes" if "Yes or No" in request.messages[-1].content else "Men are mortal.\nAnswer: True"

        return ScriptedModel(reply)

    for reconstructed, status in [("Socrates is mortal.", "voted"), ("Cats are furry.", "abstained")]:
        wf = Workflow("w", input="problem", output="answer")
        wf.add("s", use, {**params, "strategy": "reverse"})
        m = model(reconstructed)
        out = wf.compile().run_sync(PROBLEM, model=m).output
        assert isinstance(out, Answer) and out.status == status, (use, reconstructed)
        reverse_calls = [r for r in m.requests if _system(r) == REVERSE_SYSTEM_PROBLEM]
        assert len(reverse_calls) == 1 and "Socrates is mortal." not in reverse_calls[0].messages[-1].content
        if status == "abstained":
            assert out.value is None and "reverse check failed" in out.evidence.reason
            assert "withheld answer 'True'" in out.evidence.reason


def test_sampling_nodes_take_re2_and_cop_for_a_question_too() -> None:
    wf = Workflow("w", input="question", output="search_answer")
    wf.add("s", "search.self_consistency", {"samples": 2, "strategy": "re2"})
    model = ScriptedModel(lambda r, i: "Answer: 12")
    out = wf.compile().run_sync(Question(text="What is 4 * 3?"), model=model).output
    assert isinstance(out, SearchAnswer) and out.value == "12"
    assert model.requests[0].messages[-1].content.count("What is 4 * 3?") == 2

    wf = Workflow("w2", input="question", output="search_answer")
    wf.add("s", "search.self_consistency", {"samples": 2, "strategy": "cop"})
    model = ScriptedModel(lambda r, i: "Relevant: 1, 3" if _system(r) == COP_SYSTEM else "Answer: 7")
    q = Question(text="Tom has 3 apples. The sky is blue. He buys 4 more. How many apples does he have?")
    out = wf.compile().run_sync(q, model=model).output
    assert isinstance(out, SearchAnswer) and out.value == "7"
    assert _system(model.requests[0]) == COP_SYSTEM
    asked = model.requests[1].messages[-1].content
    assert "Tom has 3 apples. He buys 4 more. How many" in asked and "sky" not in asked


def test_an_unknown_strategy_is_refused_when_the_workflow_is_built() -> None:
    wf = Workflow("w", input="problem", output="rationales")
    wf.add("s", "cot.reason", {"strategy": "reread"})
    with pytest.raises(WorkflowError, match=r"nodes\.s\.with\.strategy: Input should be 'none', 're2'"):
        wf.compile()
