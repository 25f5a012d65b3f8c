from __future__ import annotations

from collections.abc import Callable

from conftest import EXAMPLE_FORMULAS
from thinkgraph.agents.linc import LincConfig, split_sentences
from thinkgraph.agents.translator import TranslatorConfig, Vocab, extract_formula, predicate_key
from thinkgraph.graphs.linc import solve_sync
from thinkgraph.llm.base import ChatRequest
from thinkgraph.logic.fol import parse, to_unicode
from thinkgraph.messages import Problem, Verdict
from thinkgraph.runtime import Budget, Ledger, RunContext
from thinkgraph.testing import ScriptedModel

PROBLEM = Problem(
    id="p1",
    premises=(
        "All squirrels are rodents.",
        "All rodents are mammals.",
        "Nutty is a squirrel.",
        "No mammal is a reptile.",
    ),
    conclusion="Nutty is a reptile.",
    gold="False",
)
GOOD = EXAMPLE_FORMULAS


def sentence_of(request: ChatRequest) -> str:
    last = request.messages[-1].content
    return last.split("Sentence: ", 1)[1] if "Sentence: " in last else last


def translator(table: dict[str, str], override: Callable[[str, int], str | None] | None = None) -> ScriptedModel:
    def answer(request: ChatRequest, i: int) -> str:
        if "does not fit the sentence" in request.messages[-1].content:
            return request.messages[-2].content  # a repair turn: this scripted model insists on its formula
        sample = i + (0 if request.temperature == 0 else 1)  # greedy request is sample 0
        if override is not None:
            out = override(sentence_of(request), sample)
            if out is not None:
                return out
        return table[sentence_of(request)]

    return ScriptedModel(answer)


def cfg(**kw: object) -> LincConfig:
    """LINC's own program-level vote unless a test asks for per-sentence voting."""
    kw.setdefault("vote", "program")
    return LincConfig(translator=TranslatorConfig(samples=3), **kw)  # type: ignore[arg-type]


def test_correct_translation_gives_verified_answer_with_certificate() -> None:
    ctx = RunContext()
    seen: list[str] = []
    answer = solve_sync(PROBLEM, translator(GOOD), config=cfg(), ctx=ctx, on_event=lambda e: seen.append(e.kind))
    assert (answer.value, answer.status) == ("False", "verified")
    ev = answer.evidence
    assert ev.votes == {"False": 3} and ev.agreement == 1.0
    assert ev.verdict is not None and ev.verdict.certificate.premises_used == (0, 1, 2, 3)
    assert ev.formalization is not None and ev.formalization.premises[2].sentence == "Nutty is a squirrel."
    nodes = [e.node for e in ctx.tracer.events if e.kind == "node_started"]
    assert nodes == ["translate", "prove", "vote"]
    assert seen[0] == "run_started" and seen[-1] == "run_finished" and "tool_call" in seen
    assert ctx.ledger.by_node["translate"].calls == 10  # greedy + sampled request per sentence
    assert "proof by z3" in answer.render()


def test_a_dissenting_sample_lowers_status_to_voted() -> None:
    model = translator(GOOD, lambda s, i: "Mammal(nutty)" if (s, i) == ("Nutty is a reptile.", 2) else None)
    answer = solve_sync(PROBLEM, model, config=cfg())
    assert (answer.value, answer.status) == ("False", "voted")
    assert answer.evidence.votes == {"False": 2, "True": 1}


def test_threshold_turns_a_weak_majority_into_abstention() -> None:
    model = translator(GOOD, lambda s, i: "Mammal(nutty)" if (s, i) == ("Nutty is a reptile.", 2) else None)
    answer = solve_sync(PROBLEM, model, config=cfg(threshold=0.9))
    assert answer.status == "abstained" and answer.value is None
    assert "2 of 3" in answer.evidence.reason


def test_garbage_model_abstains_with_reason_after_one_repair_each() -> None:
    model = ScriptedModel(lambda r, i: "I think the answer is probably yes!!")
    answer = solve_sync(PROBLEM, model, config=cfg())
    assert answer.status == "abstained" and answer.value is None
    assert "not formalized" in answer.evidence.reason
    repairs = [r for r in model.requests if r.messages[-1].content.startswith("The formula")]
    assert len(repairs) == 3 * 5  # one repair per failed sample, never more


