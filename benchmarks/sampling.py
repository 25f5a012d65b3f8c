"""Parallel sampling, first-request set-up and the sample cache, against a loopback OpenAI-compatible server that
answers after 200 ms (asyncio, keep-alive, in its own process; ``GET /count`` says how many requests it served).

Each figure is measured by the run's own clock — the trace a ``thinkgraph ask`` run writes (its model call's
seconds; ``*_run_ratio``: the whole run's seconds) or ``time.perf_counter`` around ``model.chat`` — as a ratio to
the same thing with one sample (target ≤ 1.3), the best of ``--repeat`` runs:

* ``ask_split_ratio``: ``thinkgraph ask --example --workflow cot -k 32 --model openai:m@URL#native_n=off``
  (32 parallel requests, as for llama.cpp) against ``-k 1``;
* ``ask_native_ratio``: the same with ``#native_n=on`` (``n=32`` in one request, as for vLLM or OpenAI);
* ``api_split_ratio`` / ``api_native_ratio``: ``await model.chat(n=32)`` in one process (Python API);
* ``first_request_overhead_s``: a fresh process's first request minus its second (plain-http client), and
  ``sdk_first_request_overhead_s`` the same through the ``openai`` SDK (``#client=sdk``);
* ``warm_cache_requests``: requests the server saw while the ``-k 32`` command ran again with ``--cache``
  (target 0), ``api_warm_cache_requests`` the same through ``load_model(..., cache=PATH)``.

    python benchmarks/sampling.py [--samples 32] [--delay 0.2] [--repeat 3]

Last line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SERVER = r"""
import asyncio, json, sys
delay = float(sys.argv[1])
served = 0

async def handle(reader, writer):
    global served
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            raw = await reader.readexactly(length) if length else b""
            if head.startswith(b"GET /count"):
                out = json.dumps({"requests": served}).encode()
            else:
                served += 1
                body = json.loads(raw or b"{}")
                await asyncio.sleep(delay)
                n, seed = int(body.get("n") or 1), body.get("seed")
                out = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": i, "message": {"role": "assistant",
                                 "content": f"Reasoning {seed}:{i}.\nAnswer: False"}, "finish_reason": "stop"}
                                for i in range(n)],
                    "usage": {"prompt_tokens": 60, "completion_tokens": 5 * n, "total_tokens": 60 + 5 * n}}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                         + str(len(out)).encode() + b"\r\n\r\n" + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

FIRST_REQUEST = r"""
import asyncio, json, sys, time
from thinkgraph.llm import ChatRequest, load_model

model = load_model(sys.argv[1])

async def go():
    r = ChatRequest.of([("user", "hi")], max_tokens=16)
    a = time.perf_counter(); await model.chat(r)
    b = time.perf_counter(); await model.chat(r)
    c = time.perf_counter()
    await model.aclose()
    print(json.dumps({"first": b - a, "second": c - b, "openai_imported": "openai" in sys.modules}))

asyncio.run(go())
"""

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "THINKGRAPH_BLOCK_REMOTE": "1"}


def served(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/count", timeout=10) as resp:
        return int(json.loads(resp.read())["requests"])


def ask(spec: str, samples: int, trace: Path, cache: Path | None = None) -> dict[str, float]:
    """One ``thinkgraph ask`` process; its model call's seconds and its run's seconds, from its trace."""
    cmd = [sys.executable, "-m", "thinkgraph.cli", "ask", "--example", "--workflow", "cot", "-k", str(samples)]
    cmd += ["--model", spec, "--trace", str(trace), "-q", *(["--cache", str(cache)] if cache else [])]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    events = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines() if line.strip()]
    calls = [e for e in events if e["kind"] == "model_response"]
    run = [e for e in events if e["kind"] == "run_finished"]
    assert len(calls) == 1 and not calls[0]["error"] and len(calls[0]["texts"]) == samples, calls
    return {"call_s": calls[0]["seconds"], "run_s": run[0]["seconds"]}


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: min(r[k] for r in runs) for k in runs[0]}


