from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_stays_light() -> None:
    code = (
        "import sys, thinkgraph\n"
        "heavy = [m for m in ('z3', 'langgraph', 'openai', 'xllamacpp', 'litellm', 'tenacity') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_readme_python_snippets_that_need_no_model_run() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    runnable = [b for b in blocks if "load_model(" not in b]
    assert runnable, "the README should show model-free code"
    for block in runnable:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_commands_name_real_extras_and_cli() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for extra in re.findall(r"pip install -e '\.\[([a-z,-]+)\]'", text):
        for name in extra.split(","):
            assert f"\n{name} = [" in pyproject, name
    from thinkgraph.cli import build_parser

    parser = build_parser()
    parser.parse_args(["ask", "--example"])
    parser.parse_args(["fol", "check", "x.jsonl", "--json"])


def test_workflow_overhead_benchmark_runs_and_prints_its_figures() -> None:
    import json

    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "workflow_overhead.py"), "--runs", "20"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert {"overhead_ratio", "solve_overhead_ratio", "linc_overhead_ratio"} <= set(figures)
    assert all(figures[k] > 0 for k in ("overhead_ratio", "solve_overhead_ratio", "linc_overhead_ratio"))
