"""``thinkgraph chat``: the terminal shows live steps, numbered calls that expand, the trace as a tree, the answer
with its evidence and the usage ledger — against a real loopback model server; runs land in the shared history."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openai_stub import OpenAIStub
from thinkgraph.cli import build_parser
from ui_support import HOSTILE, PROBLEM, hostile_handler, linc_handler

pytest.importorskip("rich")

from rich.console import Console

from thinkgraph.ui.store import UIStore
from thinkgraph.ui.terminal import run_chat


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(linc_handler) as s:
        yield s


def _console() -> Console:
    return Console(record=True, width=140, force_terminal=False, color_system=None)


def test_one_question_prints_steps_answer_evidence_and_usage(stub: OpenAIStub, tmp_path: Path) -> None:
    store = tmp_path / "ui.sqlite"
    args = build_parser().parse_args(
        ["chat", "--model", f"openai:stub@{stub.base_url}", "--store", str(store), "--input", json.dumps(PROBLEM)]
    )
    console = _console()
    assert run_chat(args, console=console) == 0
    out = console.export_text()
    for step in ("▶ translate", "✔ translate", "✔ prove", "✔ vote"):
        assert step in out
    assert "[1] → openai:stub" in out or "[1] → stub" in out
    assert "verified" in out and "False" in out
    assert "unsat core" in out and "∀x (Mammal(x) → ¬Reptile(x))" in out
    assert "usage ledger" in out
    runs = UIStore(store).runs()
    assert len(runs) == 1 and runs[0].output is not None and runs[0].output["value"] == "False"


def test_the_prompt_loop_expands_calls_and_prints_the_trace_tree(stub: OpenAIStub, tmp_path: Path) -> None:
    answers = iter([*PROBLEM["premises"], "", PROBLEM["conclusion"], "show 1", "show 99", "trace", "tree", "quit"])
    spec = f"openai:stub@{stub.base_url}"
    args = build_parser().parse_args(["chat", "--model", spec, "--store", str(tmp_path / "s")])
    console = _console()
    assert run_chat(args, ask=lambda _prompt: next(answers), console=console) == 0
    out = console.export_text()
    assert "model call" in out and "Sentence: All squirrels are rodents." in out  # call 1 expanded: its prompt
    assert "Squirrel(x) → Rodent(x)" in out  # … and its reply
    assert "no call 99" in out
    assert "trace" in out and "✔ translate" in out
    assert "no search tree in this run" in out


def test_model_markup_is_printed_as_text(tmp_path: Path) -> None:
    with OpenAIStub(hostile_handler) as stub:
        args = build_parser().parse_args(
            [
                *("chat", "-w", "cot", "--model", f"openai:s@{stub.base_url}", "--store", str(tmp_path / "s")),
                *("--input", json.dumps(PROBLEM), "--expand"),
            ]
        )
        console = _console()
        assert run_chat(args, console=console) == 0
    out = console.export_text()
    assert "<script>window.__pwned = 1</script>" in out  # shown verbatim, Rich markup not interpreted
    assert "[click me](javascript:window.__pwned=3)" in out
    assert HOSTILE.split()[0] in out


def test_terminal_escape_sequences_from_a_model_are_shown_not_obeyed(tmp_path: Path) -> None:
    from openai_stub import completion

    evil = "\x1b]0;PWNED\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07 done\nAnswer: True"
    with OpenAIStub(lambda body: (200, {}, completion([evil] * int(body.get("n") or 1)))) as stub:
        args = build_parser().parse_args(
            [
                *("chat", "-w", "cot", "--model", f"openai:s@{stub.base_url}", "--store", str(tmp_path / "s")),
                *("--input", json.dumps(PROBLEM), "--expand"),
            ]
        )
        console = Console(record=True, width=140, force_terminal=True)
        assert run_chat(args, console=console) == 0
    out = console.export_text(styles=False)
    assert "\x1b]" not in out and "\x07" not in out
    assert "\\x1b]0;PWNED" in out  # visible as text


def test_the_chat_command_refuses_unknown_workflows_and_bad_input(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "thinkgraph.cli", "chat", "--store", str(tmp_path / "s")]
    out = subprocess.run([*base, "-w", "nope", "--input", "{}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "unknown workflow 'nope'" in out.stderr
    out = subprocess.run([*base, "--input", "{not json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--input" in out.stderr
    out = subprocess.run([*base, "--input", '{"premises": []}'], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "conclusion" in out.stderr


def test_the_terminal_asks_a_person_when_a_run_pauses(stub: OpenAIStub, tmp_path: Path) -> None:
    from ui_support import ROOT

    answers = iter(["y looks fine", "quit"])
    spec = f"openai:stub@{stub.base_url}"
    args = build_parser().parse_args(
        [
            *("chat", "-w", "linc-reviewed", "--workflows", str(ROOT / "examples"), "--model", spec),
            *("--store", str(tmp_path / "s"), "--input", json.dumps(PROBLEM)),
        ]
    )
    console = _console()
    # with --input there is no one to ask: the run waits (exit 6) and says so
    assert run_chat(args, console=console) == 6
    assert "waiting for a person: Is this answer right?" in console.export_text()
    args.input = None
    replies = iter([*PROBLEM["premises"], "", PROBLEM["conclusion"], *answers])
    console = _console()
    assert run_chat(args, ask=lambda _p: next(replies), console=console) == 0
    out = console.export_text()
    assert "verified" in out and "looks fine" in out
