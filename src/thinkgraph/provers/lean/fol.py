"""First-order problems stated in Lean: Lean as a second checker for LINC (Olausson et al., 2023), beside Z3
and Prover9.

A problem becomes three theorems over an uninterpreted, nonempty type ``U`` with its predicates, functions and
constants as variables and its premises as hypotheses::

    theorem tg_c0 {U : Type} [Nonempty U] (p_Man p_Mortal : U → Prop) (c_socrates : U)
        (h0 : ∀ v_x : U, p_Man v_x → p_Mortal v_x) (h1 : p_Man c_socrates) : p_Mortal c_socrates := by grind

one with the conclusion as goal, one with its negation, one with ``False`` (are the premises contradictory?).
The verdict follows Z3's three-valued reading: ``True`` when the conclusion is proved, ``False`` when its
negation is, ``Uncertain`` when neither is — here meaning only that the tactic found no proof (Lean builds no
countermodel), so ``Uncertain`` is weaker evidence than Z3's; contradictory premises give ``Uncertain`` with
``inconsistent_premises``.  :class:`LeanFOLProver` keeps the :class:`~thinkgraph.provers.base.Prover` promises
(it cannot tell which premises a proof used, so it lists them all and says so) and adds
:meth:`LeanFOLProver.entails_many`: many problems in one Lean batch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from thinkgraph.logic.fol import (
    And,
    Atom,
    Const,
    Eq,
    Exists,
    ForAll,
    Formula,
    Func,
    Iff,
    Implies,
    Not,
    Or,
    Term,
    Var,
    Xor,
    vocabulary,
)
from thinkgraph.messages import Certificate, Verdict
from thinkgraph.provers.base import FormulaLike, ProverError, as_formula
from thinkgraph.provers.lean.backend import LeanBackend, LeanError
from thinkgraph.provers.lean.results import DeclResult
from thinkgraph.provers.lean.source import Declaration

#: the tactic tried on each goal: ``grind`` (core Lean's SMT-style automation: congruence closure and
#: E-matching, classical), then ``simp_all``; core Lean has no ``tauto``, ``by_contra`` or ``aesop``
DEFAULT_TACTIC = "by\n  first\n  | grind\n  | simp_all"
FOL_HEARTBEATS = 100_000


def _ident(prefix: str, name: str) -> str:
    out = []
    for ch in name:
        out.append(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else f"_u{ord(ch):x}_")
    return f"{prefix}_{''.join(out)}"


def _term(t: Term) -> str:
    match t:
        case Var(name):
            return _ident("v", name)
        case Const(name):
            return _ident("c", name)
        case Func(name, args):
            return "(" + " ".join([_ident("f", name), *(_term(a) for a in args)]) + ")"
    raise TypeError(f"not a term: {t!r}")


def to_lean(f: Formula) -> str:
    """A formula in Lean syntax (fully parenthesised; ``⊕`` as ``¬(A ↔ B)``)."""
    match f:
        case Atom(pred, args):
            return " ".join([_ident("p", pred), *(_term(a) for a in args)]) if args else _ident("p", pred)
        case Eq(left, right):
            return f"({_term(left)} = {_term(right)})"
        case Not(body):
            return f"(¬{to_lean(body)})"
        case And(parts):
            return "(" + " ∧ ".join(to_lean(p) for p in parts) + ")" if parts else "True"
        case Or(parts):
            return "(" + " ∨ ".join(to_lean(p) for p in parts) + ")" if parts else "False"
        case Xor(left, right):
            return f"(¬({to_lean(left)} ↔ {to_lean(right)}))"
        case Implies(left, right):
            return f"({to_lean(left)} → {to_lean(right)})"
        case Iff(left, right):
            return f"({to_lean(left)} ↔ {to_lean(right)})"
        case ForAll(var, body):
            return f"(∀ {_ident('v', var)} : U, {to_lean(body)})"
        case Exists(var, body):
            return f"(∃ {_ident('v', var)} : U, {to_lean(body)})"
    raise TypeError(f"not a formula: {f!r}")


def _arity_split(formulas: list[Formula]) -> dict[tuple[str, int], str]:
    """Predicate names per (name, arity): one used with two arities becomes two predicates (as Z3 reads it)."""
    voc = vocabulary(formulas)
    clashes = set(voc.arity_clashes())
    return {(n, a): (f"{n}_{a}" if n in clashes else n) for n, a in voc.predicates}


def statement(premises: Sequence[FormulaLike], goal: FormulaLike | None) -> str:
    """The binders and type of a theorem: ``premises ⊢ goal`` (``goal`` None: ``False``)."""
    prem = [as_formula(p) for p in premises]
    target = as_formula(goal) if goal is not None else None
    every = [*prem, *([target] if target is not None else [])]
    names = _arity_split(every)

    def rename(f: Formula) -> Formula:
        from thinkgraph.logic.fol import map_atoms

        return map_atoms(f, lambda a: Atom(names[(a.pred, len(a.args))], a.args))

    prem = [rename(p) for p in prem]
    target = rename(target) if target is not None else None
    voc = vocabulary([*prem, *([target] if target is not None else [])])
    binders = ["{U : Type}", "[Nonempty U]"]
    for name, arity in sorted(voc.predicates):
        binders.append(f"({_ident('p', name)} : {' → '.join(['U'] * arity + ['Prop'])})")
    for name, arity in sorted(voc.functions):
        binders.append(f"({_ident('f', name)} : {' → '.join(['U'] * (arity + 1))})")
    binders += [f"({_ident('c', c)} : U)" for c in sorted(voc.constants)]
    binders += [f"(h{i} : {to_lean(p)})" for i, p in enumerate(prem)]
    return " ".join(binders) + " :\n    " + (to_lean(target) if target is not None else "False")


@dataclass(frozen=True)
class FOLProblem:
    premises: tuple[FormulaLike, ...]
    conclusion: FormulaLike


def problem_declarations(index: int, problem: FOLProblem, tactic: str, heartbeats: int) -> list[Declaration]:
    """The three theorems of one problem: conclusion, negated conclusion, ``False``."""
    goal = as_formula(problem.conclusion)
    return [
        Declaration(f"p{index}:true", statement(problem.premises, goal), tactic, heartbeats),
        Declaration(f"p{index}:false", statement(problem.premises, Not(goal)), tactic, heartbeats),
        Declaration(f"p{index}:inconsistent", statement(problem.premises, None), tactic, heartbeats),
    ]


_ALL_USED = "Lean does not report which hypotheses a proof used, so every premise is listed"


def verdict_of(results: Sequence[DeclResult], n_premises: int, seconds: float, solver: str = "lean") -> Verdict:
    """The three-valued verdict from one problem's three results (conclusion, negation, False)."""
    pos, neg, bottom = results
    every = tuple(range(n_premises))
    for r in results:
        if r.status == "rejected":
            raise ProverError(f"Lean refused the statement: {r.message}", prover=solver, output=r.message)
    if bottom.proved or (pos.proved and neg.proved):
        note = "the premises contradict each other, so they entail everything; no answer is meaningful"
        return Verdict(
            label="Uncertain",
            solver=solver,
            inconsistent_premises=True,
            certificate=Certificate(premises_used=every, note=f"{note} ({_ALL_USED})"),
            seconds=seconds,
        )
    if pos.proved or neg.proved:
        return Verdict(
            label="True" if pos.proved else "False",
            solver=solver,
            certificate=Certificate(premises_used=every, note=_ALL_USED),
            seconds=seconds,
        )
    timed_out = any(r.status == "timeout" for r in (pos, neg))
    why = "; ".join(f"{k}: {r.status} ({_short(r.message)})" for k, r in (("goal", pos), ("negation", neg)))
    return Verdict(
        label="Uncertain",
        solver=solver,
        timed_out=timed_out,
        certificate=Certificate(note=f"the tactic proved neither way ({why}); Lean builds no countermodels"),
        seconds=seconds,
    )


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:120] + ("…" if len(text) > 120 else "")


