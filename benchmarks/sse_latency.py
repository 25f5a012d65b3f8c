"""Streaming cost of the chat interface: from a trace event being emitted to it arriving at an SSE client.

A node emits ``--events`` trace events (default 1,000), one every ``--interval-ms``; the app
(``thinkgraph.ui.server``, real uvicorn on loopback, in a thread of this process) stores each one and
streams it to a client in a **separate process** reading ``GET /api/runs/{id}/events``.  Latency is the
client's arrival clock minus the event's emission stamp (one machine, one wall clock).  The baseline, in
the same command: the same workflow run directly, its events read from the run's own live stream in
process (``CompiledWorkflow.astream``) — what an in-process consumer pays.

    python benchmarks/sse_latency.py [--events 1000] [--interval-ms 2]

Last line: JSON with the SSE median / p99 latency in ms, the in-process baseline's, and
``sse_over_inprocess_ratio`` (median over median).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.messages import Message, Note, Problem

WORKFLOW = """\
workflow: emit
input: problem
output: bench_done
nodes:
  emit: {use: bench.emit, with: {events: %d, interval_ms: %g}}
"""

CLIENT = r"""
import json, sys, time
import httpx
url = sys.argv[1]
out = []
with httpx.Client(timeout=120) as c:
    run = c.post(url + "/api/runs", json={"workflow": "emit", "input": json.loads(sys.argv[2])}).json()
    with c.stream("GET", f"{url}/api/runs/{run['run_id']}/events") as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                now = time.time()
                e = json.loads(line[5:])
                if e.get("kind") == "note":
                    out.append(now - e["at"])
            elif line.startswith("event: end"):
                break
print(json.dumps(out))
"""


class BenchDone(Message):
    kind: Literal["bench_done"] = "bench_done"
    events: int


class EmitParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    events: int = Field(default=1000, ge=1)
    interval_ms: float = Field(default=2.0, ge=0)


@node("bench.emit", params=EmitParams)
async def emit(ctx: NodeContext, problem: Problem, params: EmitParams) -> BenchDone:
    """Emit ``events`` notes, ``interval_ms`` apart."""
    for i in range(params.events):
        ctx.tracer.emit(Note(text=f"event {i}"))
        if params.interval_ms:
            await asyncio.sleep(params.interval_ms / 1000)
    return BenchDone(events=params.events)


PROBLEM = {"premises": ["A."], "conclusion": "B."}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(latencies: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    return {
        "median_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 3),
        "max_ms": round(ms[-1], 3),
    }


def sse_latencies(folder: Path, events: int) -> list[float]:
    import uvicorn

    from thinkgraph.ui.runs import RunManager
    from thinkgraph.ui.server import create_app
    from thinkgraph.ui.store import UIStore

    port = _free_port()
    app = create_app(
        lambda: RunManager(UIStore(folder / "ui.sqlite"), models=["local"], workflow_dirs=[folder]), port=port
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, f"http://127.0.0.1:{port}", json.dumps(PROBLEM)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    finally:
        server.should_exit = True
        thread.join(30)
    latencies: list[float] = json.loads(out.stdout)
    if len(latencies) != events:
        raise SystemExit(f"the client saw {len(latencies)} of {events} events")
    return latencies


async def inprocess_latencies(path: Path) -> list[float]:
    from thinkgraph.graphs.yaml_loader import load_workflow

    compiled = load_workflow(path).compile()
    out: list[float] = []
    async for item in compiled.astream(PROBLEM):
        if isinstance(item, Note):
            out.append(time.time() - item.at)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--interval-ms", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "emit.yaml"
        path.write_text(WORKFLOW % (args.events, args.interval_ms))
        direct = asyncio.run(inprocess_latencies(path))
        sse = sse_latencies(folder, args.events)
    s, d = _stats(sse), _stats(direct)
    print(f"SSE to a client process: median {s['median_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms")
    print(f"in-process live stream:  median {d['median_ms']} ms, p99 {d['p99_ms']} ms, max {d['max_ms']} ms")
    result = {
        "events": args.events,
        "interval_ms": args.interval_ms,
        "sse_median_ms": s["median_ms"],
        "sse_p99_ms": s["p99_ms"],
        "inprocess_median_ms": d["median_ms"],
        "inprocess_p99_ms": d["p99_ms"],
        "sse_over_inprocess_ratio": round(s["median_ms"] / max(d["median_ms"], 1e-6), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
