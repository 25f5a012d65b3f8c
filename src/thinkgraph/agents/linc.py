"""LINC: translate to first-order logic, prove each sample, vote — as plain functions.

The steps are plain (testable without LangGraph); :mod:`thinkgraph.graphs.linc` wires them into a
graph.  Two ways to vote: ``sentence`` (default; see :func:`vote_consensus`) proves the formalization
made of each sentence's majority formula, and ``program`` (LINC's own) votes over the samples' verdicts:

* a sample *fails* when a sentence could not be formalized, the solver timed out, or its premises
  are inconsistent; failures count against agreement;
* ``verified``: every sample produced the same verdict (a stable formalization with a certificate);
* ``voted``: the winning verdict has at least ``threshold`` of all samples, but not all;
* ``abstained``: otherwise, with the reason.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from thinkgraph.agents.translator import (
    SampleResult,
    SentenceTranslator,
    TranslatorConfig,
    Vocab,
    faithfulness_issues,
    majority,
)
from thinkgraph.logic.fol import FOLParseError, parse, to_unicode, vocabulary
from thinkgraph.messages import (
    Answer,
    AnswerStatus,
    Evidence,
    Formalization,
    Label,
    Predicate,
    Problem,
    SentenceFormula,
    ToolCall,
    Verdict,
)
from thinkgraph.provers.base import Prover
from thinkgraph.runtime import Tracer

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (on ., ! or ? followed by a capitalised word)."""
    return [s.strip() for s in _SENT.split(text.strip()) if s.strip()]


@dataclass
class LincConfig:
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)
    vote: Literal["program", "sentence"] = "sentence"
    threshold: float = 0.5
    prover_timeout_s: float = 5.0
    strict_vocabulary: bool = False  # a conclusion predicate unknown to the premises fails the sample
    check_faithfulness: bool = True  # an Uncertain consensus needs every formula to pass faithfulness checks


CONSENSUS = -1  # sample index of the per-sentence majority formalization


@dataclass
class SampleOutcome:
    sample: int
    formalization: Formalization | None
    verdict: Verdict | None = None
    failure: str = ""
    sentence_agreement: tuple[float, ...] = ()  # consensus only: majority share per sentence

    @property
    def label(self) -> Label | None:
        return self.verdict.label if self.verdict is not None and not self.failure else None

    @property
    def is_consensus(self) -> bool:
        return self.sample == CONSENSUS


async def translate_problem(problem: Problem, translator: SentenceTranslator) -> list[list[SampleResult]]:
    """Samples for each premise, then the conclusion (last).  Sentences go in order, so with
    ``vocabulary_hint`` the names the first parsed sample used so far are offered to the next sentence."""
    hint = translator.config.vocabulary_hint
    vocab = Vocab()
    out: list[list[SampleResult]] = []
    for sentence in [*problem.premises, problem.conclusion]:
        results = await translator.translate(sentence, vocab.predicate_names())
        first = next((r.formula for r in results if r.formula is not None), None)
        if hint and first is not None:
            vocab.align(parse(first))
        out.append(results)
    return out


def build_formalizations(
    problem: Problem, per_sentence: list[list[SampleResult]], mode: str = "program"
) -> list[SampleOutcome]:
    """One formalization per sample; with ``sentence`` voting, first a consensus formalization made of
    each sentence's majority formula (sample index ``CONSENSUS``).  All share one vocabulary: names
    differing only in case, plural or 'the' are merged."""
    sentences = [*problem.premises, problem.conclusion]
    vocab = Vocab()
    aligned: list[list[str | None]] = []
    for results in per_sentence:
        row: list[str | None] = []
        for r in results:
            row.append(to_unicode(vocab.align(parse(r.formula))) if r.formula is not None else None)
        aligned.append(row)
    k = max(len(row) for row in aligned)
    programs = [(i, [row[i] if i < len(row) else None for row in aligned]) for i in range(k)]
    shares: tuple[float, ...] = ()
    if mode == "sentence":
        votes = [majority(row) for row in aligned]
        shares = tuple(share for _, share in votes)
        programs.insert(0, (CONSENSUS, [formula for formula, _ in votes]))
    outcomes = []
    for i, program in programs:
        missing = [j for j, f in enumerate(program) if f is None]
        if missing:
            j = missing[0]
            err = next((r.error for r in per_sentence[j] if r.error), "no formula")
            outcomes.append(
                SampleOutcome(i, None, failure=f"sentence {j + 1} ({sentences[j]!r}) not formalized: {err}")
            )
            continue
        outcomes.append(SampleOutcome(i, _formalization(sentences, program, i)))  # type: ignore[arg-type]
    if mode == "sentence":
        outcomes[0].sentence_agreement = shares
    return outcomes


