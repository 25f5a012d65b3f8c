"""Run code a model wrote, isolated by the operating system, with limits and a typed result.

Filtering model code in Python (AST checks, import allowlists) has been bypassed again and again
(LangChain's PALChain CVEs, smolagents CVE-2025-5120 and CVE-2025-9959); only OS-level isolation counts.
The default runner is :class:`~thinkgraph.tools.runners.BwrapRunner`, Debian's ``bubblewrap``: its own
network, pid, ipc, uts and user namespaces, a read-only view of the system directories and the Python
installation only (no ``/home``, ``/root``, ``/work``), a private size-bounded ``/tmp`` as its working
directory, no capabilities (and the uid ``nobody`` when root starts it), a clean environment, and rlimits for
CPU time, address space, file size; a cgroup (where this process may create one) bounds its tasks and memory
together, and at the end of a run every process it started is killed. Where bubblewrap is missing or cannot
create namespaces, :func:`default_runner` *refuses* with :class:`SandboxUnavailable` (its message says what to
install) unless the caller opts out with ``allow_unsandboxed=True``:
:class:`~thinkgraph.tools.runners.UnsandboxedRunner` still applies the rlimits, the clean environment, a
private temporary directory and the group kill, but the program runs as the caller's user and can read the
host's files, write where that user may and use the network.

Every run ends in a :class:`SandboxResult` whose ``status`` is one of

* ``ok`` — exit status 0;
* ``timeout`` — the wall-clock limit (``timeout_s``) or the CPU limit (``cpu_s``) ran out;
* ``memory`` — a ``MemoryError`` (the address-space limit) or the kernel's OOM killer in the run's cgroup;
* ``error`` — a non-zero exit status (an exception, ``sys.exit(3)``, a syntax error);
* ``killed`` — a signal, the process limit, the file-size limit or the output limit stopped it.

``detail`` says which limit, in words.  Nothing a program does raises here: bad programs give results.
Errors are for the caller: :class:`SandboxUnavailable` (no isolation), :class:`SandboxUsageError`
(bad arguments: a file name with ``..``, inputs that are not JSON).

Extension point: :class:`CodeRunner` — ``name``, ``isolated`` and ``execute(job) -> Execution``; runners
are cheap to construct after their first probe, keep no state between runs and may be used from any
thread.  ``tests/test_sandbox.py`` is the conformance suite every runner passes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import Field

from thinkgraph.messages import Record

if TYPE_CHECKING:
    from collections.abc import Sequence

    from thinkgraph.messages import ToolCall
    from thinkgraph.tools.calls import FunctionRun

SandboxStatus = Literal["ok", "timeout", "memory", "error", "killed"]

INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
OPT_OUT_HINT = "or opt out of isolation explicitly with --allow-unsandboxed / allow_unsandboxed=True"


class SandboxUnavailable(RuntimeError):
    """No OS isolation here (bubblewrap missing or unable to create namespaces); the message says the fix."""


class SandboxUsageError(ValueError):
    """A caller's mistake: a bad file name, inputs that are not JSON, a missing program file."""


class SandboxLimits(Record):
    """What one run may use.  Times in seconds, sizes in MiB unless named ``_bytes``."""

    #: wall-clock seconds for the whole run; the run is killed when they are up
    timeout_s: float = Field(default=10.0, gt=0, le=24 * 3600)
    #: CPU seconds per process (``RLIMIT_CPU``); ``None``: the same as ``timeout_s``
    cpu_s: float | None = Field(default=None, gt=0)
    #: address space per process (``RLIMIT_AS``), and all the run's processes together where a cgroup is used
    memory_mb: int = Field(default=512, ge=32)
    #: tasks (processes and threads) the run may have at once; going past it kills the run
    max_processes: int = Field(default=32, ge=1, le=4096)
    #: the largest file the program may write (``RLIMIT_FSIZE``)
    max_file_mb: int = Field(default=16, ge=0)
    #: the size of the private /tmp, and of /dev/shm (tmpfs under bubblewrap; not enforced without isolation)
    disk_mb: int = Field(default=64, ge=1)
    #: bytes kept of stdout and of stderr each; a program that writes more is stopped (status ``killed``)
    max_output_bytes: int = Field(default=1 << 20, ge=1024)
    #: seconds for each call of :func:`~thinkgraph.tools.calls.call_function` (within ``timeout_s``)
    call_timeout_s: float = Field(default=2.0, gt=0)

    @property
    def cpu_limit_s(self) -> float:
        return self.cpu_s if self.cpu_s is not None else self.timeout_s


