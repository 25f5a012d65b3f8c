"""Provers for three-valued first-order entailment (Z3 built in, Prover9 optional)."""

from thinkgraph.provers.base import Prover, ProverUnavailable, as_formula
from thinkgraph.provers.z3 import Z3Prover

__all__ = ["Prover", "ProverUnavailable", "Z3Prover", "as_formula", "get_prover"]


def get_prover(name: str, timeout_s: float = 5.0) -> Prover:
    """``z3`` or ``prover9``."""
    if name == "z3":
        return Z3Prover(timeout_s=timeout_s)
    if name == "prover9":
        from thinkgraph.provers.prover9 import Prover9

        return Prover9(timeout_s=timeout_s)
    raise ValueError(f"unknown prover {name!r}; choose 'z3' or 'prover9'")
