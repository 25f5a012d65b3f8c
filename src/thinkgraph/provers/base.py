"""The prover extension point.

A :class:`Prover` decides three-valued entailment: given premises and a conclusion (formula strings in
any notation :func:`thinkgraph.logic.fol.parse` accepts, or parsed formulas) it returns a
:class:`~thinkgraph.messages.Verdict`:

* ``True`` when the premises entail the conclusion,
* ``False`` when they entail its negation,
* ``Uncertain`` otherwise, including when the per-query time limit ran out (``timed_out``).

Lifecycle: construct once (cheap), call :meth:`Prover.entails` from any thread; implementations keep
no state between calls.  Malformed formulas raise :class:`~thinkgraph.logic.fol.FOLParseError`
before any solving starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from thinkgraph.logic.fol import Formula, parse
from thinkgraph.messages import Verdict

FormulaLike = str | Formula


class ProverUnavailable(RuntimeError):
    """The prover's binary or library is not installed; the message says how to install it."""


@runtime_checkable
class Prover(Protocol):
    name: str

    def entails(self, premises: Sequence[FormulaLike], conclusion: FormulaLike) -> Verdict: ...


def as_formula(f: FormulaLike) -> Formula:
    return parse(f) if isinstance(f, str) else f
