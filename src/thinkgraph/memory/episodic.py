"""Episodic memory: answers remembered with their evidence, recalled for similar questions, re-verified.

:meth:`EpisodicMemory.remember` stores a problem (its premises and conclusion are the text searched),
the answer with its whole evidence, and the run it came from.  :meth:`EpisodicMemory.recall` finds the
remembered problems nearest a new one, each with its source run.  Recall never replaces checking:
:meth:`EpisodicMemory.reverify` re-proves a remembered formalization on the *new* problem — every
sentence of the new problem must have a remembered formula (the same sentence, up to case and spacing),
and the prover must reach the remembered verdict again — and only then returns an answer, whose reason
names the source run.  Anything else (another sentence, a different verdict, a timeout) returns ``None``
and the problem is solved as usual.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from thinkgraph.logic.records import Answer, Formalization, Problem, SentenceFormula
from thinkgraph.memory.base import Item, Memory
from thinkgraph.memory.examples import remember_formalizations

EPISODE = "episode"


def problem_text(problem: Problem) -> str:
    """The text a problem is remembered and searched by."""
    return " ".join([*problem.premises, f"Conclusion: {problem.conclusion}"])


def _norm(sentence: str) -> str:
    return " ".join(sentence.split()).rstrip(".").strip().lower()


@dataclass(frozen=True)
class Recollection:
    """A remembered problem near the query: its answer as it was, where it came from, how near it is."""

    id: str
    score: float
    text: str
    run_id: str
    problem: Problem
    answer: Answer

    def describe(self) -> str:
        return (
            f"run {self.run_id or '?'} answered {self.answer.value} ({self.answer.status}) for a problem "
            f"{self.score:.2f} similar: {self.problem.conclusion!r}"
        )


class EpisodicMemory:
    """Answers across sessions, in any :class:`~thinkgraph.memory.base.Memory` (items of kind ``episode``)."""

    def __init__(self, store: Memory):
        self.store = store

    def remember(
        self,
        problem: Problem,
        answer: Answer,
        *,
        run_id: str = "",
        statuses: tuple[str, ...] = ("verified",),
        formalizations: bool = True,
    ) -> str | None:
        """Store ``answer`` if its status is in ``statuses`` (never an abstention); returns the item id or
        None.  With ``formalizations``, a *verified* answer's sentence → formula pairs also go into the
        store as translator examples (:mod:`thinkgraph.memory.examples`)."""
        if answer.status == "abstained" or answer.value is None or answer.status not in statuses:
            return None
        ident = "ep-" + hashlib.sha256(problem_text(problem).encode()).hexdigest()[:24]
        meta = {
            "kind": EPISODE,
            "run_id": run_id,
            "value": answer.value,
            "status": answer.status,
            "problem": problem.model_dump(mode="json"),
            "answer": answer.model_dump(mode="json"),
        }
        self.store.add([Item(problem_text(problem), meta, ident)])
        f = answer.evidence.formalization
        if formalizations and answer.status == "verified" and f is not None:
            remember_formalizations(self.store, f, run_id=run_id, problem_id=problem.id)
        return ident

    def recall(self, problem: Problem, k: int = 3, min_score: float = 0.0) -> list[Recollection]:
        """The remembered problems nearest ``problem`` (score ≥ ``min_score``), nearest first."""
        out = []
        for h in self.store.search(problem_text(problem), k=k, where={"kind": EPISODE}):
            if h.score < min_score:
                continue
            try:
                old_problem = Problem.model_validate(h.metadata["problem"])
                old_answer = Answer.model_validate(h.metadata["answer"])
            except (KeyError, ValueError):
                continue  # an item written by something else
            out.append(Recollection(h.id, h.score, h.text, str(h.metadata.get("run_id", "")), old_problem, old_answer))
        return out

    @staticmethod
    def reverify(recollection: Recollection, problem: Problem, prover: Any) -> Answer | None:
        """The recalled answer for ``problem`` if its formalization covers every sentence of ``problem`` and
        ``prover`` proves the same verdict again; else None (solve the problem as usual)."""
        old = recollection.answer
        f = old.evidence.formalization
        if f is None or old.value is None:
            return None
        formulas = {_norm(p.sentence): p.formula for p in f.premises}
        formulas.setdefault(_norm(f.conclusion.sentence), f.conclusion.formula)
        try:
            premises = [formulas[_norm(s)] for s in problem.premises]
            conclusion = formulas[_norm(problem.conclusion)]
        except KeyError:
            return None  # a sentence the remembered problem did not have
        if _norm(f.conclusion.sentence) != _norm(problem.conclusion):
            return None
        verdict = prover.entails(premises, conclusion)
        if verdict.timed_out or verdict.inconsistent_premises or verdict.label != old.value:
            return None
        mapped = Formalization(
            premises=tuple(
                SentenceFormula(index=i, sentence=s, formula=p)
                for i, (s, p) in enumerate(zip(problem.premises, premises, strict=True))
            ),
            conclusion=SentenceFormula(index=-1, sentence=problem.conclusion, formula=conclusion),
            predicates=f.predicates,
            constants=f.constants,
            sample=f.sample,
        )
        reason = (
            f"recalled from run {recollection.run_id or '?'} (similarity {recollection.score:.2f}) and re-proved "
            f"by {verdict.solver} on this problem; then: {old.evidence.reason}"
        )
        evidence = old.evidence.model_copy(update={"verdict": verdict, "formalization": mapped, "reason": reason})
        return Answer(problem_id=problem.id, value=old.value, status=old.status, evidence=evidence)

    def recall_verified(self, problem: Problem, prover: Any, k: int = 3, min_score: float = 0.5) -> Answer | None:
        """The first recollection that re-verifies on ``problem``, as an answer; None when none does."""
        for rec in self.recall(problem, k=k, min_score=min_score):
            answer = self.reverify(rec, problem, prover)
            if answer is not None:
                return answer
        return None


__all__ = ["EPISODE", "EpisodicMemory", "Recollection", "problem_text"]
