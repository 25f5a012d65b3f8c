"""Everything in examples/ and the README runs: each YAML passes `workflow check` and, run by the CLI with a
recorded model (replay:), gives the same answer as the Python API; README code runs; plugins register nodes."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from thinkgraph.cli import main
from thinkgraph.graphs.linc import solve_sync
from thinkgraph.graphs.yaml_loader import load_workflow
from thinkgraph.llm.base import ChatRequest
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.testing import RecordingModel, ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FORMULAS = {
    "All men are mortal.": "∀x (Man(x) → Mortal(x))",
    "Socrates is a man.": "Man(socrates)",
    "Socrates is mortal.": "Mortal(socrates)",
    "All squirrels are rodents.": "∀x (Squirrel(x) → Rodent(x))",
    "All rodents are mammals.": "∀x (Rodent(x) → Mammal(x))",
    "Nutty is a squirrel.": "Squirrel(nutty)",
    "No mammal is a reptile.": "∀x (Mammal(x) → ¬Reptile(x))",
    "Nutty is a reptile.": "Reptile(nutty)",
}


def scripted() -> ScriptedModel:
    def answer(request: ChatRequest, i: int) -> str:
        last = request.messages[-1].content
        if "Sentence: " in last:
            return FORMULAS[last.split("Sentence: ")[-1]]
        return "Every man is mortal and Socrates is a man.\nAnswer: True"

    return ScriptedModel(answer)


def _timeless(value: Any) -> Any:
    """A dump without timings (a solver's seconds differ run to run)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    return bool(_timeless(a.model_dump(mode="json")) == _timeless(b.model_dump(mode="json")))


def problem() -> Problem:
    return Problem.model_validate_json((EXAMPLES / "problem.json").read_text(encoding="utf-8"))


def test_every_example_workflow_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    assert len(files) >= 4
    assert main(["workflow", "check", *files]) == 0
    assert capsys.readouterr().out.count(": ok (workflow") == len(files)


@pytest.mark.parametrize("name", ["linc", "cot", "auto", "ensemble"])
def test_example_yaml_run_by_the_cli_with_a_replay_gives_the_python_api_answer(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = tmp_path / "rec.jsonl"
    expected = solve_sync(problem(), RecordingModel(scripted(), recording), workflow=name)
    assert expected.value == "True"
    code = main(
        [
            "run",
            str(EXAMPLES / f"{name}.yaml"),
            "--input",
            str(EXAMPLES / "problem.json"),
            "--model",
            f"replay:{recording}",
            "--json",
            "-q",
        ]
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["ending"] == "answered"
    got = Answer.model_validate(out["output"])
    assert (got.value, got.status, got.evidence.votes) == (expected.value, expected.status, expected.evidence.votes)
    # the YAML file and the built-in workflow of the same name are the same graph
    again = load_workflow(EXAMPLES / f"{name}.yaml").compile().run_sync(problem(), model=f"replay:{recording}")
    assert same(again.output, expected) and same(got, expected)


def test_the_reviewed_example_pauses_and_resumes_from_the_cli_like_the_python_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = tmp_path / "rec.jsonl"
    compiled = load_workflow(EXAMPLES / "linc-reviewed.yaml").compile()
    db = tmp_path / "py.db"
    compiled.run_sync(problem(), model=RecordingModel(scripted(), recording), checkpoint=db, thread="p")
    expected = compiled.run_sync(None, model=scripted(), checkpoint=db, thread="p", resume={"approve": True}).output
    base = ["run", str(EXAMPLES / "linc-reviewed.yaml"), "--model", f"replay:{recording}", "-q"]
    cp = ["--checkpoint", str(tmp_path / "cli.db"), "--thread", "c"]
    assert main([*base, "--input", str(EXAMPLES / "problem.json"), *cp]) == 6
    capsys.readouterr()
    assert main([*base, *cp, "--resume", '{"approve": true}', "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert same(Answer.model_validate(out["output"]), expected)


def test_custom_node_example_runs_from_python_and_from_yaml() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import custom_node

        assert custom_node.main(scripted()) == ["True", "True"]
    finally:
        sys.path.remove(str(EXAMPLES))
        from thinkgraph.graphs.node import unregister

        unregister("demo.screen")


def test_readme_python_blocks_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every ```python block of the README runs; load_model gives a scripted model instead of the real one."""
    import thinkgraph.llm

    monkeypatch.setattr(thinkgraph.llm, "load_model", lambda spec="local", **kw: scripted())
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 3
    import types

    from thinkgraph.graphs.node import unregister

    try:
        for i, block in enumerate(blocks):
            module = types.ModuleType(f"readme_block_{i}")  # like a user's script: a real module
            sys.modules[module.__name__] = module
            try:
                exec(compile(block, "README.md", "exec"), module.__dict__)
            finally:
                del sys.modules[module.__name__]
    finally:
        for name in ("demo.screen", "my.screen"):
            unregister(name)
    assert "Traceback" not in capsys.readouterr().err


def test_readme_shell_commands_parse() -> None:
    from thinkgraph.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = re.findall(r"^\$? ?(?:[A-Z_]+=\S+ )*thinkgraph ([^\n#|>]+)", text, re.MULTILINE)
    assert len(commands) >= 5
    for cmd in commands:
        parser.parse_args(shlex.split(cmd))


def test_a_plugin_package_adds_nodes_through_the_entry_point_group(tmp_path: Path) -> None:
    (tmp_path / "tgplugin.py").write_text(
        textwrap.dedent(
            '''
            from typing import Literal
            from thinkgraph.graphs import node
            from thinkgraph.messages import Message, Problem

            class Shout(Message):
                kind: Literal["shout"] = "shout"
                text: str

            @node("tgplugin.shout")
            async def shout(problem: Problem) -> Shout:
                """Shout the conclusion."""
                return Shout(text=problem.conclusion.upper())
            '''
        ),
        encoding="utf-8",
    )
    dist = tmp_path / "tgplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tgplugin\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[thinkgraph.nodes]\ntgplugin = tgplugin\n", encoding="utf-8")
    (tmp_path / "wf.yaml").write_text("workflow: loud\nnodes:\n  shout: {use: tgplugin.shout}\n", encoding="utf-8")
    env: dict[str, Any] = {"PYTHONPATH": str(tmp_path)}
    import os

    env = {**os.environ, **env}
    cli = [sys.executable, "-m", "thinkgraph.cli"]
    nodes = subprocess.run([*cli, "nodes", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert "tgplugin.shout" in {n["name"] for n in json.loads(nodes.stdout)}
    ran = subprocess.run(
        [*cli, "run", str(tmp_path / "wf.yaml"), "--input", '{"premises": [], "conclusion": "hi"}', "--json", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1])["output"] == {"kind": "shout", "text": "HI"}
