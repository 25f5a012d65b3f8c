"""Three-valued entailment with Z3 over an uninterpreted sort.

Each thread uses its own ``z3.Context`` (so calls are thread-safe), declares one sort ``Obj``, a
Boolean function per predicate, a constant per individual constant, and checks

* premises ∧ ¬conclusion — unsat means True; the unsat core names the premises used;
* premises ∧ conclusion — unsat means False;

otherwise Uncertain, with a small model each way as evidence (unless ``countermodels=False``).  Both
unsat means the premises are inconsistent: Uncertain with ``inconsistent_premises`` set.  The two
checks share ``timeout_s`` (half each); a check that runs out (Z3 says ``unknown``) gives Uncertain
with ``timed_out`` set.  An exception inside Z3 (out of memory, an internal error) raises
:class:`~thinkgraph.provers.base.ProverError`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

import z3

from thinkgraph.logic.fol import (
    And,
    Atom,
    Const,
    Eq,
    Exists,
    ForAll,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    Term,
    Var,
    Xor,
    vocabulary,
)
from thinkgraph.messages import Certificate, Countermodel, Verdict
from thinkgraph.provers.base import FormulaLike, ProverError, as_formula

_MAX_ATOMS = 60
_LOCAL = threading.local()


def _context() -> z3.Context:
    """One Z3 context per thread: creating one costs ~3 ms, more than a typical FOLIO query."""
    ctx = getattr(_LOCAL, "ctx", None)
    if ctx is None:
        ctx = _LOCAL.ctx = z3.Context()
    return ctx


class _Translator:
    def __init__(self, formulas: list[Formula], ctx: z3.Context) -> None:
        self.ctx = ctx
        self.sort = z3.DeclareSort("Obj", ctx)
        voc = vocabulary(formulas)
        clashes = set(voc.arity_clashes())
        self.preds: dict[tuple[str, int], z3.FuncDeclRef] = {}
        for name, arity in sorted(voc.predicates):
            zname = f"{name}/{arity}" if name in clashes else name
            self.preds[(name, arity)] = z3.Function(zname, *([self.sort] * arity), z3.BoolSort(ctx))
        self.consts = {c: z3.Const(c, self.sort) for c in sorted(voc.constants)}
        self.funcs = {(n, a): z3.Function(f"fn_{n}", *([self.sort] * (a + 1))) for n, a in sorted(voc.functions)}
        self._fresh = itertools.count()

    def term(self, t: Term, env: dict[str, z3.ExprRef]) -> z3.ExprRef:
        if isinstance(t, Var):
            return env[t.name]
        if isinstance(t, Const):
            return self.consts[t.name]
        return self.funcs[(t.name, len(t.args))](*[self.term(a, env) for a in t.args])

    def formula(self, f: Formula, env: dict[str, z3.ExprRef]) -> z3.BoolRef:
        match f:
            case Atom(p, args):
                decl = self.preds[(p, len(args))]
                return decl(*[self.term(a, env) for a in args]) if args else decl()
            case Eq(left, right):
                return self.term(left, env) == self.term(right, env)
            case Not(body):
                return z3.Not(self.formula(body, env), self.ctx)
            case And(parts):
                return z3.And(*[self.formula(p, env) for p in parts])
            case Or(parts):
                return z3.Or(*[self.formula(p, env) for p in parts])
            case Xor(left, right):
                return z3.Xor(self.formula(left, env), self.formula(right, env), self.ctx)
            case Implies(left, right):
                return z3.Implies(self.formula(left, env), self.formula(right, env), self.ctx)
            case Iff(left, right):
                return self.formula(left, env) == self.formula(right, env)
            case ForAll(var, body) | Exists(var, body):
                v = z3.Const(f"{var}!{next(self._fresh)}", self.sort)
                inner = self.formula(body, {**env, var: v})
                return z3.ForAll([v], inner) if isinstance(f, ForAll) else z3.Exists([v], inner)
        raise TypeError(f"not a formula: {f!r}")


class Z3Prover:
    """Z3 as a :class:`~thinkgraph.provers.base.Prover`.

    ``countermodels=False`` skips building the models of an Uncertain verdict (and sets
    ``gives_countermodels`` to False); ``minimize_core`` asks Z3 for a minimal unsat core.
    """

    name = "z3"
    gives_countermodels = True

    def __init__(self, timeout_s: float = 5.0, countermodels: bool = True, minimize_core: bool = True) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = timeout_s
        self.countermodels = countermodels
        self.gives_countermodels = countermodels
        self.minimize_core = minimize_core

    def entails(self, premises: Sequence[FormulaLike], conclusion: FormulaLike) -> Verdict:
        start = time.perf_counter()
        prem = [as_formula(p) for p in premises]
        goal = as_formula(conclusion)
        ctx = _context()
        try:
            tr = _Translator([*prem, goal], ctx)
            zprem = [tr.formula(p, {}) for p in prem]
            zgoal = tr.formula(goal, {})
            res_neg, core_neg, model_neg = self._check(ctx, zprem, z3.Not(zgoal, ctx))
            res_pos, core_pos, model_pos = self._check(ctx, zprem, zgoal)
        except z3.Z3Exception as err:
            detail = str(err)
            raise ProverError(f"Z3 failed: {detail}", prover=self.name, output=detail) from err
        timed_out = res_neg == "unknown" or res_pos == "unknown"
        seconds = time.perf_counter() - start

        if res_neg == "unsat" and res_pos == "unsat":
            return Verdict(
                label="Uncertain",
                solver=self.name,
                inconsistent_premises=True,
                certificate=Certificate(
                    premises_used=tuple(sorted(set(core_neg) | set(core_pos))),
                    note="the premises contradict each other, so they entail everything; no answer is meaningful",
                ),
                seconds=seconds,
            )
        if res_neg == "unsat" or res_pos == "unsat":
            proved_true = res_neg == "unsat"
            core = core_neg if proved_true else core_pos
            note = ""
            if not core and prem:
                note = "the proof uses no premise: the conclusion " + (
                    "is valid" if proved_true else "is unsatisfiable"
                )
            return Verdict(
                label="True" if proved_true else "False",
                solver=self.name,
                certificate=Certificate(premises_used=core, note=note),
                seconds=seconds,
            )
        note = ""
        if timed_out:
            note = f"a check hit the {self.timeout_s:g}s limit (Z3 said unknown); the answer is not settled"
        elif not self.countermodels:
            note = "no proof either way; countermodels were not requested (countermodels=False)"
        return Verdict(
            label="Uncertain",
            solver=self.name,
            timed_out=timed_out,
            certificate=Certificate(
                model_goal_true=tr_model(tr, model_pos), model_goal_false=tr_model(tr, model_neg), note=note
            ),
            seconds=seconds,
        )

    def _check(
        self, ctx: z3.Context, zprem: list[z3.BoolRef], extra: z3.BoolRef
    ) -> tuple[str, tuple[int, ...], z3.ModelRef | None]:
        s = z3.Solver(ctx=ctx)
        s.set("timeout", max(1, int(self.timeout_s * 500)))  # two checks share the limit
        if self.minimize_core:
            s.set("core.minimize", True)
        labels = []
        for i, p in enumerate(zprem):
            lab = z3.Bool(f"premise!{i}", ctx)  # "!" keeps it apart from any predicate name
            labels.append(lab)
            s.assert_and_track(p, lab)
        s.add(extra)
        r = s.check()
        if r == z3.unsat:
            core = {str(c) for c in s.unsat_core()}
            return "unsat", tuple(i for i, lab in enumerate(labels) if str(lab) in core), None
        if r == z3.sat:
            return "sat", (), s.model() if self.countermodels else None
        return "unknown", (), None


def tr_model(tr: _Translator, model: z3.ModelRef | None) -> Countermodel | None:
    """Render a Z3 model over ``Obj`` as a :class:`Countermodel` (constants shown by name)."""
    if model is None:
        return None
    universe = model.get_universe(tr.sort) or []
    names: dict[str, str] = {}
    for cname, c in sorted(tr.consts.items()):
        names.setdefault(str(model.eval(c, model_completion=True)), cname)
    label: dict[str, str] = {}
    for i, e in enumerate(universe):
        label[str(e)] = names.get(str(e), f"e{i}")
    consts = {c: label.get(str(model.eval(z, model_completion=True)), "?") for c, z in tr.consts.items()}
    atoms: list[str] = []
    for (pname, arity), decl in sorted(tr.preds.items()):
        if arity > 3 or len(universe) ** arity > _MAX_ATOMS * 4:
            continue
        for args in itertools.product(universe, repeat=arity):
            val: Any = model.eval(decl(*args), model_completion=True)
            if z3.is_true(val):
                shown = ", ".join(label[str(a)] for a in args)
                atoms.append(f"{pname}({shown})" if arity else pname)
            if len(atoms) >= _MAX_ATOMS:
                break
    return Countermodel(domain=tuple(label[str(e)] for e in universe), constants=consts, true_atoms=tuple(atoms))