def test_parse_error_is_fed_back_and_repaired() -> None:
    def override(sentence: str, i: int) -> str | None:
        return "Squirrel(nutty) ∧" if sentence == "Nutty is a squirrel." else None

    base = translator(GOOD, override)

    def answer(request: ChatRequest, i: int) -> str:
        if "⟪HERE⟫" in request.messages[-1].content:
            return "Squirrel(nutty)"
        return base._script(request, i)  # type: ignore[operator]

    ctx = RunContext()
    answer_ = solve_sync(PROBLEM, ScriptedModel(answer), config=cfg(), ctx=ctx)
    assert (answer_.value, answer_.status) == ("False", "verified")
    summary = next(e for e in ctx.tracer.events if e.kind == "node_finished" and e.node == "translate")
    assert "15/15 samples parsed (3 after a repair turn)" in summary.summary  # type: ignore[union-attr]


def test_vocabulary_is_aligned_across_sentences() -> None:
    table = dict(GOOD)
    table["All rodents are mammals."] = "∀x (Rodents(x) → IsMammal(x))"
    table["No mammal is a reptile."] = "∀x (Mammal(x) → ¬Reptiles(x))"
    answer = solve_sync(PROBLEM, translator(table), config=cfg())
    assert answer.value == "False"


def test_budget_exhaustion_ends_in_a_named_abstention() -> None:
    ctx = RunContext(ledger=Ledger(budget=Budget(max_calls=3)))
    answer = solve_sync(PROBLEM, translator(GOOD), config=cfg(), ctx=ctx)
    assert answer.status == "abstained" and "budget exceeded: model calls" in answer.evidence.reason


def test_second_prover_disagreement_forces_abstention() -> None:
    class Contrarian:
        name = "contrarian"

        def entails(self, premises: object, conclusion: object) -> Verdict:
            return Verdict(label="True", solver=self.name)

    answer = solve_sync(PROBLEM, translator(GOOD), config=cfg(), second_prover=Contrarian())
    assert answer.status == "abstained" and "contrarian says True" in answer.evidence.reason


def test_chain_of_thought_baseline_votes_without_certificate() -> None:
    model = ScriptedModel(["Nutty is a mammal, so not a reptile.\nAnswer: False", "Answer: False", "no idea"])
    answer = solve_sync(PROBLEM, model, workflow="cot", config=cfg())
    assert (answer.value, answer.status) == ("False", "voted")
    assert answer.evidence.votes == {"False": 2} and answer.evidence.failed_samples == 1
    assert answer.evidence.verdict is None


def test_helpers() -> None:
    assert split_sentences("Bob is big. If Bob is big then Bob is red. Anne is 3.5 m tall.") == [
        "Bob is big.",
        "If Bob is big then Bob is red.",
        "Anne is 3.5 m tall.",
    ]
    assert extract_formula("```\nFormula: ∀x (A(x) → B(x)).\n```") == "∀x (A(x) → B(x))"
    assert predicate_key("Chases") == predicate_key("chase") == predicate_key("IsChase")
    v = Vocab()
    assert to_unicode(v.align(parse("Sees(theCat, Bob)"))) == "Sees(theCat, Bob)"
    assert to_unicode(v.align(parse("See(cat, bob)"))) == "Sees(theCat, Bob)"


def test_sentence_voting_builds_a_consensus_that_outvotes_per_sample_errors() -> None:
    # each sample garbles a different sentence: no single sample program proves the conclusion,
    # but the per-sentence majority does
    broken = {
        1: ("All squirrels are rodents.", "∀x (Squirrel(x) → Rat(x))"),
        2: ("All rodents are mammals.", "∀x (Rodent(x) → Fish(x))"),
    }

    def override(sentence: str, i: int) -> str | None:
        s, f = broken.get(i, ("", ""))
        return f if sentence == s else None

    answer = solve_sync(PROBLEM, translator(GOOD, override), config=cfg(vote="sentence"))
    assert answer.value == "False"
    assert answer.status == "voted"  # two core sentences were not unanimous
    assert answer.evidence.votes == {"False": 1, "Uncertain": 2}
    assert "per-sentence consensus" in answer.evidence.reason


