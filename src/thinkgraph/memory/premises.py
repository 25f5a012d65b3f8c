"""Premise retrieval for provers: the lemmas (names and statements) nearest to a goal.

A prover that works from a library of lemmas (Lean's tactic search, ReProver-style) asks a
:class:`PremiseRetriever` for the ``k`` lemmas most likely to help with a goal, and puts them in its
prompt.  :class:`MemoryPremiseRetriever` is one over any :class:`~thinkgraph.memory.base.Memory`
(items of kind ``premise``); :func:`lean_declarations` reads a Lean file's theorems and lemmas into
premises to index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from thinkgraph.memory.base import Item, Memory

PREMISE = "premise"


@dataclass(frozen=True)
class Premise:
    """A lemma: its name, its statement, where it came from; ``score`` is its similarity to the goal."""

    name: str
    statement: str
    source: str = ""
    score: float = 0.0


@runtime_checkable
class PremiseRetriever(Protocol):
    """Lemmas nearest to a goal, best first.  Lifecycle: built over an index of lemmas (added before or
    between calls); :meth:`retrieve` is read-only and may be called from several threads."""

    def retrieve(self, goal: str, k: int = 8) -> list[Premise]: ...


class MemoryPremiseRetriever:
    """A :class:`PremiseRetriever` over a memory: the text embedded is ``name : statement``."""

    def __init__(self, store: Memory):
        self.store = store

    def add(self, premises: Iterable[Premise]) -> list[str]:
        """Index lemmas (one batch); a name already indexed is replaced."""
        items = [
            Item(
                f"{p.name} : {p.statement}",
                {"kind": PREMISE, "name": p.name, "statement": p.statement, "source": p.source},
                f"premise:{p.name}",
            )
            for p in premises
        ]
        return self.store.add(items)

    def retrieve(self, goal: str, k: int = 8) -> list[Premise]:
        hits = self.store.search(goal, k=k, where={"kind": PREMISE})
        return [
            Premise(str(h.metadata["name"]), str(h.metadata["statement"]), str(h.metadata.get("source", "")), h.score)
            for h in hits
        ]


_DECL = re.compile(
    r"^(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+)?(?:theorem|lemma)\s+(?P<name>[^\s:({\[]+)(?P<rest>.*?)"
    r":=",
    re.MULTILINE | re.DOTALL,
)


def lean_declarations(text: str, source: str = "") -> list[Premise]:
    """The ``theorem``/``lemma`` declarations of a Lean file as premises: the name and the statement
    (binders and type, up to ``:=``, on one line)."""
    out = []
    for m in _DECL.finditer(text):
        statement = " ".join(m["rest"].split())
        if statement:
            out.append(Premise(m["name"], statement, source))
    return out


__all__ = ["PREMISE", "MemoryPremiseRetriever", "Premise", "PremiseRetriever", "lean_declarations"]
