"""Prover-specific behaviour; the promises every prover shares are in test_prover_conformance.py."""

from __future__ import annotations

import pickle
import stat
import time
from pathlib import Path

import pytest
import z3

from thinkgraph.provers import ProverError, ProverUnavailable, Z3Prover, get_prover
from thinkgraph.provers.base import Prover


def _prover9(**options: object) -> Prover:
    try:
        return get_prover("prover9", **options)  # type: ignore[arg-type]
    except ProverUnavailable as err:
        pytest.skip(f"Prover9 is not installed: {err}")


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "prover9"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# ----------------------------------------------------------------------------- Z3


def test_z3_certificate_names_a_minimal_core() -> None:
    v = Z3Prover().entails(["∀x (A(x) → B(x))", "Noise(c)", "A(c)", "∀x (B(x) → C(x))"], "C(c)")
    assert v.label == "True"
    assert v.certificate.premises_used == (0, 2, 3)


def test_z3_uncertain_comes_with_countermodels_both_ways() -> None:
    v = Z3Prover().entails(["∀x (A(x) → B(x))", "A(c)"], "D(c)")
    assert v.label == "Uncertain"
    cm_true, cm_false = v.certificate.model_goal_true, v.certificate.model_goal_false
    assert cm_true is not None and cm_false is not None
    assert "D(c)" in cm_true.true_atoms and "D(c)" not in cm_false.true_atoms
    assert "B(c)" in cm_false.true_atoms  # a real model of the premises
    assert "domain" in cm_true.render()


def test_z3_without_countermodels_declares_it() -> None:
    p = Z3Prover(countermodels=False)
    assert not p.gives_countermodels and Z3Prover.gives_countermodels
    v = p.entails(["A(c)"], "D(c)")
    assert v.certificate.model_goal_true is None and "countermodels" in v.certificate.note


def test_z3_flags_inconsistent_premises_with_their_core() -> None:
    v = Z3Prover().entails(["A(c)", "Noise(d)", "¬A(c)"], "B(c)")
    assert v.inconsistent_premises and v.label == "Uncertain"
    assert v.certificate.premises_used == (0, 2)


def test_z3_valid_conclusion_uses_no_premise_and_says_so() -> None:
    v = Z3Prover().entails(["Q(a)"], "P(a) ∨ ¬P(a)")
    assert v.label == "True" and v.certificate.premises_used == ()
    assert "valid" in v.certificate.note


def test_z3_premise_tracking_cannot_collide_with_a_predicate_name() -> None:
    # the tracking literals used to be Bool("premise_0"), the same symbol as this 0-ary predicate
    v = Z3Prover().entails(["premise_0 → Q(a)", "R(b)"], "Q(a)")
    assert v.label == "Uncertain"
    assert Z3Prover().entails(["premise_0 → Q(a)", "premise_0"], "Q(a)").certificate.premises_used == (0, 1)


def test_z3_search_that_needs_an_infinite_model_stops_at_the_limit() -> None:
    premises = ["∀x ∃y R(x, y)", "∀x ¬R(x, x)", "∀x ∀y ∀z ((R(x, y) ∧ R(y, z)) → R(x, z))"]
    start = time.perf_counter()
    v = Z3Prover(timeout_s=1.0).entails(premises, "P(a)")
    assert time.perf_counter() - start < 3.0
    assert v.label == "Uncertain" and v.timed_out
    assert "limit" in v.certificate.note


def test_z3_internal_error_becomes_prover_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: z3.Solver, *args: object) -> z3.CheckSatResult:
        raise z3.Z3Exception("internal error")

    monkeypatch.setattr(z3.Solver, "check", boom)
    with pytest.raises(ProverError, match="Z3 failed: internal error") as info:
        Z3Prover().entails(["A(c)"], "A(c)")
    assert info.value.prover == "z3" and not info.value.retryable


# ----------------------------------------------------------------------------- Prover9


