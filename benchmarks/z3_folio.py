"""Z3 time per FOLIO problem (gold formulas), and thinkgraph's prover overhead over a bare Z3 check.

    python benchmarks/z3_folio.py [FILE.jsonl]

Default file: ../shared/data/folio/folio-validation-dev.jsonl when present, else the test fixture.
The baseline is a bare ``Solver.check()`` of premises ∧ ¬goal and premises ∧ goal on the same Z3
expressions in the same process; thinkgraph adds unsat-core tracking (the certificate) and timeouts.
Last line: one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import z3

from thinkgraph.evals.datasets import load_folio
from thinkgraph.logic.fol import FOLParseError, parse_lenient
from thinkgraph.provers.z3 import Z3Prover, _context, _Translator

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    default = ROOT.parent / "shared" / "data" / "folio" / "folio-validation-dev.jsonl"
    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else (default if default.exists() else ROOT / "tests/fixtures/folio_sample.jsonl")
    )
    problems = []
    for rec in load_folio(path):
        try:
            prem = [parse_lenient(f, and_or="right")[0] for f in rec.premises_fol]
            goal = parse_lenient(rec.conclusion_fol, and_or="right")[0]
        except FOLParseError:
            continue
        problems.append((prem, goal, rec.label))

    prover = Z3Prover(timeout_s=5.0, countermodels=False)
    with_models = Z3Prover(timeout_s=5.0, countermodels=True)
    times, model_times, bare_times = [], [], []
    correct = 0
    for _round in range(3):  # interleave to share machine noise
        for prem, goal, label in problems:
            t = time.perf_counter()
            v = prover.entails(prem, goal)
            times.append(time.perf_counter() - t)
            correct += v.label == label
            t = time.perf_counter()
            with_models.entails(prem, goal)
            model_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            tr = _Translator([*prem, goal], _context())
            zp = [tr.formula(p, {}) for p in prem]
            zg = tr.formula(goal, {})
            for extra in (z3.Not(zg), zg):
                s = z3.Solver(ctx=tr.ctx)
                s.add(*zp, extra)
                s.check()
            bare_times.append(time.perf_counter() - t)
    n = len(problems)
    result = {
        "file": path.name,
        "problems": n,
        "correct": correct // 3,
        "median_ms": round(statistics.median(times) * 1000, 2),
        "total_s": round(sum(times) / 3, 3),
        "median_ms_with_countermodels": round(statistics.median(model_times) * 1000, 2),
        "total_s_with_countermodels": round(sum(model_times) / 3, 3),
        "bare_z3_total_s": round(sum(bare_times) / 3, 3),
        "overhead_ratio": round(sum(times) / sum(bare_times), 3),
        "countermodel_overhead_ratio": round(sum(model_times) / sum(bare_times), 3),
    }
    print(
        f"{n} problems: median {result['median_ms']} ms, total {result['total_s']} s per pass "
        f"(bare Z3 {result['bare_z3_total_s']} s)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
