"""Test support for the chat interface: a real ``thinkgraph serve`` process and model stubs behind it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from conftest import EXAMPLE_FORMULAS
from openai_stub import completion

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = json.loads((ROOT / "src/thinkgraph/data/example_problem.json").read_text())

HOSTILE = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> '
    '[click me](javascript:window.__pwned=3) <a href="javascript:window.__pwned=4">link</a> '
    '**bold** <b onmouseover="window.__pwned=5">hover</b> <iframe src="javascript:window.__pwned=6"></iframe> '
    '<svg onload="window.__pwned=7"></svg> ![x](x onerror=window.__pwned=8)'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def linc_handler(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """Translates the example problem's sentences (as the project's translator prompt asks)."""
    sentence = str(body["messages"][-1]["content"]).split("Sentence: ")[-1]
    formula = {**EXAMPLE_FORMULAS, "Nutty is a cat.": "Cat(nutty)"}.get(sentence, "Reptile(nutty)")
    return 200, {}, completion([formula] * int(body.get("n") or 1))


def hostile_handler(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """A model whose every reply is hostile markup, ending with a chain-of-thought answer line."""
    return 200, {}, completion([f"{HOSTILE}\nAnswer: True"] * int(body.get("n") or 1))


_SERVE = (sys.executable, "-m", "thinkgraph.cli", "serve")


class Server:
    """``thinkgraph serve`` in a subprocess on a free loopback port; ``stop()`` ends it with SIGINT."""

    def __init__(self, store: Path, *extra: str, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.port = port or free_port()
        self.host = host
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*_SERVE, "--host", host, "--port", str(self.port), "--store", str(store), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.stop()}")
            try:
                httpx.get(self.base + "/api/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is None:
            return ""
        with self.proc.stderr:
            return self.proc.stderr.read()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sse(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], Any]:
    """Read a whole SSE stream: the trace events (with their ids), then the ``end`` event's data."""
    events: list[dict[str, Any]] = []
    end = None
    kind, data, ident = "message", [], None
    with client.stream("GET", url, headers=headers, timeout=60) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line.startswith("id:"):
                ident = int(line[3:].strip())
            elif line == "":
                if data:
                    payload = json.loads("\n".join(data))
                    if kind == "end":
                        end = payload
                        break
                    events.append({"id": ident, **payload})
                kind, data, ident = "message", [], None
    return events, end


QUESTION = {"text": "Tom has 3 apples and buys 4 more. How many apples does he have now?"}
_STEPS = (
    ("Tom starts with 3 apples.", "He has 3 apples at first.", "Tom buys 4 apples."),
    ("He buys 4 more, so 3 + 4.", "Adding the 4 he buys: 3 + 4 = 7.", "4 - 3 = 1."),
    ("3 + 4 = 7.", "Answer: 7", "So he has 7 apples."),
    ("Answer: 7", "Answer: 7", "Answer: 1"),
)


def arithmetic_handler(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """A small 'model' for step-by-step search over the apples question: varied next steps (one per sample),
    and Yes/No self-evaluations that like correct arithmetic."""
    prompt = str(body["messages"][-1]["content"])
    n = int(body.get("n") or 1)
    if "Reply with Yes or No" in prompt:
        wrong = "4 - 3" in prompt or "Answer: 1" in prompt
        return 200, {}, completion([("No" if wrong or i % 3 == 2 else "Yes") for i in range(n)])
    so_far = prompt.split("Steps so far:", 1)[1] if "Steps so far:" in prompt else ""
    done = sum(1 for line in so_far.splitlines() if line[:1].isdigit())
    options = _STEPS[min(max(done, 0), len(_STEPS) - 1)]
    seed = int(body.get("seed") or 0)
    return 200, {}, completion([options[(seed + i) % len(options)] for i in range(n)])
