"""First-request set-up: a plain-http server is reached without importing the ``openai`` SDK (its ~1 s import and
client set-up were paid by the first request of every process); the SDK, where it is needed, is imported in the
background when the model is loaded; ``benchmarks/sampling.py`` runs and prints its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "THINKGRAPH_BLOCK_REMOTE": "1"}


def python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_plain_http_server_needs_no_sdk_import() -> None:
    code = (
        "import asyncio, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from loopback_server import LoopbackServer\n"
        "from thinkgraph.llm import ChatRequest, load_model\n"
        "with LoopbackServer() as server:\n"
        "    model = load_model(f'openai:m@{server.base_url}')\n"
        "    asyncio.run(model.chat(ChatRequest.of([('user', 'hi')], n=3, temperature=0.5)))\n"
        "print(sorted(m for m in ('openai', 'httpx') if m in sys.modules))\n"
    )
    assert python(code, str(ROOT / "tests")) == "[]"


def test_the_sdk_is_imported_in_the_background_when_the_model_is_loaded() -> None:
    code = (
        "import sys, threading\n"
        "from thinkgraph.llm import load_model\n"
        "model = load_model('openai:gpt-4o-mini')\n"
        "loading = [t for t in threading.enumerate() if t.name == 'thinkgraph-openai-import']\n"
        "for t in loading: t.join(60)\n"
        "cold = load_model('openai:gpt-4o-mini', warmup=False)\n"
        "print(len(loading), 'openai' in sys.modules)\n"
    )
    assert python(code) == "1 True"
    lazy = "import sys\nfrom thinkgraph.llm import load_model\nload_model('openai:gpt-4o-mini', warmup=False)\n"
    assert python(lazy + "print('openai' in sys.modules)") == "False"


def test_sampling_benchmark_runs_and_prints_its_figures() -> None:
    bench = str(ROOT / "benchmarks" / "sampling.py")
    done = subprocess.run(
        [sys.executable, bench, "--samples", "4", "--delay", "0.05", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("ask_split_ratio", "ask_native_ratio", "api_split_ratio", "api_native_ratio"):
        assert figures[key] > 0
    assert figures["warm_cache_requests"] == 0 and figures["api_warm_cache_requests"] == 0
    assert figures["openai_imported"] is False and figures["first_request_overhead_s"] < 0.5
