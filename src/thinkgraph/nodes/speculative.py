"""Speculative thinking as a node: ``speculative.reason`` (Yang et al., 2025, "Speculative Thinking: Enhancing
Small-Model Reasoning with Large Model Guidance at Inference Time"; the loop is in
:mod:`thinkgraph.agents.speculative`).

The node's own model (``--model``, or the workflow's ``model:`` for the node) is the **small** model that writes
the reasoning; ``large_model`` (a model spec, default ``local``) is the one that takes over at reflection points::

    nodes:
      think: {use: speculative.reason, with: {large_model: local, extractor: number}}

    thinkgraph run examples/speculative.yaml --input '{"text": "..."}' --model local:small

The node loads the large model when it starts and closes it when it ends.  From Python, a model object can be
passed instead under the key ``"<node>.large"`` of ``models=`` (``compiled.run(q, model=small,
models={"think.large": large})``); the caller then owns it and closes it.

It reads a logic ``problem`` (chain-of-thought prompt, the label read as ``cot.vote`` reads it) or a free
``question`` (the search nodes' prompt and extractors) and writes an ``answer`` / ``search_answer`` with status
``voted``: model reasoning, no certificate.  The evidence says who wrote what (the ledger: each model's tokens,
segments, takeovers per trigger), the segments in order, and why it stopped; each takeover is a ``Note`` in the
trace beside the traced model calls.  Reasoning cut off (by ``max_tokens`` or a budget) before a complete
``Answer:`` line abstains; when both models ended their turns without one, the answer is read from the whole
text as the sampling nodes read a finished sample (and abstains when there is none).  Each run loads its own
large model: with ``thinkgraph eval -j N`` that is N copies (pass one model object from Python to share it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from thinkgraph.agents.cot import parse_cot_answer
from thinkgraph.agents.speculative import (
    DEFAULT_TRIGGERS,
    SpeculativeConfig,
    SpeculativeResult,
    show,
    speculative_reason,
)
from thinkgraph.evals.items import Question
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.nodes.search import ExtractorName
from thinkgraph.search.answers import extractor_for, item_of, make_answer, messages_for
from thinkgraph.search.base import SearchBudget
from thinkgraph.search.records import SearchAnswer, SearchEvidence

_MODEL_KINDS = ("local", "openai", "litellm", "replay", "vllm")


class SpeculativeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    large_model: str = Field(
        default="local",
        description="the model that takes over at reflection points (a spec; the node's own model is the small one)",
    )
    extractor: ExtractorName = Field(
        default="auto", description="how the answer is read (auto: label / option letter / Answer: line)"
    )
    triggers: tuple[str, ...] = Field(
        default=DEFAULT_TRIGGERS, description="where the large model takes over (words only as whole words)"
    )
    paragraph_cues: tuple[str, ...] = Field(
        default=(),
        description="a paragraph break is a reflection point only before these words (empty: every paragraph break)",
    )
    chunk_tokens: int = Field(
        default=24, ge=4, le=1024, description="tokens per small-model chunk (searched for triggers; past one dropped)"
    )
    takeover_tokens: int = Field(default=64, ge=8, le=4096, description="tokens per takeover (to a paragraph break)")
    max_tokens: int = Field(default=768, ge=16, le=16384, description="tokens of reasoning in all (both models)")
    max_takeovers: int | None = Field(default=None, ge=0, description="takeovers at most (None: no limit)")
    temperature: float = Field(default=0.0, ge=0, le=2, description="sampling temperature of both models")
    seed: int | None = Field(default=0, description="sampling seed (None: unseeded)")
    continuation: Literal["prefill", "prompt"] = Field(
        default="prefill",
        description="prefill: the text so far as a partial assistant turn (llama.cpp, vLLM); prompt: in the user turn",
    )
    max_calls: int | None = Field(default=None, ge=1, description="budget: model calls of this node")
    budget_tokens: int | None = Field(default=None, ge=1, description="budget: prompt + completion tokens")
    max_seconds: float | None = Field(default=None, gt=0, description="budget: seconds of this node")

    @field_validator("large_model")
    @classmethod
    def _safe_spec(cls, spec: str) -> str:
        from thinkgraph.graphs.workflow import _remote_host

        if spec.split(":", 1)[0] not in _MODEL_KINDS:
            raise ValueError(
                f"unknown model spec {spec!r}: use local, local:small, local:/path.gguf, openai:MODEL[@URL], "
                "vllm:MODEL@URL, litellm:PROVIDER/MODEL or replay:FILE"
            )
        host = _remote_host(spec)
        if host is not None:  # a shared workflow file must not send problems (and keys) to another host
            raise ValueError(
                f"large_model names a model on another host ({host}): use a loopback server, or pass the model "
                "object from Python (models={'NODE.large': model})"
            )
        if spec.startswith("vllm:") and "@" not in spec.split("#", 1)[0]:
            raise ValueError("large_model would start a vLLM server: attach to a running one (vllm:MODEL@URL)")
        return spec

    @field_validator("triggers")
    @classmethod
    def _triggers(cls, triggers: tuple[str, ...]) -> tuple[str, ...]:
        if not triggers or any(not t for t in triggers):
            raise ValueError("triggers must be a non-empty list of non-empty strings, such as ['\\n\\n', 'Wait']")
        return triggers

    def config(self) -> SpeculativeConfig:
        return SpeculativeConfig(
            triggers=self.triggers,
            paragraph_cues=self.paragraph_cues,
            chunk_tokens=self.chunk_tokens,
            takeover_tokens=self.takeover_tokens,
            max_tokens=self.max_tokens,
            max_takeovers=self.max_takeovers,
            temperature=self.temperature,
            seed=self.seed,
            continuation=self.continuation,
            budget=SearchBudget(max_calls=self.max_calls, max_tokens=self.budget_tokens, max_seconds=self.max_seconds),
        )


@contextlib.asynccontextmanager
async def large_model_for(ctx: NodeContext, spec: str) -> AsyncIterator[Any]:
    """The large model of the node ``ctx`` runs, with the run's accounting and tracing: the object passed under
    ``"<node>.large"`` (not closed here), or ``spec`` loaded now and closed when the node ends."""
    key = f"{ctx.node}.large"
    if ctx.run.models.get(key) is not None:
        yield ctx.run.model_for(key)
        return
    from thinkgraph.llm import ManagedModel, load_model

    inner = load_model(spec)  # a local model starts loading in the background while the small one writes
    try:
        yield ManagedModel(inner)
    finally:
        await inner.aclose()


def evidence_of(result: SpeculativeResult, value: str | None) -> SearchEvidence:
    """The answer's evidence: the ledger (in ``reason``), the segments in order (``path``), the stop."""
    path = tuple(
        f"[{s.writer}{' at ' + show(s.trigger) if s.trigger else ''}] {s.text}" for s in result.segments if s.text
    )
    reason = result.ledger.summary() + ("" if value is not None else "; no final answer, so none is given")
    return SearchEvidence(
        method="speculative",
        votes={value: 1} if value is not None else {},
        samples=1,
        failed_samples=0 if value is not None else 1,
        path=path,
        stop_reason=result.stop_reason,
        stop_detail=result.stop_detail,
        calls=result.ledger.calls,
        tokens=result.ledger.tokens,
        reason=reason,
    )