def _formalization(sentences: Sequence[str], formulas: Sequence[str], sample: int) -> Formalization:
    parsed = [parse(f) for f in formulas]
    voc = vocabulary(parsed)
    items = [
        SentenceFormula(index=j, sentence=s, formula=f)
        for j, (s, f) in enumerate(zip(sentences, formulas, strict=True))
    ]
    concl = items[-1].model_copy(update={"index": -1})
    return Formalization(
        premises=tuple(items[:-1]),
        conclusion=concl,
        predicates=tuple(Predicate(name=n, arity=a) for n, a in sorted(voc.predicates)),
        constants=tuple(sorted(voc.constants)),
        sample=sample,
    )


def prove(
    outcome: SampleOutcome, prover: Prover, tracer: Tracer | None = None, strict_vocabulary: bool = False
) -> None:
    """Prove one formalization in place; failures (timeouts, inconsistency) are recorded, not raised."""
    f = outcome.formalization
    if f is None:
        return
    premises = [p.formula for p in f.premises]
    if strict_vocabulary:
        known = vocabulary([parse(p) for p in premises]).predicates
        unknown = vocabulary([parse(f.conclusion.formula)]).predicates - known
        if unknown:
            outcome.failure = f"the conclusion uses predicates no premise mentions: {sorted(n for n, _ in unknown)}"
            return
    start = time.perf_counter()
    try:
        verdict = prover.entails(premises, f.conclusion.formula)
    except FOLParseError as err:  # cannot happen for parsed samples, but never crash a run on it
        outcome.failure = f"formula rejected by {prover.name}: {err}"
        return
    if tracer is not None:
        tracer.emit(
            ToolCall(
                tool=prover.name,
                input={"sample": outcome.sample, "premises": premises, "conclusion": f.conclusion.formula},
                output={
                    "label": verdict.label,
                    "timed_out": verdict.timed_out,
                    "inconsistent": verdict.inconsistent_premises,
                },
                seconds=time.perf_counter() - start,
            )
        )
    outcome.verdict = verdict
    if verdict.timed_out:
        outcome.failure = f"{prover.name} timed out; the verdict is not settled"
    elif verdict.inconsistent_premises:
        outcome.failure = "the formalized premises contradict each other"


async def prove_all(
    outcomes: list[SampleOutcome], prover: Prover, tracer: Tracer | None = None, strict_vocabulary: bool = False
) -> None:
    await asyncio.gather(*[asyncio.to_thread(prove, o, prover, tracer, strict_vocabulary) for o in outcomes])


def vote(
    problem: Problem,
    outcomes: list[SampleOutcome],
    threshold: float,
    second: Prover | None = None,
    check_faithfulness: bool = True,
) -> Answer:
    """Decide from proved samples (see the module docstring); a consensus outcome, when present,
    is decided by :func:`vote_consensus`."""
    if outcomes and outcomes[0].is_consensus and outcomes[0].label is not None:
        answer = vote_consensus(problem, outcomes[0], outcomes[1:], threshold, check_faithfulness)
        if answer.status == "abstained" or second is None:
            return answer
        return _cross_check(problem, answer, outcomes[0], second)
    outcomes = [o for o in outcomes if not o.is_consensus]
    total = len(outcomes)
    good = [o for o in outcomes if not o.failure and o.verdict is not None]
    counts: Counter[Label] = Counter(o.verdict.label for o in good if o.verdict is not None)
    failed = total - len(good)
    if not counts:
        reasons = Counter(o.failure for o in outcomes)
        return Answer(
            problem_id=problem.id,
            value=None,
            status="abstained",
            evidence=Evidence(
                samples=total, failed_samples=failed, reason="no sample gave a verdict: " + "; ".join(reasons)
            ),
        )
    ranked = counts.most_common()
    label, n = ranked[0]
    agreement = n / total
    winner = next(o for o in good if o.verdict is not None and o.verdict.label == label)
    evidence = Evidence(
        verdict=winner.verdict,
        formalization=winner.formalization,
        votes={str(k): v for k, v in counts.items()},
        samples=total,
        failed_samples=failed,
        agreement=agreement,
    )
    if len(ranked) > 1 and ranked[1][1] == n:
        return abstain(problem, f"tie between {label} and {ranked[1][0]}", evidence)
    if agreement < threshold:
        reason = f"only {n} of {total} samples agree on {label} (threshold {threshold:.0%})"
        return abstain(problem, reason, evidence)
    answer = Answer(problem_id=problem.id, value=label, status="verified" if n == total else "voted", evidence=evidence)
    return _cross_check(problem, answer, winner, second) if second is not None else answer


