"""``vllm:MODEL``: a vLLM server this process starts, uses and stops; ``vllm:MODEL@URL``: one already running.

Managed (``vllm:Qwen/Qwen2.5-7B-Instruct``): when the model is loaded, ``vllm serve MODEL --host 127.0.0.1
--port P --enable-prefix-caching`` starts in its own process group on a free loopback port (extra arguments:
``args=`` or ``THINKGRAPH_VLLM_ARGS``, e.g. ``--max-model-len 8192``); the first call waits until
``GET /health`` answers (``startup_timeout_s``, default 900 s: a first start downloads and compiles).  A server
that exits early, or never gets healthy, is a :class:`~thinkgraph.llm.base.ModelUnavailable` quoting the last
lines of its log.  ``aclose()`` — and, failing that, interpreter exit — stops it: SIGTERM to the group, SIGKILL
after ``stop_grace_s``.

Either way requests go to vLLM's OpenAI-compatible API with ``n`` in one request (vLLM samples them in one
batch, and prefix caching shares the prompt's KV cache between them and across calls) and a GBNF grammar in
``structured_outputs.grammar`` (``grammar_field="guided_grammar"`` for vLLM before 0.10).

vLLM needs an NVIDIA GPU (``pip install vllm`` on a CUDA machine).  From a machine without one, run the server on
the GPU machine (``vllm serve MODEL --enable-prefix-caching``) and attach: ``vllm:MODEL@http://GPU-HOST:8000/v1``.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from thinkgraph.llm._http import HttpError, HttpPool
from thinkgraph.llm.base import ChatRequest, ChatResponse, ModelUnavailable
from thinkgraph.llm.remote import OpenAIModel

INSTALL_HINT = (
    "vllm:MODEL starts a vLLM server, and no `vllm` executable is on PATH: `pip install vllm` on a machine with an "
    "NVIDIA GPU (vLLM needs CUDA; it does not run on a CPU-only machine), or start `vllm serve MODEL` on a GPU "
    "machine and attach to it with vllm:MODEL@http://HOST:PORT/v1"
)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class VLLMServer:
    """One ``vllm serve`` subprocess: :meth:`start` (non-blocking), :meth:`wait_healthy`, :meth:`stop`."""

    def __init__(
        self,
        model: str,
        *,
        executable: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        args: Sequence[str] = (),
        startup_timeout_s: float = 900.0,
        stop_grace_s: float = 15.0,
        env: dict[str, str] | None = None,
    ) -> None:
        found = executable or shutil.which("vllm")
        if not found:
            raise ModelUnavailable(INSTALL_HINT)
        self.executable = found
        self.model = model
        self.host = host
        self.port = port or free_port(host)
        self.args = tuple(args)
        self.startup_timeout_s = startup_timeout_s
        self.stop_grace_s = stop_grace_s
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._healthy = False
        self._failed: ModelUnavailable | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def command(self) -> list[str]:
        return [
            self.executable,
            "serve",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--enable-prefix-caching",
            *self.args,
        ]

    def start(self) -> None:
        """Start the server process (once); returns at once."""
        with self._lock:
            if self.process is not None:
                return
            fd, log = tempfile.mkstemp(prefix="thinkgraph-vllm-", suffix=".log")
            self.log_path = Path(log)
            try:
                self.process = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=fd,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop() takes its workers along
                    env={**os.environ, **(self.env or {})},
                )
            except OSError as exc:
                raise ModelUnavailable(f"could not start {self.executable}: {exc}") from exc
            finally:
                os.close(fd)
            _RUNNING.add(self)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server wrote (stdout and stderr)."""
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def _failure(self, what: str) -> ModelUnavailable:
        tail = self.log_tail()
        shown = "\n".join("    " + line for line in tail.splitlines()) if tail else "    (it wrote nothing)"
        return ModelUnavailable(f"vllm serve {self.model}: {what}; its last output (log {self.log_path}):\n{shown}")

    async def wait_healthy(self, poll_s: float = 0.25) -> None:
        """Start if needed, then wait until ``GET /health`` (or, where a server lacks it, ``GET /v1/models``)
        answers 200.  An early exit or the timeout raises :class:`ModelUnavailable`, stops what is left of the
        server, and every later call raises the same error."""
        if self._healthy:
            return
        if self._failed is not None:
            raise self._failed
        self.start()
        pool = HttpPool(self.url, timeout_s=5.0, max_idle=1)
        deadline = time.monotonic() + self.startup_timeout_s
        try:
            while not self._healthy:
                proc = self.process
                if self._failed is not None or proc is None:
                    raise self._failed or ModelUnavailable(f"vllm serve {self.model}: stopped while starting")
                code = proc.poll()
                if code is not None:
                    await self._fail(f"the server exited with code {code} before it was healthy")
                elif await _answers(pool):
                    self._healthy = True
                elif time.monotonic() > deadline:
                    await self._fail(f"not healthy after {self.startup_timeout_s:g} s (GET {self.url}/health)")
                else:
                    await asyncio.sleep(poll_s)
        finally:
            await pool.aclose()

    async def _fail(self, what: str) -> None:
        failure = self._failed = self._failure(what)
        await asyncio.to_thread(self.stop)
        raise failure

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``stop_grace_s``; waits for it to go."""
        with self._lock:
            proc, self.process = self.process, None
            self._healthy = False
        _RUNNING.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(self.stop_grace_s)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc.pid, signal.SIGKILL)  # whatever is left of the group (workers that ignored SIGTERM)
        proc.wait()
        if self.log_path is not None and proc.returncode in (0, -signal.SIGTERM, -signal.SIGKILL):
            self.log_path.unlink(missing_ok=True)


async def _answers(pool: HttpPool) -> bool:
    for path in ("/health", "/v1/models"):
        try:
            status = (await pool.request("GET", path)).status
        except (HttpError, TimeoutError):
            return False  # not listening yet
        if status != 404:
            return status == 200
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


#: servers started and not stopped yet (held strongly: a process must not outlive the interpreter)
_RUNNING: set[VLLMServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


class VLLMModel(OpenAIModel):
    """``vllm:MODEL`` (a managed server; see the module docstring) or ``vllm:MODEL@URL`` (attach).

    ``n`` always goes in one request.  Keyword arguments other than the server's (``args``, ``executable``,
    ``port``, ``startup_timeout_s``, ``stop_grace_s``, ``env``) go to :class:`~thinkgraph.llm.remote.OpenAIModel`.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        args: Sequence[str] | None = None,
        executable: str | None = None,
        port: int | None = None,
        startup_timeout_s: float = 900.0,
        stop_grace_s: float = 15.0,
        env: dict[str, str] | None = None,
        grammar_field: str | None = "structured_outputs.grammar",
        capabilities: Iterable[str] | None = None,
        **options: Any,
    ) -> None:
        self.server: VLLMServer | None = None
        if base_url is None:
            extra = shlex.split(os.environ.get("THINKGRAPH_VLLM_ARGS", "")) if args is None else list(args)
            self.server = VLLMServer(
                model,
                executable=executable,
                port=port,
                args=extra,
                startup_timeout_s=startup_timeout_s,
                stop_grace_s=stop_grace_s,
                env=env,
            )
            url = f"{self.server.url}/v1"
        else:
            url = base_url
        options.setdefault("native_n", True)
        super().__init__(model, url, grammar_field=grammar_field, capabilities=capabilities, **options)
        self.name = f"vllm:{model}" + (f"@{base_url}" if base_url else "")
        #: the cache's name for this model: a managed server's port changes from run to run, the model does not
        self.cache_id = f"vllm:{model}"

    def warmup(self) -> None:
        """Start the managed server now (its start-up overlaps whatever the caller does before the first call)."""
        if self.server is not None:
            self.server.start()

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if self.server is not None:
            await self.server.wait_healthy()
        return await super().chat(request)

    async def aclose(self) -> None:
        await super().aclose()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
