"""Typed results of checking Lean declarations: one :class:`DeclResult` per declaration, one
:class:`BatchResult` per batch (one Lean file or one REPL round).

A declaration ends in exactly one status:

* ``proved`` — Lean accepted it: no error, no ``sorry``, and Lean reached the marker after it;
* ``sorry`` — it elaborated but uses ``sorry`` (Lean's ``declaration uses `sorry``` warning), so nothing is
  proved;
* ``error`` — Lean reported an error inside the declaration (``message``, ``error_line``/``error_column``
  say which and where), or Lean crashed before reaching it;
* ``timeout`` — it hit one of Lean's deterministic resource limits (``maxHeartbeats``, ``maxRecDepth``:
  a tactic that does not terminate ends at one of them), or the Lean process was killed at its wall-clock
  limit before the declaration was checked;
* ``rejected`` — it was never sent to Lean: the text could break out of its declaration (``end``,
  ``#eval``, ``import``, an unclosed comment…), see :mod:`thinkgraph.provers.lean.source`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from thinkgraph.messages import Record

LeanStatus = Literal["proved", "error", "sorry", "timeout", "rejected"]
STATUSES: tuple[LeanStatus, ...] = ("proved", "error", "sorry", "timeout", "rejected")
Severity = Literal["error", "warning", "information"]


class LeanMessage(Record):
    """One message Lean printed (``lean --json``): where (1-based line, 0-based column, as Lean counts) and what."""

    severity: Severity
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None
    text: str
    #: Lean's tag for the message (``hasSorry``, ``runtime.maxHeartbeats``, ``Tactic.unsolvedGoals``…), when printed
    kind: str = ""

    @classmethod
    def from_json(cls, obj: dict[str, Any], line_offset: int = 0) -> LeanMessage:
        """A message from Lean's JSON (``{"severity", "pos": {"line", "column"}, "endPos", "data"}``)."""
        pos = obj.get("pos") or {}
        end = obj.get("endPos") or {}
        sev = str(obj.get("severity", "error"))
        severity: Severity = sev if sev in ("error", "warning", "information") else "error"  # type: ignore[assignment]
        return cls(
            severity=severity,
            line=int(pos.get("line", 0)) + line_offset,
            column=int(pos.get("column", 0)),
            end_line=int(end["line"]) + line_offset if "line" in end else None,
            end_column=int(end["column"]) if "column" in end else None,
            text=str(obj.get("data", "")),
            kind=str(obj.get("kind") or ""),
        )


class DeclResult(Record):
    """The verdict on one declaration.  ``line`` is where the declaration starts in the file the caller
    gave (or 0 for assembled candidates); ``goals`` holds the proof states ``trace_state`` printed."""

    name: str
    status: LeanStatus
    line: int = 0
    message: str = ""
    error_line: int | None = None
    error_column: int | None = None
    goals: tuple[str, ...] = ()
    messages: tuple[LeanMessage, ...] = ()

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_json(self) -> dict[str, Any]:
        """The short form ``thinkgraph lean check --json`` prints."""
        return {"name": self.name, "status": self.status, "line": self.line, "message": self.message}

    def render(self) -> str:
        where = f":{self.error_line}:{self.error_column}" if self.error_line is not None else ""
        text = self.message.replace("\n", " ")
        if len(text) > 160:
            text = text[:157] + "..."
        return f"{self.status:8} {self.name} (line {self.line}{where})" + (f": {text}" if text else "")


class BatchResult(Record):
    """Every declaration of one batch, in the order given, and what the batch cost."""

    results: tuple[DeclResult, ...]
    backend: str
    seconds: float = 0.0
    #: the Lean process was killed at the batch's wall-clock limit (its unchecked declarations are ``timeout``)
    killed: bool = False
    returncode: int | None = None
    #: messages outside every declaration (the header), and the tail of stderr when Lean crashed
    stray: tuple[LeanMessage, ...] = ()
    stderr: str = ""
    counts: dict[str, int] = Field(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        if not self.counts:
            tally = {s: 0 for s in STATUSES}
            for r in self.results:
                tally[r.status] += 1
            object.__setattr__(self, "counts", tally)

    def by_name(self) -> dict[str, DeclResult]:
        return {r.name: r for r in self.results}

    def summary(self) -> str:
        parts = [f"{n} {s}" for s, n in self.counts.items() if n]
        extra = "; the Lean process was killed at its time limit" if self.killed else ""
        tally = ", ".join(parts) or "none"
        return f"{len(self.results)} declarations: {tally} ({self.seconds:.1f} s, {self.backend}){extra}"


__all__ = ["STATUSES", "BatchResult", "DeclResult", "LeanMessage", "LeanStatus", "Severity"]
