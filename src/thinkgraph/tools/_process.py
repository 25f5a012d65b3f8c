"""Start one sandboxed process tree, feed it, read it with bounds, stop it at its limits, classify the end.

Used by both runners (:mod:`thinkgraph.tools.runners`); they differ only in the command line and in how a
signal is reported (bubblewrap exits with 128 + the signal's number).  One thread, one ``selectors`` loop:
stdin is written as the program reads it, stdout/stderr/the result channel are read into bounded buffers,
the wall-clock deadline and the task limit are checked every 20 ms, and the process tree is killed as a
whole (process group, cgroup or pid namespace) when a limit is reached and again when the program exits.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import resource
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from thinkgraph.tools._cgroup import RunCgroup
from thinkgraph.tools._launch import (
    LAUNCHER_FAILED,
    MiB,
    launcher_argv,
    launcher_works,
    rlimits_for,
    run_tasks,
    user_tasks,
)
from thinkgraph.tools.sandbox import Execution, SandboxLimits, SandboxResult, SandboxStatus, SandboxUnavailable

_CHECK_EVERY_S = 0.02
_DRAIN_S = 0.5
_MEMORY_ERROR = re.compile(rb"^MemoryError\b|Cannot allocate memory|MemoryError: *$", re.MULTILINE)


@dataclass(frozen=True)
class Launch:
    """A process to start: its command line, environment, directory, input and how to read its end."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: str
    stdin: bytes
    limits: SandboxLimits
    runner: str
    pass_fds: Sequence[int] = ()
    #: the read end of the result channel (the write end is in ``pass_fds``), or None
    channel_fd: int | None = None
    channel_limit: int = 4 * MiB
    #: bubblewrap reports a program killed by signal N as exit status 128 + N
    signal_from_exit_code: bool = False
    #: tasks the runner itself keeps in the run (bubblewrap: 2)
    extra_tasks: int = 0
    #: without a cgroup, also count (and kill) processes that stayed in the program's session
    count_session: bool = True
    #: whether the kernel's accounting of reaped children covers the program (not under bubblewrap's pid 1)
    rusage_complete: bool = True


class _Capture:
    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.truncated = False

    def add(self, chunk: bytes) -> bool:
        """Keep what fits; ``True`` the first time something did not fit."""
        room = self.limit - len(self.data)
        if len(chunk) <= room:
            self.data += chunk
            return False
        self.data += chunk[: max(room, 0)]
        first = not self.truncated
        self.truncated = True
        return first


class _Tree:
    """The process tree of one run: counted, and killed, by cgroup when there is one, else by /proc."""

    def __init__(self, pid: int, cgroup: RunCgroup | None, launch: Launch) -> None:
        self.pid = pid
        self.cgroup = cgroup
        self.launch = launch

    def over_limit(self) -> bool:
        if self.cgroup is not None:
            return self.cgroup.task_limit_hit()
        tasks = run_tasks(self.pid, self.launch.count_session)
        return sum(tasks.values()) > self.launch.limits.max_processes + self.launch.extra_tasks

    def kill(self, wait_s: float = 0.0) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all(wait_s)
            return
        for _ in range(3):
            rest = [p for p in run_tasks(self.pid, self.launch.count_session) if p != os.getpid()]
            if not rest:
                break
            for pid in rest:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class _Fds:
    stdin: int  # our write end of the program's stdin
    out: int
    err: int


