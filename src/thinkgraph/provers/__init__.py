"""Provers for three-valued first-order entailment (Z3 built in, Prover9 optional)."""

import inspect
from typing import Any

from thinkgraph.provers.base import Prover, ProverError, ProverUnavailable, as_formula
from thinkgraph.provers.z3 import Z3Prover

__all__ = ["Prover", "ProverError", "ProverUnavailable", "Z3Prover", "as_formula", "get_prover"]


def get_prover(name: str, timeout_s: float = 5.0, **options: Any) -> Prover:
    """``z3`` or ``prover9``; ``options`` go to the prover's constructor, which refuses any it cannot honour.

    Raises ``ValueError`` for an unknown name or an unsupported option value, ``TypeError`` for an
    option the prover does not take, and :class:`ProverUnavailable` when Prover9 is not installed.
    """
    if name == "z3":
        cls: Any = Z3Prover
    elif name == "prover9":
        from thinkgraph.provers.prover9 import Prover9

        cls = Prover9
    else:
        raise ValueError(f"unknown prover {name!r}; choose 'z3' or 'prover9'")
    known = sorted(set(inspect.signature(cls).parameters) - {"timeout_s"})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"the {name} prover takes no option {', '.join(map(repr, unknown))}; it takes {known}")
    prover: Prover = cls(timeout_s=timeout_s, **options)
    return prover
