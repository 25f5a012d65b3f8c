"""Batching candidate proofs for the offline Lean: 50 candidates in one process against a batch of one.

    python benchmarks/lean_batch.py [--mode file|repl] [--skip-single]

50 candidates about core Nat/Int/List facts, each with the class it must get: ``proved`` (right proofs),
``error`` (wrong proofs: false statements, failing tactics, type and parse errors), ``sorry``, and
``timeout`` (tactics that do not terminate, stopped by the heartbeat or recursion-depth limit set on their
own declaration).  Three hostile candidates ride along and must be ``rejected`` before Lean sees them.
All 50 go to ONE Lean process (``file`` mode: one file, one ``node lean.js`` run); then one right proof goes
alone to a second process.  Every classification is asserted.  Last line: one JSON object with
``batch_ratio`` = wall time of the 50-batch / wall time of the batch of one (the target is ≤ 1.3: a
process's start-up dominates, each extra declaration costs milliseconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from thinkgraph.provers.lean.offline import OfflineLeanBackend, batch_from_output  # noqa: E402
from thinkgraph.provers.lean.source import Declaration, assemble  # noqa: E402

HB = 20_000  # heartbeats for the non-terminating candidates (their own declaration's limit)

# (name, statement, proof, intended status)
CASES: list[tuple[str, str, str, str]] = [
    # ---- right (20)
    ("add_zero", "(n : Nat) : n + 0 = n", "by omega", "proved"),
    ("add_comm", "(a b : Nat) : a + b = b + a", "Nat.add_comm a b", "proved"),
    ("add_assoc", "(a b c : Nat) : a + b + c = a + (b + c)", "by omega", "proved"),
    ("succ_pos", "(n : Nat) : 0 < n + 1", "Nat.succ_pos n", "proved"),
    ("int_sub_add", "(a b : Int) : a - b + b = a", "by omega", "proved"),
    ("append_nil", "(xs : List Nat) : (xs ++ []).length = xs.length", "by simp", "proved"),
    ("length_append", "(xs ys : List Nat) : (xs ++ ys).length = xs.length + ys.length", "by simp", "proved"),
    ("pow_ten", ": 2 ^ 10 = 1024", "by decide", "proved"),
    ("double", "(n : Nat) : n * 2 = n + n", "by omega", "proved"),
    ("lt_succ", "(a b : Nat) (h : a ≤ b) : a < b + 1", "by omega", "proved"),
    ("and_intro", "(p q : Prop) (hp : p) (hq : q) : p ∧ q", "⟨hp, hq⟩", "proved"),
    ("reverse_reverse", "(xs : List Nat) : xs.reverse.reverse = xs", "by simp", "proved"),
    ("mod_two", "(n : Nat) : n % 2 = 0 ∨ n % 2 = 1", "by omega", "proved"),
    ("int_mul_zero", "(a : Int) : a * 0 = 0", "by simp", "proved"),
    ("ne_three", "(n : Nat) (h : n > 5) : n ≠ 3", "by omega", "proved"),
    ("linear", "(x y : Nat) (h : x + y = 10) (h2 : x = 3) : y = 7", "by omega", "proved"),
    ("gcd_self", "(n : Nat) : Nat.gcd n n = n", "Nat.gcd_self n", "proved"),
    ("replicate", "(n : Nat) : (List.replicate n 0).length = n", "by simp", "proved"),
    ("symm", "(a b : Nat) (h : a = b) : b = a", "h.symm", "proved"),
    ("induction", "(n : Nat) : 0 + n = n", "by\n  induction n with\n  | zero => rfl\n  | succ k ih => omega", "proved"),
    # ---- wrong (14)
    ("false_decide", ": 2 + 2 = 5", "by decide", "error"),
    ("sub_add", "(n : Nat) : n - 1 + 1 = n", "by omega", "error"),
    ("sub_comm", "(a b : Nat) : a - b = b - a", "by omega", "error"),
    ("reverse_id", "(xs : List Nat) : xs.reverse = xs", "by simp", "error"),
    ("nonlinear", "(n : Nat) : n * n ≥ n + 1", "by omega", "error"),
    ("int_mul_add", "(a b : Int) : a * b = a + b", "by omega", "error"),
    ("ten_lt_three", ": 10 < 3", "by decide", "error"),
    ("succ_self", "(n : Nat) : n + 1 = n", "by simp", "error"),
    ("type_error", "(p q : Prop) (hp : p) : p ∧ q", "⟨hp, hp⟩", "error"),
    ("unknown_name", "(n : Nat) : n = n", "by exact no_such_lemma", "error"),
    ("parse_error", "(a : Nat) : a = a", "by\n  exact (rfl", "error"),
    ("after_parse_error", "(x : Nat) (h : x > 3) : x > 5", "by omega", "error"),
    ("unknown_tactic", "(p : Prop) (h : p) : p", "by tauto", "error"),
    ("wrong_rfl", "(a b : Nat) : a + b = a", "rfl", "error"),
    # ---- sorry (8)
    ("sorry_term", ": True", "sorry", "sorry"),
    ("sorry_tactic", "(n : Nat) : n = n", "by sorry", "sorry"),
    ("sorry_after_intro", "(p : Prop) : p → p", "by\n  intro h\n  sorry", "sorry"),
    ("sorry_branch", "(p q : Prop) (hp : p) : p ∧ q", "by\n  constructor\n  · exact hp\n  · sorry", "sorry"),
    ("admit", "(a : Nat) : a + 1 > a", "by admit", "sorry"),
    ("sorry_cases", "(n : Nat) : n = 0 ∨ n > 0", "by\n  cases n\n  · sorry\n  · omega", "sorry"),
    ("sorry_have", "(a b : Nat) (h : a < b) : a ≤ b", "by\n  have key : a < b + 1 := sorry\n  omega", "sorry"),
    (
        "sorry_induction",
        "(n : Nat) : n * 0 = 0",
        "by\n  induction n with\n  | zero => rfl\n  | succ k ih => sorry",
        "sorry",
    ),
    # ---- do not terminate (8): stopped by their own heartbeat / recursion limit
    ("loop_simp_fff", "(f : Nat → Nat) (h : ∀ x, f x = f (f x)) : f 0 = 1", "by simp only [h]", "timeout"),
    (
        "loop_repeat_rw",
        "(a b c : Nat) (h : a + b = c) : b + a = c + 1",
        "by repeat (rw [Nat.add_comm] at h)",
        "timeout",
    ),
    ("loop_decide_ball", ": ∀ n : Nat, n < 3000 → n * n ≠ 1234567", "by decide", "timeout"),
    ("loop_simp_succ", "(f : Nat → Nat) (h : ∀ x, f (x + 1) = f x) : f 100000 = f 0", "by simp [h]", "timeout"),
    ("loop_rfl_foldl", ": (List.range 1000).foldl (· + ·) 0 = 499500", "by rfl", "timeout"),
    ("loop_decide_replicate", ": (List.replicate 3000 1).length = 3000", "by decide", "timeout"),
    ("loop_decide_range", ": (List.range 3000).length = 3000", "by decide", "timeout"),
    ("loop_simp_arith", "(f : Nat → Nat) (h : ∀ x, f x = f x + 0) : f 1 = 2", "by simp only [h]", "timeout"),
]

HOSTILE = [
    ("escape_eval", ": True", "by trivial\n#eval IO.println 1", "rejected"),
    ("escape_end", ": True", "by trivial\nend\ntheorem cheat : False := sorry", "rejected"),
    ("escape_comment", ": True", "by trivial /- swallows the next block", "rejected"),
]


def declarations(cases: list[tuple[str, str, str, str]]) -> list[Declaration]:
    return [Declaration(n, s, p, HB if want == "timeout" else None) for n, s, p, want in cases]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["file", "repl"], default="file")
    ap.add_argument("--skip-single", action="store_true", help="do not time a batch of one (no ratio)")
    ap.add_argument("--record", metavar="PREFIX", help="file mode: save the Lean file and Lean's JSON lines (fixtures)")
    args = ap.parse_args()
    assert len(CASES) == 50, len(CASES)
    everything = CASES + HOSTILE

    backend = OfflineLeanBackend(mode=args.mode, timeout_s=3 * 3600, startup_timeout_s=3600)
    t = time.perf_counter()
    if args.record and args.mode == "file":
        assembled = assemble(declarations(everything), backend.heartbeats)
        raw = backend.run_text(assembled.text)
        batch = batch_from_output(assembled, raw, backend.name)
        Path(args.record + ".lean").write_text(assembled.text)
        Path(args.record + ".jsonl").write_text("".join(x + "\n" for x in raw.stdout.splitlines() if x.startswith("{")))
    else:
        with backend:
            batch = backend.check(declarations(everything))
    wall_batch = time.perf_counter() - t
    wrong = []
    for (name, _s, _p, want), r in zip(everything, batch.results, strict=True):
        ok = r.status == want
        print(json.dumps({"name": name, "want": want, "got": r.status, "ok": ok, "message": r.message[:160]}))
        if not ok:
            wrong.append(name)
    wall_single = None
    if not args.skip_single:
        single = OfflineLeanBackend(mode=args.mode, timeout_s=3 * 3600, startup_timeout_s=3600)
        t = time.perf_counter()
        with single:
            one = single.check(declarations(CASES[:1]))
        wall_single = time.perf_counter() - t
        assert one.results[0].status == "proved", one.results[0]
    counts = Counter(r.status for r in batch.results)
    summary = {
        "candidates": len(CASES),
        "rejected_before_lean": sum(1 for *_, w in HOSTILE if w == "rejected"),
        "correctly_classified": len(everything) - len(wrong),
        "of": len(everything),
        "misclassified": wrong,
        "counts": dict(counts),
        "batch_seconds": round(wall_batch, 1),
        "single_seconds": round(wall_single, 1) if wall_single is not None else None,
        "batch_ratio": round(wall_batch / wall_single, 3) if wall_single else None,
        "mode": args.mode,
        "killed": batch.killed,
    }
    print(json.dumps(summary))
    if wrong:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
