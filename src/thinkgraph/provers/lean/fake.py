"""A Lean backend without Lean, for tests of code that uses one (nodes, provers, scripts).

:class:`FakeLeanBackend` judges each declaration with a rule — a function of the
:class:`~thinkgraph.provers.lean.source.Declaration` returning a status (or a ``(status, message, goals)``
triple) — after the same guard the real backends apply (unsafe text is ``rejected`` before the rule sees
it).  It counts its batches, so a test can check that K samples cost one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from thinkgraph.provers.lean.backend import _Lifecycle
from thinkgraph.provers.lean.results import BatchResult, DeclResult, LeanStatus
from thinkgraph.provers.lean.source import Declaration, UnsafeDeclaration, guard

Rule = Callable[[Declaration], "LeanStatus | tuple[LeanStatus, str, tuple[str, ...]]"]


def keyword_rule(decl: Declaration) -> LeanStatus:
    """``sorry`` in the proof → sorry, ``omega``/``decide``/``rfl``/``simp`` → proved, anything else → error."""
    if "sorry" in decl.proof:
        return "sorry"
    if any(word in decl.proof for word in ("omega", "decide", "rfl", "simp")):
        return "proved"
    return "error"


class FakeLeanBackend(_Lifecycle):
    """A :class:`~thinkgraph.provers.lean.backend.LeanBackend` whose verdicts come from ``rule``."""

    name = "fake"
    has_mathlib = False

    def __init__(self, rule: Rule = keyword_rule) -> None:
        self.rule = rule
        self.batches: list[list[Declaration]] = []

    def check(self, decls: Sequence[Declaration], timeout_s: float | None = None, prelude: str = "") -> BatchResult:
        self.batches.append(list(decls))
        results = []
        for d in decls:
            try:
                guard(d.statement, "statement")
                guard(d.proof, "proof")
            except UnsafeDeclaration as exc:
                results.append(DeclResult(name=d.name, status="rejected", message=exc.reason))
                continue
            verdict: Any = self.rule(d)
            status: Any
            status, message, goals = (verdict, "", ()) if isinstance(verdict, str) else verdict
            results.append(DeclResult(name=d.name, status=status, message=message, goals=tuple(goals)))
        return BatchResult(results=tuple(results), backend=self.name)

    def check_file(self, path: Path, timeout_s: float | None = None) -> BatchResult:
        raise NotImplementedError("FakeLeanBackend checks declarations, not files")


__all__ = ["FakeLeanBackend", "keyword_rule"]
