"""Voting over proved formalizations: LINC's program vote and the per-sentence consensus vote.

Two ways to vote: ``sentence`` (default; see :func:`vote_consensus`) proves the formalization made of
each sentence's majority formula, and ``program`` (LINC's own) votes over the samples' verdicts:

* a sample *fails* when a sentence could not be formalized, the solver timed out, or its premises
  are inconsistent; failures count against agreement;
* ``verified``: every sample produced the same verdict (a stable formalization with a certificate);
* ``voted``: the winning verdict has at least ``threshold`` of all samples, but not all;
* ``abstained``: otherwise, with the reason.

Pure functions of their inputs: nothing here mutates what it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from thinkgraph.agents.faithfulness import faithfulness_issues
from thinkgraph.logic.records import Answer, AnswerStatus, Evidence, Label, Problem, ProvedSample
from thinkgraph.provers.base import Prover, ProverError


def _premises_used(outcome: ProvedSample) -> list[int]:
    """The premises a True/False proof rests on: its unsat core, or — when the prover gave none —
    every premise (a proof without a core cannot be narrowed to the sentences every sample agreed on)."""
    assert outcome.verdict is not None and outcome.formalization is not None
    core = list(outcome.verdict.certificate.premises_used)
    return core or list(range(len(outcome.formalization.premises)))


def vote(
    problem: Problem,
    outcomes: Sequence[ProvedSample],
    threshold: float,
    second: Prover | None = None,
    check_faithfulness: bool = True,
    uncertain: UncertainPolicy = "lenient",
) -> Answer:
    """Decide from proved samples (see the module docstring); a consensus outcome, when present,
    is decided by :func:`vote_consensus`."""
    if outcomes and outcomes[0].is_consensus and outcomes[0].label is not None:
        answer = vote_consensus(problem, outcomes[0], list(outcomes[1:]), threshold, check_faithfulness, uncertain)
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
    status: AnswerStatus = "verified" if n == total and total >= 2 else "voted"
    answer = Answer(problem_id=problem.id, value=label, status=status, evidence=evidence)
    return _cross_check(problem, answer, winner, second) if second is not None else answer


UncertainPolicy = Literal["lenient", "strict"]


def vote_consensus(
    problem: Problem,
    consensus: ProvedSample,
    samples: Sequence[ProvedSample],
    threshold: float = 0.5,
    check_faithfulness: bool = True,
    uncertain: UncertainPolicy = "lenient",
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
      every sentence, so one unfaithful translation is enough to doubt it;
    * ``uncertain="strict"`` asks more of an Uncertain verdict (the absence of a proof, weaker evidence than a
      proof): every sentence translated identically by every sample, and no sentence's formula the product of a
      repair turn — otherwise abstain.

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
        used = [*_premises_used(consensus), len(shares) - 1]
        weakest = min((shares[i] for i in used), default=1.0)
        # verified: every sample translated the sentences the proof uses identically — and there were
        # at least two samples to agree (one sample agreeing with itself is no evidence of stability)
        status: AnswerStatus = "verified" if weakest == 1.0 and len(samples) >= 2 else "voted"
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
        support = counts[str(best.label)] / len(samples) if samples else 0.0
        return answer(
            best.label, "voted", reason, verdict=best.verdict, formalization=best.formalization, agreement=support
        )
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
    if uncertain == "strict":
        sentences = [*consensus.formalization.premises, consensus.formalization.conclusion]
        split = next((i for i, s in enumerate(shares) if s < 1.0), None)
        if split is not None:
            return answer(
                None,
                "abstained",
                f"Uncertain (strict) needs every sentence agreed; {sentences[split].sentence!r} got "
                f"{shares[split]:.0%} of the samples",
            )
        fixed = next((i for i, r in enumerate(consensus.sentence_repaired) if r), None)
        if fixed is not None:
            return answer(
                None,
                "abstained",
                f"Uncertain (strict) needs formulas that passed first time; {sentences[fixed].sentence!r} was repaired",
            )
    if share < threshold:
        return answer(
            None,
            "abstained",
            f"only {counts['Uncertain']} of {len(samples)} sample formalizations agree on Uncertain "
            f"(threshold {threshold:.0%})",
        )
    return answer("Uncertain", "voted", "per-sentence consensus; no formalization proves either way")


def _cross_check(problem: Problem, answer: Answer, winner: ProvedSample, second: Prover) -> Answer:
    """Re-prove the winning formalization with a second prover; a disagreement forces abstention."""
    f = winner.formalization
    if f is None or winner.verdict is None:
        return answer
    try:
        other = second.entails([p.formula for p in f.premises], f.conclusion.formula)
    except ProverError as exc:
        evidence = answer.evidence.model_copy(
            update={"solver_agreement": {winner.verdict.solver: winner.verdict.label, second.name: "error"}}
        )
        return abstain(problem, f"the cross-check by {second.name} failed: {exc}", evidence)
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


__all__ = ["UncertainPolicy", "abstain", "vote", "vote_consensus"]
