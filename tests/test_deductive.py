"""Deductive verification in the Natural Program format (Ling et al., 2023), pinned with scripted models: parsing
and repair turns, step checks that see only what a step cites, structural failures without a call, votes and the
rules, answers (voted / abstained with the failing step), the nodes and the example workflow, and the measurement:
gold PrOntoQA proofs as sound chains and their seeded flaws, judged by a rule-based checker that really checks."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import shared_file
from thinkgraph.agents.deductive import (
    CHECK_SYSTEM,
    ChainParseError,
    NPStep,
    check_step,
    deductive_answer,
    parse_natural_program,
    parse_vote,
    render_np_prompt,
    verify_chain,
    verify_chains,
)
from thinkgraph.agents.deductive_chains import FLAWS, flawed, flawed_chains, negated, sound_chain
from thinkgraph.agents.natural_program import NP_SYSTEM, natural_program_samples
from thinkgraph.graphs.workflow import Workflow
from thinkgraph.graphs.yaml_loader import load_workflow
from thinkgraph.llm.base import ChatRequest
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.messages import ToolCall
from thinkgraph.nodes.deductive import DeductiveReport
from thinkgraph.runtime import RunContext
from thinkgraph.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]

# a PrOntoQA record (dev ProntoQA_1, shortened context)
PREMISES = (
    "Jompuses are not shy.",
    "Each yumpus is a dumpus.",
    "Dumpuses are wumpuses.",
    "Numpuses are sour.",
    "Every wumpus is an impus.",
    "Impuses are not sour.",
    "Zumpuses are small.",
    "Max is a yumpus.",
)
EXPLANATION = (
    "Max is a yumpus.",
    "Each yumpus is a dumpus.",
    "Max is a dumpus.",
    "Dumpuses are wumpuses.",
    "Max is a wumpus.",
    "Every wumpus is an impus.",
    "Max is an impus.",
    "Impuses are not sour.",
    "Max is not sour.",
)
PROBLEM = Problem(id="pq", premises=PREMISES, conclusion="Max is sour.", gold="False")
SOUND = """#9. (by #8, #2) Max is a dumpus.
#10. (by #9, #3) Max is a wumpus.
#11. (by #10, #5) Max is an impus.
#12. (by #11, #6) Max is not sour.
Answer: False"""


# ----------------------------------------------------------------------------- a checker that really checks

_CLAIM = re.compile(r'^The statement "(?P<s>.*)" is (?P<label>true|false)\.$')
_FACT = re.compile(r"^(?P<subj>[A-Z][a-z]+) is (?P<neg>not )?(?:an? )?(?P<pred>[\w-]+)\.?$")
_RULE = re.compile(r"^(?:Every |Each )?(?P<cls>[\w-]+) (?:is|are) (?P<neg>not )?(?:an? )?(?P<pred>[\w-]+)\.?$")


def _one(word: str) -> str:
    word = word.lower()
    return word[:-2] if word.endswith("ses") else word


def follows(facts: list[str], statement: str) -> bool:
    """PrOntoQA's one inference, for real: 'X is a C' and 'Cs are (not) P' give 'X is (not) P'; and the claim
    'the statement S is true/false' follows from S / from its negation."""
    claim = _CLAIM.match(statement)
    if claim is not None:
        target = claim["s"] if claim["label"] == "true" else negated(claim["s"])
        return any(f.rstrip(".") == (target or "").rstrip(".") for f in facts)
    goal = _FACT.match(statement)
    if goal is None:
        return False
    for f in facts:
        m = _FACT.match(f)
        if m is None or m["neg"] or m["subj"] != goal["subj"]:
            continue
        for r in facts:
            rule = _RULE.match(r)
            if (
                rule is not None
                and not r.startswith(goal["subj"])
                and _one(rule["cls"]) == _one(m["pred"])
                and _one(rule["pred"]) == _one(goal["pred"])
                and bool(rule["neg"]) == bool(goal["neg"])
            ):
                return True
    return False


def checker(request: ChatRequest, i: int) -> str:
    user = request.messages[-1].content
    facts_part, statement = user.split("\n\nStatement: ")
    statement = statement.split("\n\nDoes the statement follow")[0]
    facts = [re.sub(r"^#\d+\. ", "", ln) for ln in facts_part.splitlines()[1:]]
    return f"Checked.\nVerdict: {'yes' if follows(facts, statement) else 'no'}"


def model_for(chains: list[str], check: Any = checker) -> ScriptedModel:
    """Natural Program replies from ``chains`` (by sample index), checks from ``check``."""

    def reply(request: ChatRequest, i: int) -> str:
        if request.messages[0].content == CHECK_SYSTEM:
            return str(check(request, i))
        return chains[i % len(chains)]

    return ScriptedModel(reply)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- the format


def test_the_prompt_numbers_premises_and_asks_for_steps_from_the_next_number() -> None:
    msgs = render_np_prompt(PROBLEM)
    assert msgs[0].content == NP_SYSTEM and [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    assert "#8. Max is a yumpus." in msgs[-1].content and "numbered steps from #9" in msgs[-1].content
    assert "Statement: Max is sour." in msgs[-1].content


def test_parse_a_chain_with_prose_restated_premises_and_loose_citation_forms() -> None:
    text = (
        "Let me think.\n#8. Max is a yumpus.\n**#9.** (by #8 and #2) Max is a dumpus.\n"
        "#10. [by #9, #3]: Max is a wumpus.\n#11. by #10, #5, Max is an impus.\n#12. (by #11,#6) Max is not sour.\n"
        "So the statement is false.\nAnswer: False (by #12)"
    )
    prog = parse_natural_program(text, PREMISES)
    assert [(s.number, s.cites, s.text) for s in prog.steps] == [
        (9, (8, 2), "Max is a dumpus."),
        (10, (9, 3), "Max is a wumpus."),
        (11, (10, 5), "Max is an impus."),
        (12, (11, 6), "Max is not sour."),
    ]
    assert (prog.answer, prog.answer_cites) == ("False", (12,)) and prog.steps[0].line == 3
    uncited = parse_natural_program("#9. Max is a dumpus.\n#10. (by #9) Answer: True", PREMISES)
    assert uncited.steps[0].cites == () and (uncited.answer, uncited.answer_cites) == ("True", (9,))


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("I believe it is false.\nAnswer: False", "no reasoning step", 0),
        ("#9. (by #8, #2) Max is a dumpus.", "no final line 'Answer: True'", 0),
        ("#3. (by #8, #2) Max is a dumpus.\nAnswer: False", "reuses a premise number; steps continue from #9", 1),
        ("#9. (by #8) Max is a dumpus.\n#9. (by #9) Max is a wumpus.\nAnswer: True", "numbers must increase", 2),
        ("#9. (by #8, #2)\nAnswer: False", "step #9 states nothing", 1),
    ],
)
def test_malformed_chains_raise_a_located_parse_error(text: str, message: str, line: int) -> None:
    with pytest.raises(ChainParseError) as info:
        parse_natural_program(text, PREMISES)
    assert message in str(info.value) and info.value.line == line
    assert "numbered from #9" in info.value.feedback(9)


def test_a_malformed_chain_goes_back_to_the_model_with_the_error_then_stands() -> None:
    replies = iter(["Max is not sour, so False.", SOUND])
    model = ScriptedModel(lambda r, i: next(replies))
    texts = run(natural_program_samples(model, PROBLEM, repairs=1))
    assert texts == [SOUND] and len(model.requests) == 2
    repair = model.requests[1].messages
    assert repair[-2].role == "assistant" and repair[-2].content == "Max is not sour, so False."
    assert "no reasoning step" in repair[-1].content and "numbered from #9" in repair[-1].content
    stuck = ScriptedModel(lambda r, i: "no idea")
    assert run(natural_program_samples(stuck, PROBLEM, repairs=2)) == ["no idea"] and len(stuck.requests) == 3


# ----------------------------------------------------------------------------- checks


def test_votes_are_read_from_the_verdict_line() -> None:
    assert parse_vote("It follows.\nVerdict: yes") is True
    assert parse_vote("Verdict: yes... wait.\nVerdict: **No**") is False
    assert parse_vote("The step is valid.\nYes") is True and parse_vote("yes or no? hard to say") is None
    assert parse_vote("") is None and parse_vote("It follows.") is None
    assert parse_vote("Yes.\n\nIt follows from the first fact, as no other reading fits.") is True
    assert parse_vote("**No**, the step cites the wrong rule.\nIt does not follow.") is False


def test_each_check_sees_only_the_step_and_what_it_cites() -> None:
    model = model_for([SOUND])
    steps = parse_natural_program(SOUND, PREMISES).steps
    verdict = run(verify_chain(model, PREMISES, steps, 3, conclusion="Max is sour.", answer="False"))
    assert verdict.passed and [s.yes for s in verdict.steps] == [3, 3, 3, 3, 3]
    assert len(model.requests) == 5 and {r.n for r in model.requests} == {3}
    shown = {
        r.messages[-1].content.split("Statement: ")[1].split("\n")[0]: r.messages[-1].content for r in model.requests
    }
    assert shown["Max is a wumpus."].startswith("Facts:\n#9. Max is a dumpus.\n#3. Dumpuses are wumpuses.\n\n")
    for user in shown.values():
        assert "Max is sour" not in user.split("Statement:")[0]  # never the problem's question
        assert "Numpuses are sour." not in user and "Jompuses" not in user  # never an uncited premise
    assert shown['The statement "Max is sour." is false.'].startswith("Facts:\n#12. Max is not sour.\n\n")


def test_structural_failures_cost_no_call() -> None:
    model = model_for([SOUND])
    steps = (
        NPStep(number=9, cites=(), text="Max is a dumpus."),
        NPStep(number=10, cites=(11, 3), text="Max is a wumpus."),
        NPStep(number=11, cites=(10, 99), text="Max is an impus."),
        NPStep(number=12, cites=(12, 6), text="Max is not sour."),
    )
    verdict = run(verify_chain(model, PREMISES, steps, 3, conclusion="Max is sour.", answer="Uncertain"))
    assert not verdict.passed and model.requests == [] and verdict.calls == 0
    why = [s.structural for s in verdict.steps]
    assert why[0] == "it cites no premise or earlier step"
    assert "#11" in why[1] and "#99" in why[2] and "#12" in why[3]  # a later step, a missing one, itself
    assert "undetermined" in why[4] and verdict.steps[4].name == "answer"
    assert verdict.failing is not None and verdict.failing.number == 9


def test_majority_and_unanimity() -> None:
    known = {1: "All men are mortal.", 2: "Socrates is a man."}
    two_of_three = ScriptedModel(lambda r, i: "Verdict: no" if i == 2 else "Verdict: yes")
    step: dict[str, Any] = {"number": 3, "text": "Socrates is mortal.", "cites": (2, 1), "known": known}
    assert run(check_step(two_of_three, **step, votes=3)).passed
    v = run(check_step(two_of_three, **step, votes=3, rule="unanimous"))
    assert not v.passed and (v.yes, v.no, v.unclear) == (2, 1, 0) and v.describe() == "step #3 failed 2/3, 1 no"
    unclear = ScriptedModel(lambda r, i: "Verdict: yes" if i == 0 else "hmm")
    v = run(check_step(unclear, **step, votes=3))
    assert not v.passed and (v.yes, v.unclear) == (1, 2)  # unclear votes are no yes votes
    greedy = ScriptedModel(lambda r, i: "Verdict: yes")
    assert run(check_step(greedy, **step, votes=1)).passed and greedy.requests[0].temperature == 0.0


# ----------------------------------------------------------------------------- answers and nodes


def deductive_workflow(**verify: Any) -> Workflow:
    wf = Workflow("deductive", input="problem", output="answer")
    wf.add("reason", "deductive.reason", {"chains": verify.pop("chains", 1)})
    wf.add("verify", "deductive.verify", verify)
    wf.edge("reason", "verify")
    return wf


def test_a_fully_verified_chain_answers_voted_with_every_steps_votes_in_the_trace() -> None:
    ctx = RunContext()
    result = deductive_workflow().compile().run_sync(PROBLEM, model=model_for([SOUND]), ctx=ctx)
    out = result.output
    assert isinstance(out, Answer) and (out.value, out.status) == ("False", "voted")
    assert "no certificate" in out.evidence.reason and "step #9 passed 3/3" in out.evidence.reason
    assert "answer passed 3/3" in out.evidence.reason and out.evidence.rationales == (SOUND,)
    calls = [e for e in ctx.tracer.events if isinstance(e, ToolCall) and e.tool == "deductive.check_step"]
    assert [c.output["summary"] for c in calls] == [f"step #{k} passed 3/3" for k in (9, 10, 11, 12)] + [
        "answer passed 3/3"
    ]
    assert {c.node for c in calls} == {"verify"}
    report = result.latest(DeductiveReport)
    assert isinstance(report, DeductiveReport) and report.chosen == 0 and report.chains[0].passed
    assert report.summary() == "1/1 chains verified, answer from chain 1"


def test_a_chain_with_a_failing_step_abstains_naming_the_step_its_facts_and_votes() -> None:
    wrong = SOUND.replace("#11. (by #10, #5) Max is an impus.", "#11. (by #10, #4) Max is an impus.")
    out = deductive_workflow().compile().run_sync(PROBLEM, model=model_for([wrong])).output
    assert isinstance(out, Answer) and out.status == "abstained" and out.value is None
    reason = out.evidence.reason
    assert "no chain passed every check" in reason
    assert "rejected at step #11 failed 0/3, 3 no: 'Max is an impus.'" in reason
    assert "citing #10. Max is a wumpus.; #4. Numpuses are sour." in reason


def test_several_chains_first_stops_early_vote_checks_all() -> None:
    bad = SOUND.replace("Max is a wumpus.", "Max is not a wumpus.")
    model = model_for([bad, SOUND, SOUND])
    texts = run(natural_program_samples(model, PROBLEM, chains=3))
    first = run(verify_chains(model_for([SOUND]), PROBLEM, texts, select="first"))
    assert [v.passed for v in first] == [False, True]  # the third chain is never checked
    answer, chosen = deductive_answer(PROBLEM, texts, first, "first")
    assert chosen == 1 and answer.value == "False" and answer.evidence.votes == {"False": 1}
    every = run(verify_chains(model_for([SOUND]), PROBLEM, texts, select="vote"))
    answer, chosen = deductive_answer(PROBLEM, texts, every, "vote")
    assert [v.passed for v in every] == [False, True, True] and answer.evidence.votes == {"False": 2}
    assert answer.evidence.agreement == 1.0 and answer.evidence.failed_samples == 1
    garbage = run(verify_chains(model_for([SOUND]), PROBLEM, ["Just False."]))
    assert garbage[0].error.startswith("no reasoning step") and "'Just False.'" in garbage[0].error


def test_the_example_workflow_runs_with_a_scripted_model() -> None:
    wf = load_workflow(ROOT / "examples" / "deductive.yaml").compile()
    socrates = Problem.model_validate_json((ROOT / "examples" / "problem.json").read_text(encoding="utf-8"))
    chain = "#3. (by #2, #1) Socrates is mortal.\nAnswer: True"
    out = wf.run_sync(socrates, model=model_for([chain], lambda r, i: "Verdict: yes")).output
    assert isinstance(out, Answer) and (out.value, out.status) == ("True", "voted")


def test_temperature_zero_with_several_votes_is_refused() -> None:
    wf = deductive_workflow(votes=3, temperature=0)
    with pytest.raises(ValueError, match="temperature 0 gives one greedy vote"):
        wf.compile()


# ----------------------------------------------------------------------------- gold chains and flaws


def test_the_gold_proof_becomes_a_sound_chain_with_computed_citations() -> None:
    chain = sound_chain(PREMISES, EXPLANATION, "Max is sour.", "False")
    assert chain.text() == SOUND
    assert sound_chain(PREMISES, EXPLANATION, "Max is sour.", "False") == chain
    with pytest.raises(ValueError, match="follows no premise"):
        sound_chain(PREMISES, ("Max is a dumpus.",), "Max is sour.", "False")


def test_each_flaw_is_seeded_well_formed_and_changes_the_chain() -> None:
    chain = sound_chain(PREMISES, EXPLANATION, "Max is sour.", "False")
    flaws = flawed_chains(chain, seed=3)
    assert [f.kind for f in flaws] == list(FLAWS)
    assert flawed_chains(chain, seed=3) == flaws  # deterministic
    assert {f.text() for f in flaws} != {f.text() for f in flawed_chains(chain, seed=4)} or len(chain.steps) < 3
    for f in flaws:
        assert f.text() != chain.text() and f.changed and f.description
        steps = parse_natural_program(f.text(), PREMISES).steps
        assert all(s.cites and all(k < s.number for k in s.cites) for s in steps)  # only meaning can catch it
    skip = flawed(chain, "skip_step", 3)
    assert skip is not None and len(skip.steps) == len(chain.steps) - 1
    assert [s.number for s in skip.steps] == [9, 10, 11]
    assert negated("Max is not sour.") == "Max is sour." and negated("Max is a dumpus.") == "Max is not a dumpus."


def test_a_checker_that_checks_accepts_the_sound_chain_and_rejects_every_flaw() -> None:
    chain = sound_chain(PREMISES, EXPLANATION, "Max is sour.", "False")

    async def verdict(c: Any) -> bool:
        v = await verify_chain(model_for([SOUND]), c.premises, c.steps, 3, conclusion=c.conclusion, answer=c.answer)
        return bool(v.passed)

    assert run(verdict(chain))
    for f in flawed_chains(chain, seed=0):
        assert not run(verdict(f)), f.description


def test_gold_chains_for_every_prontoqa_dev_record() -> None:
    from thinkgraph.evals.loaders import load_dataset

    report = load_dataset("prontoqa", shared_file("prontoqa", "dev.json"))
    assert len(report.items) == 250
    for item in report.items:
        p = Problem.model_validate(item.input)
        assert p.gold is not None
        chain = sound_chain(p.premises, item.meta["explanation"], p.conclusion, p.gold)
        for c in [chain, *flawed_chains(chain)]:
            assert [(s.number, s.cites, s.text) for s in parse_natural_program(c.text(), p.premises).steps] == [
                (s.number, s.cites, s.text) for s in c.steps
            ]
        assert len(flawed_chains(chain)) == 4


# ----------------------------------------------------------------------------- the benchmark script


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deductive_prontoqa", ROOT / "benchmarks" / "deductive_prontoqa.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_measures_acceptance_rejection_and_accuracy(tmp_path: Path) -> None:
    mod = bench()
    records = [
        {
            "id": "r1",
            "context": " ".join(PREMISES),
            "question": "Is the following statement true or false? Max is sour.",
            "options": ["A) True", "B) False"],
            "answer": "B",
            "explanation": list(EXPLANATION),
        }
    ]
    data = tmp_path / "dev.json"
    data.write_text(json.dumps(records), encoding="utf-8")

    def reply(request: ChatRequest, i: int) -> str:
        if request.messages[0].content == CHECK_SYSTEM:
            return checker(request, i)
        if request.messages[0].content == NP_SYSTEM:
            return SOUND
        return "Impuses are not sour.\nAnswer: True"  # plain chain of thought, wrong

    figures = run(mod.measure(ScriptedModel(reply), mod.load(data, 5), votes=3, cot=True))
    assert figures["problems"] == 1 and figures["sound_accepted"] == 1 and figures["flawed_rejected"] == 4
    assert figures["flawed_rejected_by_kind"] == {k: "1/1" for k in FLAWS}
    assert figures["verifier_accepted"] == 1 and figures["verifier_accepted_correct"] == 1
    assert figures["cot_accuracy"] == 0.0 and figures["accepted_accuracy"] == 1.0