class LeanFOLProver:
    """Lean as a :class:`~thinkgraph.provers.base.Prover` (``name = "lean"``) over a :class:`LeanBackend`."""

    name = "lean"
    gives_countermodels = False

    def __init__(
        self,
        backend: LeanBackend | None = None,
        *,
        tactic: str = DEFAULT_TACTIC,
        heartbeats: int = FOL_HEARTBEATS,
        timeout_s: float | None = None,
        mode: str = "repl",
    ) -> None:
        """``backend``: any :class:`LeanBackend`; by default a native Lean when found, else the offline one in
        ``mode`` (``repl``: one process for every later problem — what a second checker called once per
        problem needs; ``file``: one process per call)."""
        if backend is None:
            from thinkgraph.provers.lean import get_lean_backend

            backend = get_lean_backend("auto", mode=mode)
        self.backend = backend
        self.tactic = tactic
        self.heartbeats = heartbeats
        self.timeout_s = timeout_s

    def entails(self, premises: Sequence[FormulaLike], conclusion: FormulaLike) -> Verdict:
        return self.entails_many([FOLProblem(tuple(premises), conclusion)])[0]

    def entails_many(self, problems: Sequence[FOLProblem]) -> list[Verdict]:
        """Every problem's verdict from one Lean batch (three declarations a problem)."""
        decls = [d for i, p in enumerate(problems) for d in problem_declarations(i, p, self.tactic, self.heartbeats)]
        start = time.perf_counter()
        try:
            batch = self.backend.check(decls, timeout_s=self.timeout_s)
        except LeanError as exc:
            raise ProverError(
                f"Lean failed: {exc}", prover=self.name, output=exc.output, retryable=exc.retryable
            ) from exc
        seconds = (time.perf_counter() - start) / max(1, len(problems))
        rs = list(batch.results)
        return [verdict_of(rs[3 * i : 3 * i + 3], len(p.premises), seconds, self.name) for i, p in enumerate(problems)]


__all__ = [
    "DEFAULT_TACTIC",
    "FOLProblem",
    "LeanFOLProver",
    "problem_declarations",
    "statement",
    "to_lean",
    "verdict_of",
]
