"""Call a function a model wrote on many inputs, in ONE sandboxed process: ``call_function``.

Program synthesis and hypothesis search (e.g. Wang et al., 2024, "Hypothesis Search: Inductive Reasoning
with Language Models"; the program-checking step of Chen et al., 2021, "Evaluating Large Language Models
Trained on Code") check a candidate program against many examples.  Starting a sandbox per example costs
more than the calls; :func:`call_function` starts one and lets a small harness
(:mod:`thinkgraph.tools._harness`) call ``function(*args)`` for each input, each under its own time limit
(``SandboxLimits.call_timeout_s``) inside the run's limits.

The harness reports over a pipe of its own (not stdout, which the code may fill with anything), each frame
tagged with a random per-run nonce; the host reads it with a size bound and trusts nothing in it: a frame
that does not parse, carries the wrong nonce or contradicts an earlier one is ignored or reported.  A call
the process died in (``os._exit``, a segfault, the run's time limit) gets an outcome saying so, and calls
never reached say "not run".  Code that goes out of its way (finding the pipe and the nonce in its own
process's memory) can forge its outcomes: this checks honest mistakes and careless code, it does not make
a malicious program's claims true.  The host itself is protected by the sandbox either way.
"""

from __future__ import annotations

import json
import marshal
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkgraph.messages import Record
from thinkgraph.tools.sandbox import (
    CodeRunner,
    Job,
    SandboxLimits,
    SandboxResult,
    SandboxUsageError,
    default_runner,
)

_HARNESS = Path(__file__).with_name("_harness.py")
_HARNESS_NAME = "harness.py"
JOB_FILE = "job.marshal"
_VALUE_LIMIT = 64 * 1024


class CallOutcome(Record):
    """One call: ``ok`` with its JSON ``value``, or not ok with ``error`` ("TypeError: …", "not run: …")."""

    ok: bool
    value: Any = None
    error: str = ""
    seconds: float = 0.0


class FunctionRun(Record):
    """The sandboxed run (its status, stdout, stderr) and one outcome per input, in input order."""

    result: SandboxResult
    outcomes: tuple[CallOutcome, ...] = ()
    #: whether the code was executed and ``function`` found in it
    loaded: bool = False
    #: why not (``SyntaxError: …``, ``NameError: the code defines no 'f'``), or why the run ended early
    load_error: str = ""
    #: frames on the result channel that were ignored (wrong nonce, not JSON, contradicting another)
    rejected_frames: int = 0

    @property
    def all_ok(self) -> bool:
        return bool(self.outcomes) and all(o.ok for o in self.outcomes)

    @property
    def values(self) -> list[Any]:
        return [o.value if o.ok else None for o in self.outcomes]


@dataclass
class _Frames:
    nonce: str
    count: int
    loaded: bool | None = None
    load_error: str = ""
    started: set[int] = field(default_factory=set)
    outcomes: dict[int, CallOutcome] = field(default_factory=dict)
    conflicts: set[int] = field(default_factory=set)
    done: bool = False
    rejected: int = 0

    def feed(self, channel: bytes) -> None:
        for line in channel.split(b"\n"):
            if not line:
                continue
            tag, _, body = line.partition(b" ")
            try:
                if tag.decode("ascii") != self.nonce:
                    raise ValueError("nonce")
                frame = json.loads(body)
                if not isinstance(frame, dict):
                    raise ValueError("frame")
                self._take(frame)
            except (ValueError, UnicodeDecodeError, TypeError, KeyError):
                self.rejected += 1

    def _index(self, value: Any) -> int:
        if type(value) is not int or not 0 <= value < self.count:
            raise ValueError("index")
        return value

    def _take(self, frame: dict[str, Any]) -> None:
        if "load" in frame:
            if self.loaded is not None:
                raise ValueError("second load frame")
            self.loaded = frame["load"] is True
            self.load_error = "" if self.loaded else str(frame.get("error", ""))[:2000]
        elif "start" in frame:
            self.started.add(self._index(frame["start"]))
        elif "i" in frame:
            i = self._index(frame["i"])
            seconds = frame.get("seconds", 0.0)
            outcome = CallOutcome(
                ok=frame["ok"] is True,
                value=frame.get("value") if frame["ok"] is True else None,
                error="" if frame["ok"] is True else str(frame.get("error", ""))[:2000],
                seconds=float(seconds) if isinstance(seconds, int | float) and math.isfinite(seconds) else 0.0,
            )
            if i in self.outcomes and self.outcomes[i] != outcome:
                self.conflicts.add(i)
                raise ValueError("conflicting frames")
            self.outcomes[i] = outcome
        elif frame.get("done") is True:
            self.done = True
        else:
            raise ValueError("unknown frame")


