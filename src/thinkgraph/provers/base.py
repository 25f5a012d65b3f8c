"""The prover extension point.

A :class:`Prover` decides three-valued entailment: given premises and a conclusion (formula strings in
any notation :func:`thinkgraph.logic.fol.parse` accepts, or parsed formulas) it returns a
:class:`~thinkgraph.messages.Verdict`:

* ``True`` when the premises entail the conclusion,
* ``False`` when they entail its negation,
* ``Uncertain`` otherwise, including when the per-query time limit ran out (``timed_out``).

What every implementation promises (pinned by ``tests/test_prover_conformance.py``):

* A True/False verdict names the premises its proof used in ``certificate.premises_used`` (0-based
  indices, sorted); those premises alone give the same verdict.  The tuple is empty only when the
  proof needs no premise at all (the conclusion, or its negation, is valid).  A prover that cannot
  tell which premises it used lists all of them and says so in ``certificate.note``.
* Premises found contradictory give ``Uncertain`` with ``inconsistent_premises=True`` (they entail
  everything, so no answer is meaningful); ``premises_used`` then names a contradictory subset.
* When the prover's ``gives_countermodels`` is true, an Uncertain verdict that neither timed out nor
  found the premises inconsistent carries a model each way (``model_goal_true``/``model_goal_false``);
  when it is false there are none and ``certificate.note`` says so.

Lifecycle: construct once (cheap), call :meth:`Prover.entails` from any thread; implementations keep
no state between calls.  A constructor refuses options the prover cannot honour (``ValueError``)
rather than ignoring them.  Errors:

* :class:`~thinkgraph.logic.fol.FOLParseError` — a malformed formula, raised before any solving starts;
* :class:`ProverUnavailable` — the prover's binary or library is not installed (normally raised by the constructor);
* :class:`ProverError` — the prover itself failed: it rejected the input or crashed.  Running out of
  time is *not* an error: it gives an ``Uncertain`` verdict with ``timed_out=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from thinkgraph.logic.fol import Formula, parse
from thinkgraph.messages import Verdict

FormulaLike = str | Formula


class ProverUnavailable(RuntimeError):
    """The prover's binary or library is not installed; the message says how to install it."""


class ProverError(RuntimeError):
    """The prover failed on a query: it rejected the input or crashed (not a timeout, not a parse error).

    ``prover`` names the prover, ``output`` holds the prover's own error text, and ``retryable`` says
    whether running the same query again could succeed (a crash, a kill) or not (rejected input).
    """

    def __init__(self, message: str, *, prover: str = "", output: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.prover = prover
        self.output = output
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_prover_error, (str(self), self.prover, self.output, self.retryable))


def _rebuild_prover_error(message: str, prover: str, output: str, retryable: bool) -> ProverError:
    return ProverError(message, prover=prover, output=output, retryable=retryable)


@runtime_checkable
class Prover(Protocol):
    """Three-valued entailment (see the module docstring for the promises every prover keeps)."""

    #: short name, used as ``Verdict.solver``
    name: str
    #: whether an Uncertain verdict from this prover carries a model each way
    gives_countermodels: bool

    def entails(self, premises: Sequence[FormulaLike], conclusion: FormulaLike) -> Verdict: ...


def as_formula(f: FormulaLike) -> Formula:
    return parse(f) if isinstance(f, str) else f
