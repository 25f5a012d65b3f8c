"""Chain of thought as nodes: ``cot.reason`` → ``cot.vote`` (Wei et al., 2022; self-consistency voting,
Wang et al., 2023).  Its answers carry only the vote behind them, never a certificate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.agents.cot import cot_samples, cot_vote
from thinkgraph.agents.strategies import Strategy
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer, Problem, Rationales


class ReasonParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(default=1, ge=1, le=64, description="reasoning samples (voted)")
    temperature: float = Field(default=0.7, ge=0, le=2, description="temperature when samples > 1")
    max_tokens: int = Field(default=1024, ge=16, le=16384, description="tokens per reasoning sample")
    strategy: Strategy = Field(default="none", description="prompt strategy: none, re2, far, cop or reverse")


@node("cot.reason", params=ReasonParams, needs=("model",))
async def reason(ctx: NodeContext, problem: Problem, params: ReasonParams) -> Rationales:
    """Reason step by step in prose and end with 'Answer: True/False/Uncertain'."""
    texts = await cot_samples(
        ctx.model, problem, params.samples, params.temperature, params.max_tokens, params.strategy, ctx.tracer
    )
    return Rationales(texts=tuple(texts))


@node("cot.vote")
async def decide(problem: Problem, rationales: Rationales) -> Answer:
    """Majority over the answers the rationales name (status voted), or abstain when none names one."""
    return cot_vote(problem, rationales.texts)


__all__ = ["ReasonParams", "decide", "reason"]