def _why_stopped(result: SandboxResult) -> str:
    if result.status == "timeout":
        return f"TimeoutError: the run's limit ran out ({result.detail})"
    how = result.detail or f"exit code {result.exit_code}"
    return f"the process ended during this call ({result.status}: {how})"


def _outcomes(frames: _Frames, result: SandboxResult) -> tuple[CallOutcome, ...]:
    out: list[CallOutcome] = []
    stopped = _why_stopped(result)
    for i in range(frames.count):
        if i in frames.conflicts:
            out.append(CallOutcome(ok=False, error="conflicting results for this call (the code wrote to the channel)"))
        elif i in frames.outcomes:
            out.append(frames.outcomes[i])
        elif frames.loaded is False:
            out.append(CallOutcome(ok=False, error=f"not run: {frames.load_error}"))
        elif i in frames.started:
            out.append(CallOutcome(ok=False, error=stopped))
        else:
            out.append(CallOutcome(ok=False, error=f"not run: {stopped.replace('during this call', 'earlier')}"))
    return tuple(out)


def call_function(
    code: str,
    function: str,
    inputs: Sequence[Sequence[Any]],
    *,
    limits: SandboxLimits | None = None,
    runner: CodeRunner | None = None,
) -> FunctionRun:
    """Run ``code`` once in the sandbox and call ``function(*args)`` for each ``args`` in ``inputs``.

    Each outcome holds the call's result as JSON data (tuples become lists) or the exception it raised
    (``"ValueError: …"``), its own time limit being ``limits.call_timeout_s``.  Inputs must be JSON data
    (:class:`SandboxUsageError` otherwise).  The whole run is bounded by ``limits`` like
    :func:`~thinkgraph.tools.sandbox.run_program`.
    """
    limits = limits or SandboxLimits()
    if not function.isidentifier():
        raise SandboxUsageError(f"function {function!r} is not a Python identifier")
    rows = []
    for n, args in enumerate(inputs):
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            raise SandboxUsageError(f"inputs[{n}] must be a list of arguments, got {type(args).__name__}")
        rows.append(list(args))
    try:  # JSON data, as plain lists, dicts, str, int, float, bool and None (tuples and subclasses normalised)
        plain = json.loads(json.dumps(rows, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SandboxUsageError(f"inputs must be JSON data: {exc}") from exc
    nonce = secrets.token_hex(16)
    job_data = {
        "nonce": nonce,
        "code": code,
        "function": function,
        "inputs": plain,
        "call_timeout_s": float(min(limits.call_timeout_s, limits.timeout_s)),
        "value_limit": _VALUE_LIMIT,
    }
    job_bytes = marshal.dumps(job_data)  # the harness reads it without importing json (see _harness)
    if len(job_bytes) > limits.max_file_mb * (1 << 20):
        raise SandboxUsageError(f"inputs and code are {len(job_bytes)} bytes; max_file_mb={limits.max_file_mb}")
    job = Job(
        script=_HARNESS_NAME,
        files={_HARNESS_NAME: _HARNESS.read_bytes(), JOB_FILE: job_bytes},
        limits=limits,
        channel=True,
        channel_limit=max(4 * limits.max_output_bytes, 2 * _VALUE_LIMIT),
    )
    execution = (runner or default_runner()).execute(job)
    frames = _Frames(nonce, len(rows))
    frames.feed(execution.channel)
    result = execution.result
    load_error = frames.load_error
    if frames.loaded is None:
        load_error = f"the code did not load: {_why_stopped(result)}"
    return FunctionRun(
        result=result,
        outcomes=_outcomes(frames, result),
        loaded=frames.loaded is True,
        load_error=load_error,
        rejected_frames=frames.rejected,
    )


__all__ = ["CallOutcome", "FunctionRun", "call_function"]