class SandboxResult(Record):
    """How one run ended.  ``exit_code`` is ``None`` when a signal ended the program (``signal`` names it)."""

    status: SandboxStatus
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    signal: int | None = None
    #: CPU time of all the run's processes (from its cgroup, or from the kernel's accounting of reaped
    #: children); ``None`` where it cannot be measured (bubblewrap's pid 1 does not pass it on)
    cpu_seconds: float | None = None
    #: peak memory: of the whole run (processes and /tmp) where a memory cgroup is used, else of its
    #: largest process; ``None`` where it cannot be measured
    memory_peak_mb: float | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    #: which limit ended the run, or why it is not ``ok``, in words ("" when ok)
    detail: str = ""
    #: the runner: ``bwrap`` or ``unsandboxed``
    sandbox: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Job:
    """One run as a runner sees it: files for the working directory and the Python script to start.

    ``channel``: give the program a pipe the caller reads back (``Execution.channel``); its fd number is
    passed as the script's first argument.  :func:`~thinkgraph.tools.calls.call_function` uses it.
    """

    script: str
    files: Mapping[str, bytes]
    stdin: bytes = b""
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    channel: bool = False
    #: bytes of the channel kept (the run is stopped past them)
    channel_limit: int = 4 << 20


@dataclass(frozen=True)
class Execution:
    result: SandboxResult
    channel: bytes = b""


@runtime_checkable
class CodeRunner(Protocol):
    """Runs one :class:`Job` and returns how it ended; never raises for anything the program does."""

    #: ``bwrap``, ``unsandboxed``…
    name: str
    #: whether the program is isolated from the host's files, network and processes
    isolated: bool

    def execute(self, job: Job) -> Execution: ...


_RUNNERS: dict[bool, CodeRunner] = {}
_LOCK = threading.Lock()


def default_runner(*, allow_unsandboxed: bool = False) -> CodeRunner:
    """The bubblewrap runner; without it, :class:`SandboxUnavailable` unless ``allow_unsandboxed``.

    The probe (one tiny sandboxed start) runs once per process; its outcome is remembered.
    """
    with _LOCK:
        cached = _RUNNERS.get(allow_unsandboxed)
        if cached is not None:
            return cached
        from thinkgraph.tools.runners import BwrapRunner, UnsandboxedRunner

        runner: CodeRunner
        try:
            runner = BwrapRunner()
        except SandboxUnavailable:
            if not allow_unsandboxed:
                raise
            runner = UnsandboxedRunner()
        _RUNNERS[allow_unsandboxed] = runner
        return runner


MAIN = "main.py"


def _check_name(name: str) -> str:
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or name.startswith("-") or "\x00" in name:
        raise SandboxUsageError(f"file name {name!r}: give a relative path inside the sandbox, without '..'")
    return name


def make_job(
    code: str,
    *,
    stdin: str | bytes | None = None,
    limits: SandboxLimits | None = None,
    files: Mapping[str, str | bytes] | None = None,
    script: str = MAIN,
) -> Job:
    """A :class:`Job` that runs ``code`` as ``script`` with ``files`` beside it."""
    limits = limits or SandboxLimits()
    data: dict[str, bytes] = {}
    for name, content in (files or {}).items():
        data[_check_name(name)] = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    if script in data:
        raise SandboxUsageError(f"files: {script!r} is the program's own name; rename that file")
    data[script] = code.encode("utf-8")
    largest = max(len(v) for v in data.values())
    if largest > limits.max_file_mb * (1 << 20):
        raise SandboxUsageError(f"a file of {largest} bytes is larger than max_file_mb={limits.max_file_mb}")
    raw = stdin.encode("utf-8") if isinstance(stdin, str) else (stdin or b"")
    return Job(script=script, files=data, stdin=raw, limits=limits)