def supervise(launch: Launch) -> Execution:
    """Run ``launch`` to its end or its limits; see the module docstring."""
    limits = launch.limits
    cgroup = RunCgroup.create(
        max_tasks=limits.max_processes + launch.extra_tasks, memory_bytes=(limits.memory_mb + limits.disk_mb) * MiB
    )
    nproc = None
    if cgroup is None and os.geteuid() != 0:  # a backstop; root ignores RLIMIT_NPROC
        nproc = user_tasks(os.geteuid()) + limits.max_processes + launch.extra_tasks
    rlimits = rlimits_for(limits, nproc)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    options: dict[str, Any] = {}
    if launcher_works():
        argv = launcher_argv(rlimits, cgroup, launch.argv)
    else:
        argv = list(launch.argv)
        if cgroup is not None:
            cgroup.open_join_fds()
        join = cgroup.join_self if cgroup is not None else None

        def preexec() -> None:  # between fork and exec: only system calls
            for which, soft, hard in rlimits:
                resource.setrlimit(which, (soft, hard))
            if join is not None:
                join()

        options["preexec_fn"] = preexec
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
            env=dict(launch.env),
            cwd=launch.cwd,
            start_new_session=True,
            pass_fds=tuple(launch.pass_fds),
            close_fds=True,
            **options,
        )
    except OSError as exc:
        for fd in (in_w, out_r, err_r, *([launch.channel_fd] if launch.channel_fd is not None else [])):
            os.close(fd)
        if cgroup is not None:
            cgroup.destroy()
        raise SandboxUnavailable(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
    finally:
        for fd in (in_r, out_w, err_w, *launch.pass_fds):
            with contextlib.suppress(OSError):
                os.close(fd)
        if cgroup is not None:
            cgroup.close_join_fds()
    try:
        watch = _Watch(proc, launch, cgroup, _Fds(in_w, out_r, err_r))
        seconds = watch.run(start)
        assert watch.status is not None
        return _finish(launch, cgroup, watch, seconds)
    finally:
        if proc.returncode is None:  # only on an internal error: never leave the tree running
            _Tree(proc.pid, cgroup, launch).kill()
            proc.wait()
        if cgroup is not None:
            cgroup.destroy()
        for fd in (out_r, err_r, *([launch.channel_fd] if launch.channel_fd is not None else [])):
            with contextlib.suppress(OSError):
                os.close(fd)


class _Watch:
    """The I/O loop of one run: feeds stdin, reads the outputs into bounded buffers, enforces the limits."""

    def __init__(self, proc: subprocess.Popen[bytes], launch: Launch, cgroup: RunCgroup | None, fds: _Fds) -> None:
        self.proc, self.launch, self.fds = proc, launch, fds
        self.tree = _Tree(proc.pid, cgroup, launch)
        limits = launch.limits
        self.captures = {fds.out: _Capture(limits.max_output_bytes), fds.err: _Capture(limits.max_output_bytes)}
        self.names = {fds.out: "stdout", fds.err: "stderr"}
        if launch.channel_fd is not None:
            self.captures[launch.channel_fd] = _Capture(launch.channel_limit)
            self.names[launch.channel_fd] = "the result channel"
        self.sel = selectors.DefaultSelector()
        self.pending = memoryview(launch.stdin)
        self.reason = ""
        self.status: int | None = None
        self.usage: resource.struct_rusage | None = None
        self.ended = 0.0

    def _stop(self, reason: str) -> None:
        if not self.reason and self.status is None:
            self.reason = reason
            self.tree.kill()

    def _write_stdin(self) -> None:
        try:
            sent = os.write(self.fds.stdin, self.pending[:65536])
            self.pending = self.pending[sent:]
        except BlockingIOError:
            return
        except OSError:  # the program closed its stdin
            self.pending = self.pending[:0]
        if not self.pending:
            self.sel.unregister(self.fds.stdin)
            os.close(self.fds.stdin)

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            self.sel.unregister(fd)
        elif self.captures[fd].add(chunk):
            self._stop(f"output:{self.names[fd]}")

    def _reap(self) -> None:
        pid, wstatus, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid:
            self.status, self.usage, self.ended = wstatus, usage, time.monotonic()
            self.proc.returncode = os.waitstatus_to_exitcode(wstatus)
            self.tree.kill(wait_s=1.0)  # nothing the program started outlives it

    def run(self, start: float) -> float:
        """Loop until the program has ended and its outputs are drained; the run's seconds."""
        for fd in self.captures:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ)
        if self.pending:
            os.set_blocking(self.fds.stdin, False)
            self.sel.register(self.fds.stdin, selectors.EVENT_WRITE)
        else:
            os.close(self.fds.stdin)
        deadline = start + self.launch.limits.timeout_s
        next_check = start + _CHECK_EVERY_S
        try:
            while True:
                now = time.monotonic()
                if self.status is not None and (not self.sel.get_map() or now >= self.ended + _DRAIN_S):
                    break
                if now >= deadline:
                    self._stop("timeout")
                elif now >= next_check and self.status is None and not self.reason:
                    next_check = now + _CHECK_EVERY_S
                    if self.tree.over_limit():
                        self._stop("processes")
                busy = self.status is not None or self.reason
                wait = 0.01 if busy else max(0.001, min(_CHECK_EVERY_S, deadline - now))
                if not self.sel.get_map():
                    time.sleep(min(wait, 0.005))
                for key, _ in self.sel.select(wait) if self.sel.get_map() else ():
                    if key.fd == self.fds.stdin:
                        self._write_stdin()
                    else:
                        self._read(int(key.fd))
                if self.status is None:
                    self._reap()
        finally:
            if self.fds.stdin in self.sel.get_map():
                os.close(self.fds.stdin)
            self.sel.close()
        return self.ended - start


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _exit(launch: Launch, status: int) -> tuple[int | None, int | None]:
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    if launch.signal_from_exit_code and 128 < code <= 128 + 64:
        return None, code - 128
    return code, None


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _classify(
    launch: Launch,
    reason: str,
    exit_code: int | None,
    sig: int | None,
    cpu: float,
    stderr: bytes,
    cgroup: RunCgroup | None,
) -> tuple[SandboxStatus, str]:
    limits = launch.limits
    if reason == "timeout":
        return "timeout", f"the wall-clock limit of {limits.timeout_s:g}s ran out; the run was killed"
    if cgroup is not None and cgroup.oom_kills():
        return "memory", f"the run's processes together used more than {limits.memory_mb + limits.disk_mb} MiB"
    if reason.startswith("output:"):
        where = reason.split(":", 1)[1]
        return "killed", f"{where} passed {limits.max_output_bytes} bytes; the program was stopped"
    too_many = f"the run tried to have more than {limits.max_processes} processes/threads"
    if reason == "processes":
        return "killed", f"{too_many}; it was killed"
    if sig is not None:
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= math.ceil(limits.cpu_limit_s) - 0.05):
            return "timeout", f"the CPU-time limit of {limits.cpu_limit_s:g}s ran out"
        if sig == signal.SIGXFSZ:
            return "killed", f"a file passed the {limits.max_file_mb} MiB file-size limit"
        return "killed", f"killed by {_signal_name(sig)}"
    if exit_code == 0:
        return "ok", ""
    if cgroup is not None and cgroup.task_limit_hit():  # it failed after a fork failed, before the check saw it
        return "killed", f"{too_many}; a fork failed and the program exited with code {exit_code}"
    tail = stderr[-2000:]
    if _MEMORY_ERROR.search(tail):
        return "memory", f"out of memory: the address-space limit is {limits.memory_mb} MiB"
    if exit_code == 125 and stderr.startswith(LAUNCHER_FAILED):
        return "error", f"the sandbox could not start: {_decode(stderr.splitlines()[0])}"
    if launch.signal_from_exit_code and exit_code == 1 and stderr.startswith(b"bwrap: "):
        line = _decode(stderr.splitlines()[0])
        return "error", f"bubblewrap could not set up the sandbox: {line}"
    return "error", f"exit code {exit_code}"