def through_cli(url: str, samples: int, repeat: int, tmp: Path) -> dict[str, Any]:
    spec = f"openai:m@{url}"
    one = best([ask(spec, 1, tmp / f"one{i}.jsonl") for i in range(repeat)])
    split = best([ask(f"{spec}#native_n=off", samples, tmp / f"split{i}.jsonl") for i in range(repeat)])
    native = best([ask(f"{spec}#native_n=on", samples, tmp / f"native{i}.jsonl") for i in range(repeat)])
    cache = tmp / "cache.sqlite"
    ask(spec, samples, tmp / "cold.jsonl", cache)
    before = served(url)
    warm = ask(spec, samples, tmp / "warm.jsonl", cache)
    return {
        "ask_one_request_s": round(one["call_s"], 4),
        "ask_split_s": round(split["call_s"], 4),
        "ask_native_s": round(native["call_s"], 4),
        "ask_split_ratio": round(split["call_s"] / one["call_s"], 3),
        "ask_native_ratio": round(native["call_s"] / one["call_s"], 3),
        "ask_split_run_ratio": round(split["run_s"] / one["run_s"], 3),
        "ask_native_run_ratio": round(native["run_s"] / one["run_s"], 3),
        "warm_cache_requests": served(url) - before,
        "warm_cache_call_s": round(warm["call_s"], 4),
    }


async def through_api(url: str, samples: int, repeat: int, tmp: Path) -> dict[str, Any]:
    from thinkgraph.llm import ChatRequest, load_model

    async def timed(model: Any, request: ChatRequest) -> float:
        start = time.perf_counter()
        resp = await model.chat(request)
        assert len(resp.choices) == request.n
        return time.perf_counter() - start

    one = ChatRequest.of([("user", "one")], max_tokens=16)
    many = ChatRequest.of([("user", "many")], n=samples, temperature=0.7, seed=0, max_tokens=16)
    out: dict[str, Any] = {}
    for mode in ("split", "native"):
        model = load_model(f"openai:m@{url}#native_n={'off' if mode == 'split' else 'on'}")
        await model.chat(one)  # set-up: connections
        one_s = min([await timed(model, one) for _ in range(repeat)])
        many_s = min([await timed(model, many) for _ in range(repeat)])
        await model.aclose()
        out[f"api_{mode}_ratio"] = round(many_s / one_s, 3)
    cache = tmp / "api-cache.sqlite"
    for _ in range(2):
        model = load_model(f"openai:m@{url}", cache=cache)
        before = served(url)
        await model.chat(many)
        await model.aclose()
    out["api_warm_cache_requests"] = served(url) - before
    return out


def first_request(url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, spec in (("", f"openai:m@{url}"), ("sdk_", f"openai:m@{url}#client=sdk")):
        done = subprocess.run(
            [sys.executable, "-c", FIRST_REQUEST, spec], env=ENV, capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        out[f"{label}first_request_s"] = round(figures["first"], 4)
        out[f"{label}second_request_s"] = round(figures["second"], 4)
        out[f"{label}first_request_overhead_s"] = round(figures["first"] - figures["second"], 4)
        out[f"{label}openai_imported"] = figures["openai_imported"]
    return out


def main(samples: int, delay: float, repeat: int) -> dict[str, Any]:
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(delay)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/v1"
        with tempfile.TemporaryDirectory() as tmp:
            figures: dict[str, Any] = {"samples": samples, "delay_s": delay, "repeat": repeat}
            figures.update(through_cli(url, samples, repeat, Path(tmp)))
            figures.update(asyncio.run(through_api(url, samples, repeat, Path(tmp))))
            figures.update(first_request(url))
    finally:
        server.kill()
        server.wait()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3)
    a = parser.parse_args()
    f = main(a.samples, a.delay, a.repeat)
    print(
        f"{f['samples']} samples / one request, by the run's clock: split {f['ask_split_ratio']}x, "
        f"n in one request {f['ask_native_ratio']}x (thinkgraph ask); API: split {f['api_split_ratio']}x, "
        f"n {f['api_native_ratio']}x; first request pays {f['first_request_overhead_s']} s of set-up "
        f"(SDK: {f['sdk_first_request_overhead_s']} s); warm-cache rerun sent {f['warm_cache_requests']} requests"
    )
    print(json.dumps(f))
