"""The CLI as a new user meets it: clear one-line errors with their own exit codes, validated options,
`run`, `workflow show`, `nodes`, `--version`, and the router's choice in the trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import EXAMPLE_FORMULAS
from thinkgraph.cli import main
from thinkgraph.graphs.library import auto_workflow
from thinkgraph.llm.base import ChatRequest
from thinkgraph.logic.records import Problem
from thinkgraph.nodes.route import Route, classify_by_rules
from thinkgraph.runtime import RunContext
from thinkgraph.testing import RecordingModel, ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ["ask", "--example", "-q"]


def test_version_and_help_document_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("thinkgraph ")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "4  set-up failure" in out and "--set NODE.PARAM=VALUE" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-k", "0"], "must be ≥ 1, got 0"),
        (["-k", "-1"], "must be ≥ 1, got -1"),
        (["--threshold", "5"], "must be in [0, 1], got 5"),
        (["--temperature", "hot"], "expected a number"),
        (["--timeout", "0"], "must be in (0, 3600]"),
    ],
)
def test_out_of_range_options_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*EXAMPLE, *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_premises_file_that_is_a_directory_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--premises-file", str(tmp_path), "-c", "x.", "--model", "replay:/nope.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --premises-file") and "is a directory" in err and "Traceback" not in err


def test_a_model_that_cannot_start_is_a_setup_error_not_an_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*EXAMPLE, "--model", "replay:/missing.jsonl"]) == 4
    err = capsys.readouterr().err
    assert "error:" in err and "/missing.jsonl" in err and "Traceback" not in err


def test_a_model_failing_inside_a_node_shows_no_check_mark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from thinkgraph.llm.base import ModelUnavailable

    class NoWeights:
        name = "local:gone"

        async def chat(self, request: ChatRequest) -> object:
            raise ModelUnavailable("weights not installed: pip install 'thinkgraph[local]'")

        async def aclose(self) -> None:
            pass

    import thinkgraph.llm

    monkeypatch.setattr(thinkgraph.llm, "load_model", lambda spec, **kw: NoWeights())
    assert main(["ask", "--example"]) == 4
    err = capsys.readouterr().err
    assert "✘ translate" in err and "✔ translate" not in err
    assert "error: weights not installed" in err and "[abstained]" not in err


def _recording(tmp_path: Path) -> Path:
    from thinkgraph.cli import _example_problem
    from thinkgraph.graphs.linc import solve_sync

    path = tmp_path / "rec.jsonl"

    def answer(request: ChatRequest, i: int) -> str:
        return EXAMPLE_FORMULAS[request.messages[-1].content.split("Sentence: ")[-1]]

    solve_sync(_example_problem(), RecordingModel(ScriptedModel(answer), path), workflow="linc")
    return path


def test_run_prints_the_result_json_last_with_overrides_and_a_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _recording(tmp_path)
    problem = json.dumps(json.loads((ROOT / "src/thinkgraph/data/example_problem.json").read_text()))
    trace = tmp_path / "trace.jsonl"
    code = main(
        ["run", "linc", "--input", problem, "--model", f"replay:{rec}", "--set", "vote.threshold=0.9",
         "--set", "prove.timeout_s=2", "--json", "--trace", str(trace)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["ending"] == "answered" and result["output"]["value"] == "False"
    assert [m["node"] for m in result["messages"]] == ["(input)", "translate", "prove", "vote"]
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert events[0]["kind"] == "run_started" and events[-1]["kind"] == "run_finished"
    lines = captured.err.splitlines()
    assert "▶ translate" in lines and any(ln.startswith("✔ vote") for ln in lines)
    assert any("z3 consensus:" in ln for ln in lines)  # the consensus is named, not "sample -1"
    # every stderr line is one whole event line (no interleaving)
    assert all(ln[:1] in ("▶", "✔", "✘", "↪", "⏸", " ", "u") for ln in lines if ln), lines


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["run", "linc"], "give --input", 2),
        (["run", "linc", "--input", "{broken"], "not valid JSON", 2),
        (["run", "linc", "--input", "[1, 2]"], "expected a JSON object", 2),
        (["run", "linc", "--input", "/no/such.json"], "no such file", 2),
        (["run", "linc", "--input", '{"premises": ["A."]}', "--model", "replay:/x.jsonl"], "conclusion", 2),
        (["run", "linc", "--input", '{"premises": ["A."], "conclusion": "B."}', "--model", "replay:/x.jsonl"], "", 4),
        (["run", "lnic", "--input", '{"premises": [], "conclusion": "x"}'], "unknown workflow 'lnic'", 2),
        (["run", "linc", "--input", '{"premises": [], "conclusion": "x"}', "--set", "nope"], "NODE.PARAM=VALUE", 2),
        (["run", "linc", "--input", '{"premises": [], "conclusion": "x"}', "--set", "vote.treshold=1"],
         "did you mean 'threshold'", 2),
        (["run", "linc", "--input", '{"premises": [], "conclusion": "x"}', "--set", "translate.samples=0"],
         "greater than or equal to 1", 2),
        (["run", "linc", "--input", '{"premise": ["A."], "conclusion": "x"}', "--model", "replay:/x"], "premise", 2),
    ],
)  # fmt: skip
def test_run_errors_are_one_clear_line(
    argv: list[str], message: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_an_invalid_input_message_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _recording(tmp_path)
    code = main(["run", "linc", "--input", '{"premise": ["A."], "conclusion": "x"}', "--model", f"replay:{rec}"])
    err = capsys.readouterr().err
    assert code == 2 and "invalid problem input" in err and "premise" in err and "▶" not in err


def test_workflow_show_draws_mermaid_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflow", "show", str(ROOT / "examples" / "auto.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD") and "n_classify -->|category=deductive| n_translate" in out
    assert "│ classify  (route.classify)" in out and "reads problem  →  writes route" in out
    assert main(["workflow", "show", "nope"]) == 2


def test_nodes_lists_parameters_types_defaults_reads_and_writes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "--json"]) == 0
    nodes = {n["name"]: n for n in json.loads(capsys.readouterr().out)}
    assert {"linc.translate", "linc.prove", "linc.vote", "cot.reason", "cot.vote", "route.classify"} <= set(nodes)
    translate = nodes["linc.translate"]
    assert translate["params"]["samples"]["type"] == "int" and translate["params"]["samples"]["default"] == 3
    assert translate["reads"][0]["kind"] == "problem" and translate["writes"] == ["translations"]
    assert nodes["human.approve"]["interrupts"] is True
    assert main(["nodes"]) == 0 and "linc.prove: Build a formalization" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the router


@pytest.mark.parametrize(
    ("premises", "conclusion", "category"),
    [
        (("All cats are animals.", "Tom is a cat."), "Tom is an animal.", "deductive"),
        (("If it rains, the grass is wet.", "It rains."), "The grass is wet.", "deductive"),
        ((), "Janet has 16 eggs and eats 3 each day. How many are left?", "arithmetic"),
        (("A shirt costs $20 and pants cost $35.",), "What is the total cost of 2 shirts and 1 pants?", "arithmetic"),
        ((), "What is the capital of France?", "other"),
    ],
)
def test_rule_router_categories(premises: tuple[str, ...], conclusion: str, category: str) -> None:
    route = classify_by_rules(Problem(premises=premises, conclusion=conclusion))
    assert route.category == category and route.reason


def test_auto_routes_deductive_to_linc_and_others_to_cot_with_the_reason_traced() -> None:
    def answer(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "Sentence: " in last:
            return EXAMPLE_FORMULAS[last.split("Sentence: ")[-1]]
        return "16 - 3 = 13\nAnswer: Uncertain"

    compiled = auto_workflow().compile()
    from thinkgraph.cli import _example_problem

    ctx = RunContext()
    result = compiled.run_sync(_example_problem(), model=ScriptedModel(answer), ctx=ctx)
    assert [n for n, _ in result.messages][1:] == ["classify", "translate", "prove", "vote"]
    chosen = next(e for e in ctx.tracer.events if e.kind == "route_chosen")
    assert chosen.value == "deductive" and chosen.target == "translate" and "premises" in chosen.reason
    other = compiled.run_sync(Problem(premises=(), conclusion="What is 2+2?"), model=ScriptedModel(answer))
    assert [n for n, _ in other.messages][1:] == ["classify", "reason", "cot_vote"]


def test_model_router_uses_a_json_schema_and_falls_back_to_rules_on_garbage() -> None:
    from thinkgraph.graphs import Workflow

    wf = Workflow("r").add("classify", "route.classify", {"method": "model"}).compile()
    good = ScriptedModel(lambda r, i: '{"category": "arithmetic", "reason": "numbers"}')
    result = wf.run_sync(Problem(premises=("All a are b.",), conclusion="x is b."), model=good)
    assert isinstance(result.output, Route) and (result.output.category, result.output.method) == (
        "arithmetic",
        "model",
    )
    assert good.requests[0].response_format is not None
    assert good.requests[0].response_format["json_schema"]["schema"]["properties"]["category"]["enum"]
    ctx = RunContext()
    bad = wf.run_sync(
        Problem(premises=("All a are b.",), conclusion="x is b."), model=ScriptedModel(lambda r, i: "{"), ctx=ctx
    )
    assert isinstance(bad.output, Route) and bad.output.category == "deductive" and bad.output.method == "rules"
    assert any(e.kind == "note" and "fell back to rules" in e.text for e in ctx.tracer.events)


def test_a_trace_path_that_cannot_be_written_is_refused_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _recording(tmp_path)
    problem = (ROOT / "src/thinkgraph/data/example_problem.json").read_text()
    assert main(["run", "linc", "--input", problem, "--model", f"replay:{rec}", "--trace", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import thinkgraph.cli as cli

    def explode(args: object) -> int:
        raise KeyError("surprise")

    monkeypatch.setattr(cli, "cmd_nodes", explode)
    monkeypatch.delenv("THINKGRAPH_DEBUG", raising=False)
    assert cli.main(["nodes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: internal error: KeyError") and "THINKGRAPH_DEBUG" in err


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ask", "--example", "-k", "0"], ["bogus"], ["workflow"], ["run"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and err.startswith("error: ") and "\n" not in err, err


def test_run_budget_flags_end_the_run_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = _recording(tmp_path)
    problem = (ROOT / "src/thinkgraph/data/example_problem.json").read_text()
    code = main(["run", "linc", "--input", problem, "--model", f"replay:{rec}", "--max-calls", "3", "--json", "-q"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 3 and result["ending"] == "budget_exhausted" and "model calls limit 3" in result["error"]
    assert result["usage"]["total"]["calls"] == 3
