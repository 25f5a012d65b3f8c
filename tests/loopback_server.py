"""An asyncio HTTP/1.1 server on loopback (keep-alive, concurrent) that speaks the OpenAI chat-completions
protocol, for the tests of sampling, the cache and the HTTP client.  It runs its loop in a thread.

``LoopbackServer(handler, delay_s=0.0, chunked=False)``: ``handler(body) -> (status, headers, payload)``
(default: :func:`openai_stub.fake_server`, which honours ``n`` and seeds).  It counts ``requests``,
``connections`` opened and the most requests ``in_flight`` at once (``peak``), and keeps the ``bodies``.
``chunked=True`` answers with ``Transfer-Encoding: chunked``.  ``drop_idle()`` closes every idle keep-alive
connection (a server restarting, a proxy timing out).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from openai_stub import Reply, fake_server


class LoopbackServer:
    def __init__(
        self,
        handler: Callable[[dict[str, Any]], Reply] | None = None,
        *,
        delay_s: float = 0.0,
        chunked: bool = False,
    ) -> None:
        self.handler = handler or fake_server
        self.delay_s = delay_s
        self.chunked = chunked
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.connections = 0
        self.in_flight = 0
        self.peak = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512))
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                raw = await reader.readexactly(length) if length else b""
                if method == "POST":
                    body = json.loads(raw or b"{}")
                    self.requests += 1
                    self.bodies.append(body)
                    self.in_flight += 1
                    self.peak = max(self.peak, self.in_flight)
                    try:
                        await asyncio.sleep(self.delay_s)
                        status, headers, payload = self.handler(body)
                    finally:
                        self.in_flight -= 1
                else:
                    status, headers, payload = 200, {}, {"path": path}
                data = json.dumps(payload).encode()
                out = [f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n".encode()]
                out += [f"{k}: {v}\r\n".encode() for k, v in headers.items()]
                if self.chunked:
                    half = len(data) // 2
                    out.append(b"transfer-encoding: chunked\r\n\r\n")
                    for part in (data[:half], data[half:]):
                        if part:
                            out.append(f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n")
                    out.append(b"0\r\nx-trailer: 1\r\n\r\n")
                else:
                    out.append(f"content-length: {len(data)}\r\n\r\n".encode() + data)
                writer.write(b"".join(out))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def drop_idle(self) -> None:
        """Close every connection that is not busy with a request (they are all idle between test calls)."""

        def close() -> None:
            for w in list(self._writers):
                w.close()

        self._loop.call_soon_threadsafe(close)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
