from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import EXAMPLE_FORMULAS, shared_file
from thinkgraph.cli import main
from thinkgraph.llm.base import ChatRequest
from thinkgraph.testing import RecordingModel, ScriptedModel


def test_fol_check_reports_every_record_and_a_summary(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fol", "check", str(fixtures / "folio_sample.jsonl"), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert {k: summary[k] for k in ("records", "parsed", "correct")} == {"records": 6, "parsed": 5, "correct": 5}
    assert summary["accuracy"] == round(5 / 6, 4) and summary["seconds"] < 10
    assert summary["prover9_agree"] == summary["prover9_checked"] == 5
    notable = [json.loads(line) for line in lines[:-1]]
    comma = next(r for r in notable if r["line"] == 5)
    assert "comma cannot join formulas" in comma["parse_error"]
    assert next(r for r in notable if r["line"] == 4)["repairs"] == ["premise 2: dropped 1 unmatched ')' at the end"]
    assert "2 premises but 1 formulas" in next(r for r in notable if r["line"] == 6)["warnings"][0]


def test_fol_check_standard_precedence_reading_is_available(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["fol", "check", str(fixtures / "folio_sample.jsonl"), "--and-or", "precedence", "--no-prover9"])
    out = capsys.readouterr().out
    assert "line 6: MISS gold=True z3=Uncertain" in out
    assert "line 5: PARSE ERROR" in out


def test_fol_check_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fol", "check", "/nonexistent.jsonl"]) == 2
    assert "error:" in capsys.readouterr().err


def test_fol_check_on_folio_dev_if_present(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("folio", "folio-validation-dev.jsonl")
    main(["fol", "check", str(path), "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["records"] == 102 and summary["correct"] >= 96
    assert summary["prover9_agree"] == summary["prover9_checked"]


GOOD = EXAMPLE_FORMULAS


def _record(tmp_path: Path, argv_extra: list[str]) -> Path:
    """Record what a scripted translator says for the bundled example, as a replay file."""
    import asyncio

    from thinkgraph.agents.linc import LincConfig
    from thinkgraph.agents.translator import TranslatorConfig
    from thinkgraph.cli import _example_problem
    from thinkgraph.graphs.linc import solve

    def answer(request: ChatRequest, i: int) -> str:
        return GOOD[request.messages[-1].content.split("Sentence: ", 1)[1]]

    path = tmp_path / "rec.jsonl"
    rec = RecordingModel(ScriptedModel(answer), path)
    config = LincConfig(translator=TranslatorConfig(samples=2))
    asyncio.run(solve(_example_problem(), rec, config=config))
    return path


def test_ask_with_a_replayed_model_prints_verdict_evidence_and_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _record(tmp_path, [])
    trace = tmp_path / "trace.jsonl"
    code = main(["ask", "--example", "--model", f"replay:{rec}", "--samples", "2", "--trace", str(trace), "--prover9"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("False [verified]")
    assert "∀x (Mammal(x) → ¬Reptile(x))" in out and "prover9" in out
    assert "▶ translate" in err and "✔ vote" in err  # live compact trace
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert events[0]["kind"] == "run_started" and events[-1]["kind"] == "run_finished"
    assert any(e["kind"] == "tool_call" and e["tool"] == "z3" for e in events)


def test_ask_replay_miss_abstains_instead_of_calling_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _record(tmp_path, [])
    code = main(["ask", "-p", "Rex is a dog.", "-c", "Rex is a cat.", "--model", f"replay:{rec}", "-q", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 3 and answer["status"] == "abstained" and "ReplayMiss" in answer["evidence"]["reason"]


def test_ask_without_premises_explains_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "-c", "x"]) == 2
    assert "give premises" in capsys.readouterr().err
