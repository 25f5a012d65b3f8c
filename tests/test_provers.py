"""One conformance suite for every Prover: real Z3 and real Prover9."""

from __future__ import annotations

import time

import pytest

from thinkgraph.logic.fol import FOLParseError
from thinkgraph.provers import Prover, Z3Prover, get_prover

PROVERS = ["z3", "prover9"]

CASES = [
    (["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Mortal(socrates)", "True"),
    (["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "¬Mortal(socrates)", "False"),
    (["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Greek(socrates)", "Uncertain"),
    (["all x.(Bird(x) -> Flies(x))", "Bird(tweety) | Fish(tweety)", "-Fish(tweety)"], "Flies(tweety)", "True"),
    (["Cat(tom) ⊕ Dog(tom)", "Cat(tom)"], "Dog(tom)", "False"),
    (["∃x (Student(x) ∧ Athlete(x))"], "∃x Athlete(x)", "True"),
    (["∀x ∀y (Parent(x, y) → Older(x, y))", "Parent(ann, bob)"], "Older(bob, ann)", "Uncertain"),
    (["x = y", "P(x)"], "P(y)", "True"),
    # a constant named like a variable must stay a constant in every prover
    (["P(x)"], "∀x P(x)", "Uncertain"),
]


@pytest.fixture(params=PROVERS)
def prover(request: pytest.FixtureRequest) -> Prover:
    return get_prover(request.param, timeout_s=4.0)


@pytest.mark.parametrize(("premises", "conclusion", "label"), CASES)
def test_three_valued_entailment(prover: Prover, premises: list[str], conclusion: str, label: str) -> None:
    verdict = prover.entails(premises, conclusion)
    assert verdict.label == label
    assert verdict.solver == prover.name
    assert not verdict.timed_out


def test_malformed_formula_raises_typed_error(prover: Prover) -> None:
    with pytest.raises(FOLParseError):
        prover.entails(["P(a) ∧"], "P(a)")


def test_z3_certificate_names_premises_used() -> None:
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


def test_z3_flags_inconsistent_premises() -> None:
    v = Z3Prover().entails(["A(c)", "¬A(c)"], "B(c)")
    assert v.inconsistent_premises and v.label == "Uncertain"


def test_search_that_needs_an_infinite_model_stops_at_the_limit() -> None:
    # Satisfiable only in infinite models: an unbounded strict order.  Z3's model search cannot end.
    premises = ["∀x ∃y R(x, y)", "∀x ¬R(x, x)", "∀x ∀y ∀z ((R(x, y) ∧ R(y, z)) → R(x, z))"]
    start = time.perf_counter()
    v = Z3Prover(timeout_s=1.0).entails(premises, "P(a)")
    assert time.perf_counter() - start < 3.0
    assert v.label == "Uncertain" and v.timed_out
    assert "limit" in v.certificate.note


def test_z3_and_prover9_agree_on_a_mixed_batch() -> None:
    z3p, p9 = get_prover("z3"), get_prover("prover9")
    for premises, conclusion, _ in CASES:
        assert z3p.entails(premises, conclusion).label == p9.entails(premises, conclusion).label
