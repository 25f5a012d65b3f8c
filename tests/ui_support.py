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
