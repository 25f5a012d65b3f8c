"""``answers.combine``: the reducer that joins parallel branches' answers into one.

Each branch's answer is ranked by the evidence behind it — verified (a certificate every sample agreed
on) above voted with a solver verdict, above voted without a formal check (chain of thought); abstentions
count for nothing.  The strongest answers decide; if they disagree, the combination abstains and says so
rather than pick one.  The vote table of the result counts every branch's value.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.agents.voting import abstain
from thinkgraph.graphs.node import node
from thinkgraph.logic.records import Answer, Problem


class CombineParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_evidence: Literal["any", "solver"] = Field(
        default="any", description="solver: ignore answers no solver checked (chain of thought)"
    )


def strength(answer: Answer) -> int:
    """3 verified, 2 voted with a solver verdict, 1 voted without a formal check, 0 abstained."""
    if answer.status == "abstained" or answer.value is None:
        return 0
    if answer.status == "verified":
        return 3
    return 2 if answer.evidence.verdict is not None else 1


def combine_answers(problem: Problem, answers: list[Answer], min_evidence: str = "any") -> Answer:
    floor = 2 if min_evidence == "solver" else 1
    ranked = [(strength(a), a) for a in answers]
    votes = Counter(str(a.value) for s, a in ranked if s >= floor)
    best = max((s for s, _ in ranked), default=0)
    if best < floor:
        reasons = "; ".join(f"branch {i + 1}: {a.evidence.reason or a.status}" for i, a in enumerate(answers))
        return abstain(problem, f"no branch gave an answer with enough evidence ({reasons})")
    top = [a for s, a in ranked if s == best]
    values = {a.value for a in top}
    if len(values) > 1:
        shown = ", ".join(sorted(str(v) for v in values))
        first = top[0].evidence.model_copy(update={"votes": dict(votes)})
        return abstain(problem, f"branches with equally strong evidence disagree ({shown})", first)
    chosen = top[0]
    others = [a for s, a in ranked if s and a.value != chosen.value]
    note = f"combined {len(answers)} branch answers; the strongest evidence ({chosen.status}) decides"
    if others:
        note += f"; {len(others)} weaker branch answer(s) disagree"
    evidence = chosen.evidence.model_copy(
        update={"votes": dict(votes), "reason": f"{chosen.evidence.reason}; {note}".strip("; ")}
    )
    return chosen.model_copy(update={"evidence": evidence, "problem_id": problem.id})


@node("answers.combine", params=CombineParams)
async def combine(problem: Problem, answers: list[Answer], params: CombineParams) -> Answer:
    """Join parallel branches' answers: the strongest evidence decides; disagreement at the top abstains."""
    return combine_answers(problem, answers, params.min_evidence)


__all__ = ["CombineParams", "combine", "combine_answers", "strength"]