def _finish(launch: Launch, cgroup: RunCgroup | None, watch: _Watch, seconds: float) -> Execution:
    assert watch.status is not None
    exit_code, sig = _exit(launch, watch.status)
    usage = watch.usage if launch.rusage_complete else None
    cpu = cgroup.cpu_seconds() if cgroup is not None else None
    if cpu is None and usage is not None:
        cpu = usage.ru_utime + usage.ru_stime
    peak: float | None = cgroup.peak_memory_bytes() / MiB if cgroup is not None else 0.0
    if not peak:
        peak = usage.ru_maxrss / 1024 if usage is not None else None
    out, err = watch.captures[watch.fds.out], watch.captures[watch.fds.err]
    state, detail = _classify(launch, watch.reason, exit_code, sig, cpu or 0.0, bytes(err.data), cgroup)
    result = SandboxResult(
        status=state,
        exit_code=exit_code,
        signal=sig,
        stdout=_decode(out.data),
        stderr=_decode(err.data),
        seconds=round(seconds, 4),
        cpu_seconds=round(cpu, 4) if cpu is not None else None,
        memory_peak_mb=round(peak, 1) if peak is not None else None,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        detail=detail,
        sandbox=launch.runner,
    )
    channel = bytes(watch.captures[launch.channel_fd].data) if launch.channel_fd is not None else b""
    return Execution(result, channel)