def test_sentence_voting_prefers_a_sample_proof_over_an_uncertain_consensus() -> None:
    def override(sentence: str, i: int) -> str | None:
        if sentence == "No mammal is a reptile.":
            return "∀x (Mammal(x) → ¬Reptile(x))" if i == 0 else "∀x (Mammal(x) → Furry(x))"
        return None

    answer = solve_sync(PROBLEM, translator(GOOD, override), config=cfg(vote="sentence"))
    assert (answer.value, answer.status) == ("False", "voted")
    assert "1 sample formalization(s) prove False" in answer.evidence.reason
    assert answer.evidence.formalization is not None and answer.evidence.formalization.sample == 0


def test_sentence_voting_ignores_proofs_of_a_different_conclusion() -> None:
    def override(sentence: str, i: int) -> str | None:
        if sentence == "Nutty is a reptile.":
            return "Reptile(nutty)" if i < 2 else "Rodent(nutty)"
        if sentence == "All rodents are mammals.":
            return "∀x (Mammal(x) → Rodent(x))"  # the converse: breaks the chain, passes the checks
        return None

    answer = solve_sync(PROBLEM, translator(GOOD, override), config=cfg(vote="sentence"))
    assert (answer.value, answer.status) == ("Uncertain", "voted")  # the proof of Rodent(nutty) is not evidence


def test_uncertain_consensus_with_an_unfaithful_formula_abstains() -> None:
    def override(sentence: str, i: int) -> str | None:
        return "∀x (Mammal(x) → True(x))" if sentence == "No mammal is a reptile." else None

    answer = solve_sync(PROBLEM, translator(GOOD, override), config=cfg(vote="sentence"))
    assert answer.status == "abstained" and "faithfulness" in answer.evidence.reason
    relaxed = solve_sync(PROBLEM, translator(GOOD, override), config=cfg(vote="sentence", check_faithfulness=False))
    assert (relaxed.value, relaxed.status) == ("Uncertain", "voted")


