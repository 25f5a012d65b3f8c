"""Memory as workflow nodes: ``memory.retrieve`` and ``memory.remember`` (usable from YAML).

``memory.retrieve`` reads a problem and recalls the remembered problems nearest to it.  When one of them
re-verifies on this problem (:meth:`~thinkgraph.memory.episodic.EpisodicMemory.reverify`: the same
sentences, re-proved to the same verdict) it writes that :class:`Answer`, whose reason names the source
run; otherwise it writes :class:`Recalled` (the hits, with their runs) and the workflow goes on to solve
the problem.  Route on the output's ``kind``::

    nodes:
      recall:   {use: memory.retrieve, with: {store: runs/memory}}
      translate: {use: linc.translate}
      prove:    {use: linc.prove}
      vote:     {use: linc.vote}
      remember: {use: memory.remember, with: {store: runs/memory}}
    routes:
      - {from: recall, on: kind, cases: {answer: END, recalled: translate}}
    edges:
      - {from: translate, to: prove}
      - {from: prove, to: vote}
      - {from: vote, to: remember}

``memory.remember`` stores a verified answer with its evidence and run (and its sentence → formula
pairs as translator examples); other answers are skipped, and it says why.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.memory.base import Memory
from thinkgraph.memory.episodic import EPISODE, EpisodicMemory, problem_text
from thinkgraph.messages import Message, Record


class RecalledItem(Record):
    id: str
    text: str
    score: float
    run_id: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class Recalled(Message):
    """What ``memory.retrieve`` found (when no recalled answer re-verified)."""

    kind: Literal["recalled"] = "recalled"
    store: str
    query: str
    items: tuple[RecalledItem, ...] = ()
    note: str = ""

    def summary(self) -> str:
        return self.note or f"{len(self.items)} recalled"


class Remembered(Message):
    """What ``memory.remember`` stored (ids), or why it stored nothing."""

    kind: Literal["remembered"] = "remembered"
    store: str
    ids: tuple[str, ...] = ()
    skipped: str = ""

    def summary(self) -> str:
        return self.skipped or f"remembered {len(self.ids)} item(s)"


_STORES: dict[tuple[str, str | None], Memory] = {}
_LOCK = threading.Lock()


def shared_store(path: str, embedder: str | None = None) -> Memory:
    """One open store per folder (and embedder) in a process."""
    with _LOCK:
        key = (path, embedder)
        if key not in _STORES:
            from thinkgraph.memory import open_memory
            from thinkgraph.memory.embed import shared_embedder

            _STORES[key] = open_memory(path, shared_embedder(embedder) if embedder else None)
        return _STORES[key]


class RetrieveParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store: str = Field(description="the memory folder")
    k: int = Field(default=3, ge=1, le=100, description="how many remembered problems to recall")
    min_score: float = Field(default=0.5, ge=-1, le=1, description="similarity a recalled answer needs to be reused")
    reuse: bool = Field(default=True, description="answer with a recalled answer that re-verifies on this problem")
    embedder: str | None = Field(default=None, description="embedder spec (default: the store's own, else default)")
    prover: Literal["z3", "prover9"] = Field(default="z3", description="the prover that re-verifies")
    timeout_s: float = Field(default=5.0, gt=0, le=3600, description="solver seconds for the re-verification")


def _embedder_for(path: str, embedder: str | None) -> str:
    from thinkgraph.memory import stored_embedder

    return embedder or stored_embedder(path) or "default"


@node("memory.retrieve", params=RetrieveParams)
async def retrieve(ctx: NodeContext, problem: Problem, params: RetrieveParams) -> Recalled | Answer:
    """Recall remembered problems near this one; answer with one that re-verifies here, else list them."""

    def work() -> Recalled | Answer:
        store = shared_store(params.store, _embedder_for(params.store, params.embedder))
        episodic = EpisodicMemory(store)
        recalled = episodic.recall(problem, k=params.k)
        if params.reuse:
            from thinkgraph.nodes.linc import make_prover

            prover = ctx.prover("main") or make_prover(params.prover, params.timeout_s)
            for rec in recalled:
                if rec.score < params.min_score:
                    continue
                answer = episodic.reverify(rec, problem, prover)
                if answer is not None:
                    return answer
        items = tuple(
            RecalledItem(id=r.id, text=r.text, score=r.score, run_id=r.run_id, metadata={"answer": r.answer.value})
            for r in recalled
        )
        shown = "; ".join(r.describe() for r in recalled[:3])
        note = f"recalled {len(items)}, none re-verified on this problem" + (f": {shown}" if shown else "")
        return Recalled(store=params.store, query=problem_text(problem), items=items, note=note)

    return await asyncio.to_thread(work)


class RememberParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store: str = Field(description="the memory folder")
    statuses: tuple[Literal["verified", "voted"], ...] = Field(
        default=("verified",), description="answer statuses worth remembering (never abstentions)"
    )
    formalizations: bool = Field(
        default=True, description="also keep a verified answer's sentence → formula pairs as translator examples"
    )
    embedder: str | None = Field(default=None, description="embedder spec (default: the store's own, else default)")


@node("memory.remember", params=RememberParams)
async def remember(ctx: NodeContext, problem: Problem, answer: Answer, params: RememberParams) -> Remembered:
    """Remember a verified answer with its evidence and run, for later sessions."""

    def work() -> Remembered:
        if answer.status not in params.statuses or answer.value is None:
            return Remembered(store=params.store, skipped=f"not remembered: the answer is {answer.status}")
        store = shared_store(params.store, _embedder_for(params.store, params.embedder))
        ident = EpisodicMemory(store).remember(
            problem, answer, run_id=ctx.run_id, statuses=params.statuses, formalizations=params.formalizations
        )
        return Remembered(store=params.store, ids=(ident,) if ident else ())

    return await asyncio.to_thread(work)


__all__ = [
    "EPISODE",
    "Recalled",
    "RecalledItem",
    "RememberParams",
    "Remembered",
    "RetrieveParams",
    "remember",
    "retrieve",
    "shared_store",
]