def vote_consensus(
    problem: Problem,
    consensus: SampleOutcome,
    samples: list[SampleOutcome],
    threshold: float = 0.5,
    check_faithfulness: bool = True,
) -> Answer:
    """Per-sentence voting: decide from the consensus formalization, weighing proofs above their absence.

    A proof needs every link to be right, so a translation error rarely creates one, while it easily
    breaks one.  Hence:

    * a True/False consensus stands unless a sample formalization proves the opposite;
    * an Uncertain consensus yields to a sample formalization that proves True/False from the same
      conclusion formula (the consensus lost a link), unless samples prove both ways;
    * otherwise Uncertain stands when at least ``threshold`` of the sample formalizations agree and
      (``check_faithfulness``) every consensus formula passes the model-free checks of
      :func:`~thinkgraph.agents.translator.faithfulness_issues` — an Uncertain verdict depends on
      every sentence, so one unfaithful translation is enough to doubt it.

    ``verified`` when every sentence a proof rests on (its unsat core and the conclusion) was
    translated identically by all samples; ``voted`` otherwise.
    """
    assert consensus.verdict is not None and consensus.formalization is not None
    label = consensus.verdict.label
    counts: Counter[str] = Counter(o.label for o in samples if o.label is not None)
    evidence = Evidence(
        verdict=consensus.verdict,
        formalization=consensus.formalization,
        votes=dict(counts),
        samples=len(samples),
        failed_samples=sum(o.label is None for o in samples),
        agreement=counts[label] / len(samples) if samples else 1.0,
    )

    def answer(value: Label | None, status: AnswerStatus, reason: str, **update: object) -> Answer:
        return Answer(
            problem_id=problem.id,
            value=value,
            status=status,
            evidence=evidence.model_copy(update={"reason": reason, **update}),
        )

    shares = consensus.sentence_agreement
    if label != "Uncertain":
        rivals = counts.get("False" if label == "True" else "True", 0)
        if rivals:
            return answer(None, "abstained", f"the consensus proves {label}, but {rivals} sample(s) prove the opposite")
        used = [*consensus.verdict.certificate.premises_used, len(shares) - 1]
        weakest = min((shares[i] for i in used), default=1.0)
        status: AnswerStatus = "verified" if weakest == 1.0 else "voted"
        return answer(
            label, status, f"per-sentence consensus; weakest agreement among the sentences used {weakest:.0%}"
        )

    goal = consensus.formalization.conclusion.formula
    provers = [
        o
        for o in samples
        if o.label in ("True", "False") and o.formalization is not None and o.formalization.conclusion.formula == goal
    ]
    proved = {o.label for o in provers}
    if len(proved) > 1:
        return answer(None, "abstained", "sample formalizations prove both True and False")
    if provers:
        best = provers[0]
        reason = (
            f"the consensus is Uncertain, but {len(provers)} sample formalization(s) prove {best.label} "
            "from the same conclusion; a missing proof is weaker evidence than a found one"
        )
        return answer(best.label, "voted", reason, verdict=best.verdict, formalization=best.formalization)
    share = counts["Uncertain"] / len(samples) if samples else 1.0
    if check_faithfulness:
        for item in (*consensus.formalization.premises, consensus.formalization.conclusion):
            issues = faithfulness_issues(item.sentence, item.formula)
            if issues:
                reason = (
                    f"Uncertain rests on every sentence, and {item.formula!r} fails a faithfulness check for "
                    f"{item.sentence!r}: {issues[0]}"
                )
                return answer(None, "abstained", reason)
    if share < threshold:
        return answer(
            None,
            "abstained",
            f"only {counts['Uncertain']} of {len(samples)} sample formalizations agree on Uncertain "
            f"(threshold {threshold:.0%})",
        )
    return answer("Uncertain", "voted", "per-sentence consensus; no formalization proves either way")


def _cross_check(problem: Problem, answer: Answer, winner: SampleOutcome, second: Prover) -> Answer:
    """Re-prove the winning formalization with a second prover; a disagreement forces abstention."""
    f = winner.formalization
    if f is None or winner.verdict is None:
        return answer
    other = second.entails([p.formula for p in f.premises], f.conclusion.formula)
    evidence = answer.evidence.model_copy(
        update={"solver_agreement": {winner.verdict.solver: winner.verdict.label, second.name: other.label}}
    )
    if other.label != winner.verdict.label and not other.timed_out:
        reason = f"{second.name} says {other.label} where {winner.verdict.solver} says {winner.verdict.label}"
        return abstain(problem, reason, evidence)
    return answer.model_copy(update={"evidence": evidence})


def abstain(problem: Problem, reason: str, evidence: Evidence | None = None) -> Answer:
    """An abstention that keeps whatever evidence was gathered and says why."""
    evidence = (evidence or Evidence()).model_copy(update={"reason": reason})
    return Answer(problem_id=problem.id, value=None, status="abstained", evidence=evidence)


__all__ = [
    "CONSENSUS",
    "LincConfig",
    "SampleOutcome",
    "abstain",
    "build_formalizations",
    "prove",
    "prove_all",
    "split_sentences",
    "translate_problem",
    "vote",
    "vote_consensus",
]
