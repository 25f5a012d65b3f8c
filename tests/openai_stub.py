"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol (for tests).

``OpenAIStub(handler)`` answers every request with ``handler(body) -> (status, headers, payload)``;
``OpenAIStub()`` (no handler) is :func:`fake_server`, a small conforming fake model: it honours ``n``,
``temperature`` (distinct samples above 0), ``seed``, ``max_tokens``, ``stop``, a JSON-schema
``response_format``, a GBNF ``grammar`` made of quoted alternatives and ``logprobs``, and reports usage.

``stub.queue(reply, ...)`` makes the next requests get canned replies (errors, broken bodies) before
the handler answers again.  A payload is a JSON-able dict, or a :class:`RawBody` for bytes that are not
JSON, a wrong content type, or a body cut off mid-transfer.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from thinkgraph.testing import apply_limits, count_tokens


@dataclass(frozen=True)
class RawBody:
    """Bytes sent as they are.  ``declared_length`` larger than ``data``: the connection closes mid-body."""

    data: bytes
    content_type: str = "application/json"
    declared_length: int | None = None


Payload = dict[str, Any] | RawBody
Reply = tuple[int, dict[str, str], Payload]


def completion(texts: list[str], prompt_tokens: int = 7, model: str = "stub") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 3 * len(texts),
            "total_tokens": prompt_tokens + 3 * len(texts),
        },
    }


def error(status: int, message: str, type_: str = "invalid_request_error", **extra: Any) -> Reply:
    headers = {k.replace("_", "-"): str(v) for k, v in extra.pop("headers", {}).items()}
    return status, headers, {"error": {"message": message, "type": type_, **extra}}


# ----------------------------------------------------------------------------- a conforming fake model


def _from_schema(schema: dict[str, Any], rng: random.Random) -> Any:
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type", "string")
    if kind == "object":
        return {k: _from_schema(v, rng) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_from_schema(schema.get("items") or {}, rng)]
    if kind == "integer":
        return rng.randint(0, 99)
    if kind == "number":
        return rng.random()
    if kind == "boolean":
        return rng.random() < 0.5
    return f"s{rng.getrandbits(24):06x}"


def fake_text(
    prompt: str,
    *,
    index: int = 0,
    temperature: float = 0.0,
    seed: int | None = None,
    response_format: dict[str, Any] | None = None,
    grammar: str | None = None,
) -> str:
    """What the fake model says for sample ``index``: the prompt echoed (plus a random tail above temperature 0),
    one of a grammar's quoted alternatives, or a JSON value of the requested schema.  A seed makes it
    reproducible; ``seed + index`` is the sample's seed, so parallel and native ``n`` agree."""
    rng = random.Random(seed + index) if seed is not None else random.Random()
    if temperature == 0.0:
        rng = random.Random(0)
    if grammar is not None:
        alternatives = re.findall(r'"((?:[^"\\]|\\.)*)"', grammar) or [""]
        return rng.choice(alternatives) if temperature > 0 else alternatives[0]
    if response_format is not None:
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
            return json.dumps(_from_schema(schema, rng))
        return json.dumps({"text": prompt[:40]})
    if temperature > 0:
        return f"{prompt} ~{rng.getrandbits(40):010x}"
    return prompt


def fake_logprobs(text: str, top: int) -> dict[str, Any]:
    content = []
    for tok in text.split():
        alts = [{"token": tok, "logprob": -0.25, "bytes": None}]
        alts += [{"token": f"{tok}{j}", "logprob": -2.0 - j, "bytes": None} for j in range(1, top)]
        content.append({"token": tok, "logprob": -0.25, "bytes": None, "top_logprobs": alts[:top]})
    return {"content": content, "refusal": None}


def fake_server(body: dict[str, Any]) -> Reply:
    """The fake model behind an OpenAI-compatible endpoint (see the module docstring)."""
    messages = body.get("messages") or []
    prompt = str(messages[-1].get("content", "")) if messages else ""
    choices = []
    completion_tokens = 0
    stop = body.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(stop)
    for i in range(int(body.get("n") or 1)):
        text = fake_text(
            prompt,
            index=i,
            temperature=float(body.get("temperature", 1.0)),
            seed=body.get("seed"),
            response_format=body.get("response_format"),
            grammar=body.get("grammar"),
        )
        text, finish = apply_limits(text, stop, int(body.get("max_tokens") or 1 << 30))
        completion_tokens += count_tokens(text)
        choice: dict[str, Any] = {
            "index": i,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
        }
        if body.get("logprobs"):
            choice["logprobs"] = fake_logprobs(text, int(body.get("top_logprobs") or 0))
        choices.append(choice)
    prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in messages)
    return (
        200,
        {},
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


# ----------------------------------------------------------------------------- the server


class OpenAIStub:
    """``handler(body) -> (status, headers, payload)`` decides each reply; requests are kept in ``bodies``."""

    def __init__(self, handler: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.handler = handler or fake_server
        self.bodies: list[dict[str, Any]] = []
        self._queued: list[Reply] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.bodies.append(body)
                    queued = stub._queued.pop(0) if stub._queued else None
                status, headers, payload = queued or stub.handler(body)
                if isinstance(payload, RawBody):
                    data, content_type, declared = payload.data, payload.content_type, payload.declared_length
                else:
                    data, content_type, declared = json.dumps(payload).encode(), "application/json", None
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(declared if declared is not None else len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                if declared is not None and declared > len(data):
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # a client killed mid-request (the SIGKILL tests) breaks the pipe: not worth a traceback on stderr
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def queue(self, *replies: Reply) -> None:
        """The next ``len(replies)`` requests get these replies, in order, whatever the handler says."""
        with self._lock:
            self._queued.extend(replies)

    def reset(self, handler: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        with self._lock:
            self._queued.clear()
            self.bodies.clear()
            self.handler = handler or fake_server

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> OpenAIStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
