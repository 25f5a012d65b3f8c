"""Speculative thinking (Yang et al., 2025): the small model writes, the large one takes over at reflection points
and hands back; each model's tokens are counted; budgets and missing answers end the run with a named reason."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

import thinkgraph.nodes.speculative as spec_node  # registers speculative.reason until nodes/__init__ imports it
from thinkgraph.agents.speculative import (
    CONTINUE_PROMPT,
    SpeculativeConfig,
    SpeculativeResult,
    find_trigger,
    has_final_answer,
    speculative_reason,
    strip_echo,
)
from thinkgraph.evals.items import Question
from thinkgraph.graphs.yaml_loader import load_workflow, loads_workflow
from thinkgraph.llm.base import ChatRequest, ChatResponse, Completion
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.messages import ChatMessage, ModelResponse, Note, Usage
from thinkgraph.runtime import RunContext
from thinkgraph.search.base import SearchBudget
from thinkgraph.search.records import SearchAnswer
from thinkgraph.testing import ScriptedModel, apply_limits, count_tokens

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "speculative.yaml"
PROMPT = [ChatMessage(role="system", content="Reason, then 'Answer: X'."), ChatMessage(role="user", content="4 pens?")]


def words(text: str) -> int:
    return count_tokens(text)


class Story:
    """A deterministic fake model.  ``parts`` maps an anchor to what the model writes after a text ending with
    it (``""``: from the very start); a call continues the part the prefilled text has reached, as a model at
    temperature 0 would, honouring ``max_tokens`` (in words) and ``stop``.  Nothing matches: it ends its turn.
    ``echo``: repeat the prefilled text before the continuation, as llama.cpp does."""

    def __init__(self, parts: dict[str, str] | str, name: str = "story", echo: bool = False) -> None:
        self.parts = {"": parts} if isinstance(parts, str) else parts
        self.name, self.echo = name, echo
        self.requests: list[ChatRequest] = []

    def continuation(self, prefix: str) -> str:
        best, out = -1, ""
        for anchor, part in self.parts.items():
            for m in range(len(part), -1, -1):
                hit = prefix == part[:m] if not anchor else prefix.endswith(anchor + part[:m])
                if hit:
                    if len(anchor) + m > best:
                        best, out = len(anchor) + m, part[m:]
                    break
        return out

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        last = request.messages[-1]
        prefix = last.content if last.role == "assistant" else ""
        text, finish = apply_limits(self.continuation(prefix), request.stop, request.max_tokens)
        shown = prefix + text if self.echo else text
        usage = Usage(prompt_tokens=10, completion_tokens=words(text))
        return ChatResponse(model=self.name, choices=(Completion(text=shown, finish_reason=finish),), usage=usage)

    async def aclose(self) -> None:
        return None


def run(small: Any, large: Any, **kw: Any) -> tuple[SpeculativeResult, list[str]]:
    notes: list[str] = []
    result = asyncio.run(speculative_reason(small, large, PROMPT, SpeculativeConfig(**kw), note=notes.append))
    return result, notes


# ----------------------------------------------------------------------------- the loop


@pytest.mark.parametrize(
    ("before", "trigger"),
    [("", "\n\n"), ("\n", "Wait"), (" ", "wait,"), (". ", "But"), ("", " but ")],
)
def test_the_large_model_takes_over_at_each_trigger_and_hands_back(before: str, trigger: str) -> None:
    first = "Two pens cost 6 dollars" + before
    chunk = first + trigger + " four pens cost 13."
    kept = trigger if not trigger.strip() else trigger.rstrip(" ")
    took = "four pens cost 2 x 6 = 12 dollars."
    small = Story({"": chunk, "12 dollars.\n\n": "So 4 pens cost 12.\nAnswer: 12"}, "small")
    large = Story({first + kept: took + "\n\nnever written"}, "large")
    result, notes = run(small, large)

    assert result.text == first + kept + took + "\n\n" + "So 4 pens cost 12.\nAnswer: 12"
    assert result.answered and result.stop_reason == "answered"
    assert [(s.writer, s.trigger) for s in result.segments] == [("small", ""), ("large", trigger), ("small", "")]
    # the large model continued the same text (a partial assistant turn ending with the trigger) to a paragraph end
    assert large.requests[0].messages[-1] == ChatMessage(role="assistant", content=first + kept)
    assert large.requests[0].stop == ("\n\n",) and small.requests[0].stop == ()
    ledger = result.ledger
    assert ledger.small_tokens == words(chunk) + words("So 4 pens cost 12.\nAnswer: 12")
    assert ledger.large_tokens == words(took) and ledger.discarded == len(chunk) - len(first + kept)
    assert (ledger.small_segments, ledger.takeovers, ledger.by_trigger) == (2, 1, {trigger: 1})
    assert ledger.calls == 3 and ledger.small_model == "small" and ledger.large_model == "large"
    assert notes == [
        f"large model large took over at {trigger!r} after {words(chunk)} tokens, wrote {words(took)} tokens"
    ]


def test_a_trigger_inside_a_word_is_not_a_reflection_point() -> None:
    small = Story("Butter costs 3 dollars; we await, then the jar costs 2.\nAnswer: 5", "small")
    large = Story({}, "large")
    result, notes = run(small, large, chunk_tokens=4)
    assert result.answered and result.text == small.parts[""]
    assert result.ledger.takeovers == 0 and notes == [] and not large.requests
    assert len(small.requests) == 4 and result.ledger.discarded == 0


def test_llama_cpp_repeating_the_prefill_is_cut_off() -> None:
    small = Story({"": "One pen costs 3.\n\nmore", "12.\n\n": "So the total is 12.\nAnswer: 12"}, "small", echo=True)
    large = Story({"3.\n\n": "Four pens cost 12.\n\n"}, "large", echo=True)
    result, _ = run(small, large, chunk_tokens=4)
    assert result.text == "One pen costs 3.\n\nFour pens cost 12.\n\nSo the total is 12.\nAnswer: 12"
    assert [s.writer for s in result.segments] == ["small", "large", "small"]


def test_a_paragraph_break_with_cues_takes_over_only_before_a_reflective_word() -> None:
    small = Story("Pens cost 3.\n\nSo four cost 12.\n\nWait, check it again.", "small")
    large = Story({"\n\nWait": ", 4 x 3 = 12.\nAnswer: 12"}, "large")
    result, _ = run(small, large, triggers=("\n\n",), paragraph_cues=("wait", "hmm"), chunk_tokens=5)
    assert result.text == "Pens cost 3.\n\nSo four cost 12.\n\nWait, 4 x 3 = 12.\nAnswer: 12"
    assert [(s.writer, s.trigger) for s in result.segments] == [("small", ""), ("large", "\n\n")]


def test_the_large_model_finishes_when_the_small_one_ends_without_an_answer() -> None:
    small = Story("Four pens cost 12 dollars.", "small")
    large = Story({"dollars.": " Answer: 12"}, "large")
    result, notes = run(small, large)
    assert result.answered and result.text == "Four pens cost 12 dollars. Answer: 12"
    assert result.ledger.by_trigger == {"end": 1} and "took over at 'end'" in notes[0]


def test_both_models_ending_without_an_answer_is_ended() -> None:
    small = Story("I am not sure about this.", "small")
    result, _ = run(small, Story({}, "large"))
    assert (result.stop_reason, result.answered, result.text) == ("ended", False, "I am not sure about this.")
    assert len(small.requests) == 1  # it ended, the large model's turn to finish wrote nothing


def test_the_total_token_cap_stops_the_reasoning() -> None:
    small = Story(" ".join(f"w{i}" for i in range(200)) + "\nAnswer: 1", "small")
    result, _ = run(small, Story({}, "large"), max_tokens=20, chunk_tokens=8)
    assert result.stop_reason == "max_tokens" and not result.answered
    assert result.ledger.small_tokens == 20 and [r.max_tokens for r in small.requests] == [8, 8, 4]


def test_a_budget_of_calls_stops_with_budget_exhausted() -> None:
    small = Story({"": "Pens cost 3 dollars each.\n\nmore", "12 dollars.\n\n": "never asked"}, "small")
    large = Story({"each.\n\n": "Four pens cost 12 dollars."}, "large")
    result, _ = run(small, large, budget=SearchBudget(max_calls=2))
    assert (result.stop_reason, result.stop_detail) == ("budget_exhausted", "search model calls limit 2")
    assert result.ledger.calls == 2 and len(small.requests) == 1 and not result.answered


def test_max_takeovers_zero_leaves_the_writing_to_the_small_model() -> None:
    small = Story("Pens cost 3.\n\nWait, so 4 cost 12.\nAnswer: 12", "small")
    result, _ = run(small, Story({}, "large"), max_takeovers=0)
    assert result.answered and result.ledger.takeovers == 0 and result.text == small.parts[""]


def test_prompt_continuation_puts_the_text_in_the_user_turn() -> None:
    small = ScriptedModel(["Pens cost 3.\n\nmore", "Answer: 12"], "small")
    large = ScriptedModel(["Four cost 12."], "large")
    result, _ = run(small, large, continuation="prompt")
    assert result.answered and result.text == "Pens cost 3.\n\nFour cost 12.\n\nAnswer: 12"
    msgs = large.requests[0].messages
    assert [m.role for m in msgs] == ["system", "user"]
    assert msgs[-1].content == "4 pens?" + CONTINUE_PROMPT + "Pens cost 3.\n\n"


def test_final_answer_lines_triggers_and_echoes() -> None:
    assert has_final_answer("so 4 x 3 = 12.\nAnswer: 12") and has_final_answer("so 12. The answer is: 12")
    assert has_final_answer("**Final answer:** 12\n", complete=False)
    assert not has_final_answer("First let's find the answer: first the price.")
    assert not has_final_answer("Answer: 7", complete=False)  # cut by the token cap: '72' may follow
    assert find_trigger("", "costs 3 but then", [" but ", "But"]) == (" but ", len("costs 3 but"))
    assert find_trigger("x. ", "Butter is", ["But"]) is None
    assert find_trigger("we a", "wait, then", ["wait,"]) is None
    assert find_trigger("costs 3. Bu", "t then", ["But"]) == ("But", 1)  # spans the chunk boundary
    assert find_trigger("costs 3.\n\n", "So 4", ["\n\n"]) is None  # already in the text
    assert find_trigger("12.", "\n\nSo", ["\n\n"], cues=["wait"]) is None
    assert find_trigger("12.", "\n\nHmm, no", ["\n\n"], cues=["wait", "hmm"]) == ("\n\n", len("\n\nHmm"))
    assert find_trigger("", "a\n\nb Wait", ["Wait", "\n\n"]) == ("\n\n", 3)  # the first one
    assert strip_echo("abc def", "abc") == " def" and strip_echo("xyz", "abc") == "xyz"


# ----------------------------------------------------------------------------- the node


def _events(ctx: RunContext, kind: type) -> list[Any]:
    return [e for e in ctx.tracer.events if isinstance(e, kind)]


def test_the_example_workflow_answers_a_question_with_the_ledger_as_evidence() -> None:
    compiled = load_workflow(EXAMPLE).compile()
    small = Story(
        {"": "Each pen costs 3 dollars.\n\nWait, that", "12 dollars.\n\n": "So it is 12.\nAnswer: 12"}, "small"
    )
    large = Story({"dollars.\n\n": "Wait, 4 pens cost 4 x 3 = 12 dollars.\n\nmore"}, "large")
    ctx = RunContext()
    question = Question(id="q1", text="A pen costs 3 dollars. How much do 4 pens cost?")
    result = compiled.run_sync(question, model=small, models={"think.large": large}, ctx=ctx)

    out = result.output
    assert isinstance(out, SearchAnswer) and (out.value, out.status) == ("12", "voted")
    ev = out.evidence
    assert ev.method == "speculative" and ev.stop_reason == "answered" and ev.votes == {"12": 1}
    assert [p.split("]")[0] for p in ev.path] == ["[small", "[large at '\\n\\n'", "[small"]
    # the ledger in the evidence is what the traced model calls report, model by model
    responses = _events(ctx, ModelResponse)
    per_model = {m: sum(e.usage.completion_tokens for e in responses if e.model == m) for m in ("small", "large")}
    assert per_model["small"] > 0 and per_model["large"] > 0
    assert f"small small wrote {per_model['small']} tokens in 2 segments" in ev.reason
    assert f"large large wrote {per_model['large']} tokens in 1 takeovers" in ev.reason
    assert ev.calls == len(responses) == 3 and all(e.node == "think" for e in responses)
    notes = [n.text for n in _events(ctx, Note)]
    assert any(n.startswith("large model large took over at '\\n\\n' after 7 tokens") for n in notes)


def test_a_problem_is_answered_like_cot_vote_and_cut_off_reasoning_abstains() -> None:
    wf = loads_workflow(
        "workflow: spec-logic\ninput: problem\noutput: answer\n"
        "nodes:\n  think: {use: speculative.reason, with: {max_tokens: 16, chunk_tokens: 8}}\n"
    ).compile()
    problem = Problem(premises=("All men are mortal.", "Socrates is a man."), conclusion="Socrates is mortal.")
    small = Story("Socrates is a man, so he is mortal.\nAnswer: True", "small")  # 8 words, then 2
    got = wf.run_sync(problem, model=small, models={"think.large": Story({}, "large")}).output
    assert isinstance(got, Answer) and (got.value, got.status) == ("True", "voted")
    assert "small small wrote 10 tokens" in got.evidence.reason and "stopped: answered" in got.evidence.reason

    rambling = Story("Socrates is a man and the conclusion is true " * 5 + "\nAnswer: True", "small")
    cut = wf.run_sync(problem, model=rambling, models={"think.large": Story({}, "large")}).output
    assert isinstance(cut, Answer) and cut.status == "abstained" and cut.value is None
    assert "stopped: max_tokens" in cut.evidence.reason


class Closing(ScriptedModel):
    closed = 0

    async def aclose(self) -> None:
        Closing.closed += 1


@pytest.mark.parametrize("fails", [False, True])
def test_a_large_model_named_by_spec_is_loaded_and_closed(monkeypatch: pytest.MonkeyPatch, fails: bool) -> None:
    import thinkgraph.llm

    loaded: list[str] = []

    def fake_load(spec: str, **kw: Any) -> Closing:
        loaded.append(spec)
        return Closing(["Four pens cost 12.\nAnswer: 12"], "large")

    monkeypatch.setattr(thinkgraph.llm, "load_model", fake_load)
    Closing.closed = 0
    small = ScriptedModel([] if fails else ["Pens cost 3."], "small")  # [] : its first call fails
    result = load_workflow(EXAMPLE).compile().run_sync(Question(text="4 pens at 3 dollars?"), model=small)
    if fails:
        assert result.ending == "failed" and "exhausted" in (result.error or "")
    else:
        assert isinstance(result.output, SearchAnswer) and result.output.value == "12"
    assert loaded == ["local"] and Closing.closed == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("openai:gpt@https://example.com/v1", "on another host"),
        ("vllm:Qwen/Qwen2.5-7B", "would start a vLLM server"),
        ("gpt-4", "unknown model spec"),
    ],
)
def test_unsafe_or_unknown_large_model_specs_are_refused_by_the_checker(spec: str, message: str) -> None:
    from thinkgraph.graphs.errors import WorkflowError

    text = EXAMPLE.read_text(encoding="utf-8").replace("large_model: local", f"large_model: '{spec}'")
    with pytest.raises(WorkflowError, match=re.escape(message)):
        loads_workflow(text)
    spec_node.SpeculativeParams(large_model="openai:m@http://127.0.0.1:8000/v1")  # a loopback server is fine


# ----------------------------------------------------------------------------- the real models


@pytest.mark.slow
def test_real_small_and_large_models_both_write() -> None:
    pytest.importorskip("xllamacpp")
    from thinkgraph.llm import load_model

    small, large = load_model("local:small"), load_model("local")

    async def go() -> SpeculativeResult:
        try:
            cfg = SpeculativeConfig(
                triggers=("\n", "Wait", " but "), chunk_tokens=16, takeover_tokens=24, max_tokens=120
            )
            messages = spec_node.messages_for(Question(text="A pen costs 3 dollars. How much do 4 pens cost?"))
            return await speculative_reason(small, large, messages, cfg)
        finally:
            await small.aclose()
            await large.aclose()

    result = asyncio.run(go())
    ledger = result.ledger
    assert ledger.small_tokens > 0 and ledger.large_tokens > 0 and ledger.takeovers >= 1
    assert ledger.small_tokens + ledger.large_tokens <= 120
    assert result.text == "".join(s.text for s in result.segments) and result.segments[0].writer == "small"
    first_takeover = next(i for i, s in enumerate(result.segments) if s.writer == "large")
    assert result.segments[first_takeover - 1].text.endswith(("\n", "Wait", " but"))


@pytest.mark.parametrize(("said", "value"), [("Four pens cost 12 dollars.", "12"), ("I do not know.", None)])
def test_a_finished_text_without_an_answer_line_is_read_whole_or_abstains(said: str, value: str | None) -> None:
    compiled = load_workflow(EXAMPLE).compile()
    small, large = Story(said, "small"), Story({}, "large")
    out = compiled.run_sync(Question(text="4 pens at 3 dollars?"), model=small, models={"think.large": large}).output
    assert isinstance(out, SearchAnswer) and out.evidence.stop_reason == "ended" and out.value == value
    assert out.status == ("voted" if value else "abstained")
    if value is None:
        assert "no final answer, so none is given" in out.evidence.reason


def test_the_example_round_trips_through_yaml() -> None:
    from thinkgraph.graphs.yaml_loader import dump_workflow

    wf = load_workflow(EXAMPLE)
    assert loads_workflow(dump_workflow(wf)).to_dict() == wf.to_dict()
