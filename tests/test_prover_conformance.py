"""The promises every Prover keeps, checked against every implementation (real Z3, real Prover9).

A new prover joins by adding a row to ``CONFIGS`` and a way to make it fail to ``_FAILING``.  Prover9
rows skip when its binary is not installed.  The promises themselves are listed in
:mod:`thinkgraph.provers.base`.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import z3

from thinkgraph.logic.fol import FOLParseError, parse
from thinkgraph.provers import Prover, ProverError, ProverUnavailable, get_prover

# (prover name, constructor options): every row must pass every test below.
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("z3", {}),
    ("z3", {"countermodels": False}),
    ("prover9", {}),
]
IDS = ["z3", "z3-no-countermodels", "prover9"]

TIMEOUT_S = 4.0


def _make(name: str, timeout_s: float = TIMEOUT_S, **options: Any) -> Prover:
    try:
        return get_prover(name, timeout_s=timeout_s, **options)
    except ProverUnavailable as err:
        pytest.skip(f"{name} is not installed: {err}")


@pytest.fixture(params=CONFIGS, ids=IDS)
def config(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param


@pytest.fixture
def prover(config: tuple[str, dict[str, Any]]) -> Prover:
    name, options = config
    return _make(name, **options)


# ----------------------------------------------------------------------------- problems

SOCRATES = ["∀x (Man(x) → Mortal(x))", "Man(socrates)"]

CASES = [
    (SOCRATES, "Mortal(socrates)", "True"),
    (SOCRATES, "¬Mortal(socrates)", "False"),
    (SOCRATES, "Greek(socrates)", "Uncertain"),
    (["all x.(Bird(x) -> Flies(x))", "Bird(tweety) | Fish(tweety)", "-Fish(tweety)"], "Flies(tweety)", "True"),
    (["Cat(tom) ⊕ Dog(tom)", "Cat(tom)"], "Dog(tom)", "False"),
    (["∃x (Student(x) ∧ Athlete(x))"], "∃x Athlete(x)", "True"),
    (["∀x ∀y (Parent(x, y) → Older(x, y))", "Parent(ann, bob)"], "Older(bob, ann)", "Uncertain"),
    (["x = y", "P(x)"], "P(y)", "True"),
    (["∀x (Rich(x) ↔ ¬Poor(x))", "Poor(jo)"], "Rich(jo)", "False"),
    # a constant named like a variable must stay a constant in every prover
    (["P(x)"], "∀x P(x)", "Uncertain"),
    # a predicate used with two arities is two predicates
    (["Likes(ann)", "∀x (Likes(x) → Likes(x, bob))"], "Likes(ann, bob)", "True"),
]

# Proved problems with distractor premises: (premises, conclusion, label, premises every proof needs).
PROVED = [
    (["∀x (A(x) → B(x))", "Noise(c)", "A(c)", "∀x (B(x) → C(x))"], "C(c)", "True", {0, 2, 3}),
    (["Q(d)", "∀x (A(x) → ¬C(x))", "R(e) ∨ S(e)", "A(d)"], "C(d)", "False", {1, 3}),
    (["∀x (Dog(x) → Animal(x))", "∀x (Cat(x) → Animal(x))", "Dog(rex)", "Cat(tom)"], "Animal(rex)", "True", {0, 2}),
    (["∃x Smart(x)", "∀x (Smart(x) → Happy(x))", "Sad(bo)"], "∃x Happy(x)", "True", {0, 1}),
    (["a = b", "Tall(c)", "¬Tall(b)"], "Tall(a)", "False", {0, 2}),
    (["Cat(tom) ⊕ Dog(tom)", "Pet(tom)", "Cat(tom)"], "Dog(tom)", "False", {0, 2}),
]

INCONSISTENT = [
    (["A(c)", "¬A(c)"], "B(c)"),
    (["P(a)", "¬P(a)"], "P(a)"),
    (["Q(b)", "∀x (P(x) → Q(x))", "∀x (P(x) → ¬Q(x))", "P(a)"], "Q(a)"),
    (["∀x Bird(x)", "R(c)", "¬Bird(tweety)"], "¬R(c)"),
]

# Satisfiable only in infinite models (an unbounded strict order): no search can settle P(a).
INFINITE = ["∀x ∃y R(x, y)", "∀x ¬R(x, x)", "∀x ∀y ∀z ((R(x, y) ∧ R(y, z)) → R(x, z))"]


# ----------------------------------------------------------------------------- making a prover fail


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "prover9"
    path.write_text("#!/bin/sh\ncat >/dev/null\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _failing_z3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: dict[str, Any]) -> tuple[Prover, str]:
    def check(self: Any, *args: Any) -> Any:
        raise z3.Z3Exception("out of memory")

    monkeypatch.setattr(z3.Solver, "check", check)
    return _make("z3", **options), "out of memory"


def _failing_prover9(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: dict[str, Any]) -> tuple[Prover, str]:
    _make("prover9", **options)  # skips when Prover9 is not installed
    binary = _script(tmp_path, 'echo "Fatal error:  out of memory (max_megs)"\nexit 1')
    return _make("prover9", binary=binary, **options), "out of memory"


# name -> a prover (set up with monkeypatch and a scratch folder) whose solving fails, and its error text
_FAILING: dict[str, Callable[[pytest.MonkeyPatch, Path, dict[str, Any]], tuple[Prover, str]]] = {
    "z3": _failing_z3,
    "prover9": _failing_prover9,
}


@pytest.fixture
def failing(config: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Prover, str]:
    name, options = config
    return _FAILING[name](monkeypatch, tmp_path, options)


# ----------------------------------------------------------------------------- the promises


def test_implements_the_protocol(prover: Prover, config: tuple[str, dict[str, Any]]) -> None:
    assert isinstance(prover, Prover)
    assert prover.name == config[0]
    assert isinstance(prover.gives_countermodels, bool)


@pytest.mark.parametrize(("premises", "conclusion", "label"), CASES)
def test_three_valued_entailment(prover: Prover, premises: list[str], conclusion: str, label: str) -> None:
    verdict = prover.entails(premises, conclusion)
    assert verdict.label == label
    assert verdict.solver == prover.name
    assert not verdict.timed_out
    assert not verdict.inconsistent_premises
    assert verdict.seconds > 0


def test_accepts_parsed_formulas(prover: Prover) -> None:
    verdict = prover.entails([parse(p) for p in SOCRATES], parse("Mortal(socrates)"))
    assert verdict.label == "True"


@pytest.mark.parametrize(("premises", "conclusion", "label", "needed"), PROVED)
def test_proof_names_premises_that_suffice(
    prover: Prover, premises: list[str], conclusion: str, label: str, needed: set[int]
) -> None:
    verdict = prover.entails(premises, conclusion)
    assert verdict.label == label
    used = verdict.certificate.premises_used
    assert used, "a True/False verdict must name the premises its proof used"
    assert list(used) == sorted(set(used))
    assert set(used) <= set(range(len(premises)))
    assert needed <= set(used)
    again = prover.entails([premises[i] for i in used], conclusion)
    assert again.label == label, f"premises {used} alone do not give {label}"


def test_uncertain_carries_countermodels_as_declared(prover: Prover) -> None:
    verdict = prover.entails(["∀x (A(x) → B(x))", "A(c)"], "D(c)")
    assert verdict.label == "Uncertain" and not verdict.timed_out
    cert = verdict.certificate
    if prover.gives_countermodels:
        assert cert.model_goal_true is not None and cert.model_goal_false is not None
        assert "D(c)" in cert.model_goal_true.true_atoms
        assert "D(c)" not in cert.model_goal_false.true_atoms
        for model in (cert.model_goal_true, cert.model_goal_false):
            assert {"A(c)", "B(c)"} <= set(model.true_atoms)  # each is a model of the premises
    else:
        assert cert.model_goal_true is None and cert.model_goal_false is None
        assert cert.note


@pytest.mark.parametrize(("premises", "conclusion"), INCONSISTENT)
def test_inconsistent_premises_are_flagged(prover: Prover, premises: list[str], conclusion: str) -> None:
    verdict = prover.entails(premises, conclusion)
    assert verdict.inconsistent_premises
    assert verdict.label == "Uncertain"
    core = verdict.certificate.premises_used
    assert core and set(core) <= set(range(len(premises)))
    # the named premises are themselves contradictory
    assert prover.entails([premises[i] for i in core], "Unrelated(zed)").inconsistent_premises


@pytest.mark.parametrize("where", ["premise", "conclusion"])
def test_malformed_formula_raises_parse_error_before_solving(failing: tuple[Prover, str], where: str) -> None:
    prover, _ = failing  # solving would raise ProverError: the parse error must come first
    premises, conclusion = (["P(a) ∧"], "P(a)") if where == "premise" else (["P(a)"], "∀x (P(x)")
    with pytest.raises(FOLParseError):
        prover.entails(premises, conclusion)


def test_prover_failure_raises_prover_error(failing: tuple[Prover, str]) -> None:
    prover, text = failing
    with pytest.raises(ProverError) as info:
        prover.entails(SOCRATES, "Mortal(socrates)")
    assert isinstance(info.value, RuntimeError)
    assert info.value.prover == prover.name
    assert text in info.value.output and text in str(info.value)


def test_running_out_of_time_is_a_verdict_not_an_error(config: tuple[str, dict[str, Any]]) -> None:
    name, options = config
    prover = _make(name, timeout_s=1.0, **options)
    start = time.perf_counter()
    verdict = prover.entails(INFINITE, "P(a)")
    # at most two searches at the limit, plus slack for a loaded machine (a prover's limit may be CPU time)
    assert time.perf_counter() - start < 2 * 1.0 + 15.0
    assert verdict.label == "Uncertain" and verdict.timed_out
    assert not verdict.inconsistent_premises
    assert verdict.certificate.note


def test_unsupported_options_are_refused(prover: Prover, config: tuple[str, dict[str, Any]]) -> None:
    name, options = config
    with pytest.raises(TypeError, match="no_such_option"):
        get_prover(name, no_such_option=True)
    with pytest.raises(ValueError, match="timeout_s"):
        get_prover(name, timeout_s=0)
    if not prover.gives_countermodels and "countermodels" not in options:
        with pytest.raises(ValueError, match="countermodels"):
            get_prover(name, countermodels=True)


def test_calls_from_several_threads_agree(prover: Prover) -> None:
    problems = [(p, c) for p, c, _ in CASES] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        labels = list(pool.map(lambda pc: prover.entails(*pc).label, problems))
    assert labels == [label for _, _, label in CASES] * 2


def test_every_prover_gives_the_same_labels() -> None:
    provers = []
    for name, options in CONFIGS:
        try:
            provers.append(get_prover(name, timeout_s=TIMEOUT_S, **options))
        except ProverUnavailable:
            continue
    problems = [(p, c) for p, c, _ in CASES] + [(p, c) for p, c, _, _ in PROVED] + INCONSISTENT
    for premises, conclusion in problems:
        verdicts = [p.entails(premises, conclusion) for p in provers]
        assert len({(v.label, v.inconsistent_premises) for v in verdicts}) == 1, (premises, conclusion)