def test_strict_uncertain_needs_every_sentence_agreed_and_none_repaired() -> None:
    # one sample of one premise dissents: lenient Uncertain stands on the 2-of-3 majority, strict abstains
    def split(sentence: str, i: int) -> str | None:
        return "∀x (Rodent(x) → Reptile(x))" if (sentence, i) == ("All rodents are mammals.", 2) else None

    problem = PROBLEM.model_copy(update={"conclusion": "Nutty is green.", "gold": "Uncertain"})
    table = {**GOOD, "Nutty is green.": "Green(nutty)"}
    lenient = solve_sync(problem, translator(table, split), config=cfg(vote="sentence"))
    assert (lenient.value, lenient.status) == ("Uncertain", "voted")
    strict = solve_sync(problem, translator(table, split), config=cfg(vote="sentence", uncertain="strict"))
    assert strict.status == "abstained" and "every sentence agreed" in strict.evidence.reason
    assert "All rodents are mammals." in strict.evidence.reason
    both = solve_sync(problem, translator(table), config=cfg(vote="sentence", uncertain="strict"))
    assert (both.value, both.status) == ("Uncertain", "voted")

    # a sentence whose formula came from a repair turn: strict abstains, lenient keeps Uncertain
    def repaired(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "does not fit the sentence" in last:
            return "Green(nutty)"
        sentence = sentence_of(request)
        return "Blue(nutty)" if sentence == "Nutty is green." else table[sentence]

    fixed = solve_sync(problem, ScriptedModel(repaired), config=cfg(vote="sentence", uncertain="strict"))
    assert fixed.status == "abstained" and "was repaired" in fixed.evidence.reason
    kept = solve_sync(problem, ScriptedModel(repaired), config=cfg(vote="sentence"))
    assert (kept.value, kept.status) == ("Uncertain", "voted")


def test_faithfulness_checks() -> None:
    from thinkgraph.agents.translator import faithfulness_issues

    assert faithfulness_issues("Round people are not big.", "∀x ((Round(x) ∧ Person(x)) → ¬Big(x))") == []
    assert faithfulness_issues("The dog chases the cat.", "Chase(dog, cat)") == []
    assert "negation" in faithfulness_issues("If Bob is quiet then Bob is blue.", "¬Quiet(bob) → Blue(bob)")[0]
    assert "True" in faithfulness_issues("If it eats the cow then it is red.", "∀x (Eats(x, cow) → True(x))")[0]
    assert faithfulness_issues("Bo is an academic researcher.", "AcademicResearcher(bo)") == []


def test_astream_yields_events_live_then_the_answer() -> None:
    import asyncio

    from thinkgraph.graphs.linc import astream
    from thinkgraph.messages import Answer

    async def collect() -> list[object]:
        return [item async for item in astream(PROBLEM, translator(GOOD), config=cfg())]

    items = asyncio.run(collect())
    assert isinstance(items[-1], Answer) and items[-1].value == "False"
    kinds = [getattr(i, "kind", "") for i in items[:-1]]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and kinds.count("node_started") == 3


def test_sentence_voting_abstains_when_samples_prove_both_ways() -> None:
    def override(sentence: str, i: int) -> str | None:
        if sentence == "No mammal is a reptile.":
            return {0: "∀x (Mammal(x) → Furry(x))", 1: "∀x (Mammal(x) → Reptile(x))"}.get(i)
        return None

    answer = solve_sync(PROBLEM, translator(GOOD, override), config=cfg(vote="sentence"))
    assert answer.status == "abstained" and "both True and False" in answer.evidence.reason


def test_cot_answer_parsing() -> None:
    from thinkgraph.agents.cot import parse_cot_answer

    assert parse_cot_answer("... so\n**Answer:** Uncertain") == "Uncertain"
    assert parse_cot_answer("Answer: True\nwait, re-reading... Answer: False") == "False"
    assert parse_cot_answer("Therefore the conclusion is false.") == "False"
    assert parse_cot_answer('Therefore, the conclusion "Fiona is round" is True.') == "True"
    assert parse_cot_answer("Bob is unknown to me") is None


def test_an_unfaithful_formula_goes_back_to_the_model_and_is_repaired() -> None:
    rule = "If something is big then it is nice."
    problem = Problem(id="r", premises=("Anne is big.", rule), conclusion="Anne is nice.", gold="True")
    table = {"Anne is big.": "Big(anne)", rule: "∀x (Big(x) → True(x))", "Anne is nice.": "Nice(anne)"}

    def answer(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "does not fit the sentence" in last:
            assert "True names no word of the sentence" in last
            return "∀x (Big(x) → Nice(x))"
        return table[sentence_of(request)]

    model = ScriptedModel(answer)
    ctx = RunContext()
    result = solve_sync(problem, model, config=cfg(vote="sentence"), ctx=ctx)
    assert (result.value, result.status) == ("True", "verified")
    repairs = [r for r in model.requests if "does not fit the sentence" in r.messages[-1].content]
    assert len(repairs) == 3  # each of the rule's three samples, once
    f = result.evidence.formalization
    assert f is not None and f.premises[1].formula == "∀x (Big(x) → Nice(x))"


def test_a_repair_that_does_not_help_keeps_the_sample_and_its_issue() -> None:
    from thinkgraph.agents.translator import SentenceTranslator

    model = ScriptedModel(lambda r, i: "∀x (Big(x) → True(x))")
    tr = SentenceTranslator(model, TranslatorConfig(samples=1, repair_turns=2))
    import asyncio

    [sample] = asyncio.run(tr.translate("If something is big then it is nice."))
    assert sample.formula == "∀x (Big(x) → True(x))" and not sample.repaired
    assert sample.issues == ("the predicate True names no word of the sentence",)
    assert len(model.requests) == 3  # the sample and two repair turns