def test_prover9_reads_premises_used_from_its_proof() -> None:
    p9 = _prover9()
    v = p9.entails(["∀x (A(x) → B(x))", "Noise(c)", "A(c)", "∀x (B(x) → C(x))"], "C(c)")
    assert v.label == "True" and v.certificate.premises_used == (0, 2, 3) and not v.certificate.note
    v = p9.entails(["Q(d)", "∀x (A(x) → ¬C(x))", "R(e) ∨ S(e)", "A(d)"], "C(d)")
    assert v.label == "False" and v.certificate.premises_used == (1, 3)


def test_prover9_names_the_contradiction_in_inconsistent_premises() -> None:
    v = _prover9().entails(["A(c)", "Noise(d)", "¬A(c)"], "B(c)")
    assert v.inconsistent_premises and v.label == "Uncertain"
    assert v.certificate.premises_used == (0, 2)


def test_prover9_flags_premises_that_prove_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    # each search finds a proof through the goal: together they show the premises are inconsistent
    from thinkgraph.provers import prover9 as mod

    results = iter(
        [
            mod._Search((mod._Proof(frozenset({0}), uses_goal=True),)),
            mod._Search((mod._Proof(frozenset({1}), uses_goal=True),)),
        ]
    )
    p9 = _prover9()
    monkeypatch.setattr(mod.Prover9, "_search", lambda self, prem, goal: next(results))
    v = p9.entails(["P(a)", "Q(a)", "R(a)"], "S(a)")
    assert v.inconsistent_premises and v.label == "Uncertain"
    assert v.certificate.premises_used == (0, 1)


def test_prover9_valid_conclusion_uses_no_premise_and_says_so() -> None:
    v = _prover9().entails(["Q(a)"], "P(a) ∨ ¬P(a)")
    assert v.label == "True" and v.certificate.premises_used == ()
    assert "valid" in v.certificate.note


def test_prover9_unreadable_proof_lists_every_premise(tmp_path: Path) -> None:
    # a Prover9 whose output has no proof section: proves the positive goal only
    body = 'if grep -q "^(Mortal(c_socrates)) # label(goal)" -; then echo "THEOREM PROVED"; exit 0; fi; exit 2'
    p9 = _prover9(binary=_script(tmp_path, body))
    v = p9.entails(["∀x (Man(x) → Mortal(x))", "Man(socrates)", "Noise(c)"], "Mortal(socrates)")
    assert v.label == "True"
    assert v.certificate.premises_used == (0, 1, 2)
    assert "every premise" in v.certificate.note


def test_prover9_rejected_input_raises_prover_error_with_its_text() -> None:
    # Prover9 refuses a symbol used both as a function and as a predicate; Z3 takes it
    premises, conclusion = ["P(f(a))", "f(a)"], "P(a)"
    with pytest.raises(ProverError, match="used as both relation and function symbols: f/1") as info:
        _prover9().entails(premises, conclusion)
    assert info.value.prover == "prover9" and not info.value.retryable
    assert Z3Prover().entails(premises, conclusion).label == "Uncertain"


def test_prover9_crash_is_a_retryable_prover_error(tmp_path: Path) -> None:
    p9 = _prover9(binary=_script(tmp_path, 'echo "boom" >&2; kill -SEGV $$'))
    with pytest.raises(ProverError, match=r"killed by signal 11.*boom") as info:
        p9.entails(["A(c)"], "A(c)")
    assert info.value.retryable
    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.prover, copy.output, copy.retryable) == (
        str(info.value),
        "prover9",
        info.value.output,
        True,
    )


def test_prover9_missing_binary_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from thinkgraph.provers.prover9 import Prover9

    monkeypatch.setenv("THINKGRAPH_PROVER9", str(tmp_path / "nowhere"))
    with pytest.raises(ProverUnavailable, match="THINKGRAPH_PROVER9"):
        Prover9()
    with pytest.raises(ProverUnavailable, match="does not exist"):
        Prover9(binary=tmp_path / "nowhere").entails(["A(c)"], "A(c)")


def test_prover9_refuses_options_it_cannot_honour() -> None:
    _prover9()
    with pytest.raises(ValueError, match="countermodels"):
        get_prover("prover9", countermodels=True)
    with pytest.raises(ValueError, match="minimize"):
        get_prover("prover9", minimize_core=True)
    assert get_prover("prover9", countermodels=False).gives_countermodels is False