@node("speculative.reason", params=SpeculativeParams, needs=("model",))
async def speculative_node(
    ctx: NodeContext, params: SpeculativeParams, problem: Problem | None = None, question: Question | None = None
) -> Answer | SearchAnswer:
    """Speculative thinking (Yang et al., 2025): the small model reasons, the large one takes over at reflection
    points (paragraph breaks, 'Wait', 'But') and hands back; the evidence counts each model's tokens."""
    item = item_of(problem, question)
    small = ctx.model
    async with large_model_for(ctx, params.large_model) as large:
        result = await speculative_reason(small, large, messages_for(item), params.config(), note=ctx.note)
    ctx.note(f"speculative: {result.ledger.summary()}; stopped: {result.stop_reason}")
    value: str | None = None
    if result.stop_reason in ("answered", "ended"):  # a finished text; one cut off answers only with its answer line
        if isinstance(item, Problem) and params.extractor == "auto":
            value = parse_cot_answer(result.text)  # as cot.vote reads it
        else:
            value = extractor_for(item, params.extractor)(result.text)
    ev = evidence_of(result, value)
    return make_answer(item, value, ev, status="voted", confidence=None, rationales=[result.text])


__all__ = ["SpeculativeParams", "evidence_of", "large_model_for", "speculative_node"]
