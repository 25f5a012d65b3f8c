"""Evaluation throughput: 200 problems against a loopback OpenAI-compatible server that answers after
200 ms, 16 at a time.  The ideal wall time is 200 × 0.2 s / 16 = 2.5 s; the figure is the measured
wall time as a ratio to it (target ≤ 1.5).  The server (asyncio, keep-alive) runs in its own process so
it does not share this process's interpreter lock.

    python benchmarks/eval_throughput.py [--problems 200] [--concurrency 16] [--delay 0.2]

Last line: JSON with ``throughput_ratio``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SERVER = r"""
import asyncio, json, sys
delay = float(sys.argv[1])

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length) or b"{}")
            await asyncio.sleep(delay)
            n = int(body.get("n") or 1)
            out = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": i, "message": {"role": "assistant", "content": "Answer: True"},
                             "finish_reason": "stop"} for i in range(n)],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2 * n, "total_tokens": 10 + 2 * n}}).encode()
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


def main(problems: int, concurrency: int, delay: float) -> dict[str, float]:
    import openai  # noqa: F401  (the SDK's import is a one-time cost of the process, not of the run)

    from thinkgraph.evals.items import EvalItem, LoadReport
    from thinkgraph.evals.runner import evaluate
    from thinkgraph.graphs.library import resolve
    from thinkgraph.llm import load_model
    from thinkgraph.llm.managed import ManagedModel
    from thinkgraph.logic.records import Problem

    server = subprocess.Popen([sys.executable, "-c", SERVER, str(delay)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data.json"
            data.write_text("[]", encoding="utf-8")
            items = tuple(
                EvalItem(
                    id=f"p{i}",
                    dataset="synthetic",
                    line=i + 1,
                    input=Problem(
                        id=f"p{i}", premises=(f"Fact {i}.",), conclusion=f"Claim {i}.", gold="True"
                    ).model_dump(mode="json"),
                    gold="True",
                )
                for i in range(problems)
            )
            report = LoadReport(dataset="synthetic", path=str(data), items=items)
            model = ManagedModel(
                load_model(f"openai:m@http://127.0.0.1:{port}/v1", api_key="x"), max_concurrency=concurrency
            )
            # warm up: the SDK builds its request and response types on first use (a one-time cost)
            warm = LoadReport(dataset="synthetic", path=str(data), items=items[:concurrency])
            evaluate(
                warm, resolve("cot"), model, "stub", Path(tmp) / "warm.db", concurrency=concurrency,
                progress=False, say=lambda s: None, close_model=False,
            )  # fmt: skip
            start = time.perf_counter()
            summary = evaluate(
                report, resolve("cot"), model, "stub", Path(tmp) / "run.db", concurrency=concurrency,
                progress=False, say=lambda s: None,
            )  # fmt: skip
            wall = time.perf_counter() - start
    finally:
        server.kill()
        server.wait()
    ideal = problems * delay / concurrency
    assert summary["problems"] == problems and summary["correct"] == problems
    return {
        "problems": problems,
        "concurrency": concurrency,
        "delay_s": delay,
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "throughput_ratio": round(wall / ideal, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2)
    a = parser.parse_args()
    figures = main(a.problems, a.concurrency, a.delay)
    print(f"{figures['problems']} problems in {figures['wall_s']} s (ideal {figures['ideal_s']} s)")
    print(json.dumps(figures))
