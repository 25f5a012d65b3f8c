"""The native Lean backend: a ``lean`` on ``PATH`` (an elan toolchain), or ``lake env lean`` inside a Lean
project (``project=``, e.g. one that depends on Mathlib).  A batch is one ``lean --json FILE`` run — seconds,
not minutes — with the same file assembly and message mapping as the offline backend.

Where Lean is absent the constructor raises :class:`~thinkgraph.provers.lean.backend.LeanUnavailable` (tests
skip on it).  Per-tactic proof states come from ``trace_state`` messages, as offline; a Lean REPL
(LeanInteract, LeanDojo) is not driven here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from thinkgraph.provers.lean.backend import LeanError, LeanUnavailable, ProcessOutput, _Lifecycle, run_process
from thinkgraph.provers.lean.check import file_results, prepare_file
from thinkgraph.provers.lean.offline import _raise_if_silent, batch_from_output
from thinkgraph.provers.lean.results import BatchResult
from thinkgraph.provers.lean.source import DEFAULT_HEARTBEATS, Declaration, assemble, map_results, parse_json_lines

NATIVE_HINT = (
    "no native Lean: install elan (https://github.com/leanprover/elan) so that `lean` is on PATH, "
    "set THINKGRAPH_LEAN, or use the offline backend (thinkgraph lean setup)"
)


def find_lean() -> Path:
    """``$THINKGRAPH_LEAN`` or ``lean`` on ``PATH`` (raises :class:`LeanUnavailable` with the fix)."""
    env = os.environ.get("THINKGRAPH_LEAN")
    if env:
        if not Path(env).is_file():
            raise LeanUnavailable(f"THINKGRAPH_LEAN={env} is not a file. {NATIVE_HINT}")
        return Path(env)
    found = shutil.which("lean")
    if not found:
        raise LeanUnavailable(NATIVE_HINT)
    return Path(found)


class NativeLeanBackend(_Lifecycle):
    """A native ``lean`` as a :class:`~thinkgraph.provers.lean.backend.LeanBackend`."""

    name = "native"

    def __init__(
        self,
        lean: Path | None = None,
        *,
        project: Path | None = None,
        timeout_s: float = 300.0,
        heartbeats: int = DEFAULT_HEARTBEATS,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.project = Path(project) if project is not None else None
        if self.project is not None:
            lake = shutil.which("lake")
            if lake is None:
                raise LeanUnavailable(f"a Lean project needs `lake` on PATH. {NATIVE_HINT}")
            if not (self.project / "lakefile.lean").exists() and not (self.project / "lakefile.toml").exists():
                raise ValueError(f"{self.project} is not a Lean project (no lakefile.lean or lakefile.toml)")
            self._prefix = [lake, "env", "lean"]
        else:
            self._prefix = [str(lean or find_lean())]
        self.timeout_s = timeout_s
        self.heartbeats = heartbeats
        manifest = self.project / "lake-manifest.json" if self.project else None
        self.has_mathlib = bool(manifest and manifest.exists() and '"mathlib"' in manifest.read_text().lower())

    def version(self) -> str:
        try:
            proc = subprocess.run(
                [*self._prefix, "--version"], capture_output=True, text=True, timeout=60, cwd=self.project
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise LeanUnavailable(f"{self._prefix[0]} --version failed: {exc}") from exc
        return proc.stdout.strip()

    def run_text(self, text: str, timeout_s: float | None = None) -> ProcessOutput:
        scratch = Path(tempfile.mkdtemp(prefix="thinkgraph-lean-"))
        try:
            path = scratch / "Batch.lean"
            path.write_text(text, encoding="utf-8")
            return run_process(
                [*self._prefix, "--json", str(path)],
                timeout_s=timeout_s or self.timeout_s,
                cwd=str(self.project) if self.project else str(scratch),
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def check(self, decls: Sequence[Declaration], timeout_s: float | None = None, prelude: str = "") -> BatchResult:
        assembled = assemble(decls, self.heartbeats, prelude=prelude)
        if not assembled.blocks:
            results, _ = map_results(assembled, [])
            return BatchResult(results=tuple(results), backend=self.name)
        return batch_from_output(assembled, self.run_text(assembled.text, timeout_s), self.name)

    def check_file(self, path: Path, timeout_s: float | None = None) -> BatchResult:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise LeanError(f"cannot read {path}: {exc}", retryable=False) from exc
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


__all__ = ["NATIVE_HINT", "NativeLeanBackend", "find_lean"]