def run_program(
    source: str | Path,
    *,
    stdin: str | bytes | None = None,
    limits: SandboxLimits | None = None,
    files: Mapping[str, str | bytes] | None = None,
    runner: CodeRunner | None = None,
    allow_unsandboxed: bool = False,
) -> SandboxResult:
    """Run a Python program (``str``: its code; ``Path``: a file to read) in the sandbox.

    ``files`` are written into its working directory first (relative names).  Raises
    :class:`SandboxUnavailable` where there is no isolation and ``allow_unsandboxed`` is false.
    """
    if isinstance(source, Path):
        try:
            code = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SandboxUsageError(f"{source}: cannot read the program ({exc})") from exc
    else:
        code = source
    job = make_job(code, stdin=stdin, limits=limits, files=files)
    runner = runner or default_runner(allow_unsandboxed=allow_unsandboxed)
    return runner.execute(job).result


class Sandbox:
    """Limits and a runner chosen once, for many runs: ``Sandbox(SandboxLimits(timeout_s=2)).run(code)``."""

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        runner: CodeRunner | None = None,
        allow_unsandboxed: bool = False,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.runner = runner or default_runner(allow_unsandboxed=allow_unsandboxed)

    def run(
        self,
        source: str | Path,
        *,
        stdin: str | bytes | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> SandboxResult:
        return run_program(source, stdin=stdin, limits=self.limits, files=files, runner=self.runner)

    def call(self, code: str, function: str, inputs: Sequence[Sequence[Any]]) -> FunctionRun:
        """:func:`call_function` with this sandbox's limits and runner."""
        return call_function(code, function, inputs, limits=self.limits, runner=self.runner)


def call_function(
    code: str,
    function: str,
    inputs: Sequence[Sequence[Any]],
    *,
    limits: SandboxLimits | None = None,
    runner: CodeRunner | None = None,
) -> FunctionRun:
    """Call ``function(*args)`` of ``code`` on each input in ONE sandboxed process (:mod:`thinkgraph.tools.calls`)."""
    from thinkgraph.tools.calls import call_function as call

    return call(code, function, inputs, limits=limits, runner=runner)


def __getattr__(name: str) -> Any:  # CallOutcome and FunctionRun live in thinkgraph.tools.calls
    if name in ("CallOutcome", "FunctionRun"):
        from thinkgraph.tools import calls

        return getattr(calls, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def tool_call_payload(
    result: SandboxResult,
    *,
    code: str = "",
    stdin: str = "",
    limits: SandboxLimits | None = None,
    max_chars: int = 4000,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``input`` and ``output`` dicts of a ``ToolCall`` trace event (tool ``sandbox``) for one run."""
    inp: dict[str, Any] = {"code": _clip(code, max_chars), "sandbox": result.sandbox}
    if stdin:
        inp["stdin"] = _clip(stdin, max_chars)
    if limits is not None:
        inp["limits"] = limits.model_dump(mode="json", exclude_none=True)
    out = result.to_json()
    out["stdout"] = _clip(result.stdout, max_chars)
    out["stderr"] = _clip(result.stderr, max_chars)
    json.dumps(out)  # a trace is JSON: fail here, not when the trace is written
    return inp, out


def sandbox_tool_call(
    result: SandboxResult,
    *,
    code: str = "",
    stdin: str = "",
    limits: SandboxLimits | None = None,
    node: str = "",
    run_id: str = "",
) -> ToolCall:
    """A ``ToolCall`` trace event recording one sandboxed run (``error`` holds ``detail`` unless ok)."""
    from thinkgraph.messages import ToolCall

    inp, out = tool_call_payload(result, code=code, stdin=stdin, limits=limits)
    error = "" if result.ok else f"{result.status}: {result.detail or 'exit code ' + str(result.exit_code)}"
    return ToolCall(
        tool="sandbox", input=inp, output=out, seconds=result.seconds, error=error, node=node, run_id=run_id
    )


__all__ = [
    "INSTALL_HINT",
    "CodeRunner",
    "Execution",
    "Job",
    "Sandbox",
    "SandboxLimits",
    "SandboxResult",
    "SandboxStatus",
    "SandboxUnavailable",
    "SandboxUsageError",
    "call_function",
    "default_runner",
    "make_job",
    "run_program",
    "sandbox_tool_call",
    "tool_call_payload",
]
