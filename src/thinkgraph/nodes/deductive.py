"""Deductive verification as nodes: ``deductive.reason`` → ``deductive.verify`` ("Deductive Verification of
Chain-of-Thought Reasoning", Ling et al., 2023).

``deductive.reason`` writes Natural Program chains as :class:`~thinkgraph.logic.records.Rationales` (so
``cot.vote`` can also read them, unverified); ``deductive.verify`` checks every step of every chain by its own
model calls, which see only the step and what it cites, and writes the answer (status ``voted``: model checks, no
certificate) and a :class:`DeductiveReport` with every step's votes.  Each step's verdict is a ``ToolCall`` event
(``deductive.check_step``) in the trace.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thinkgraph.agents.deductive import ChainVerdict, Rule, Select, deductive_answer, verify_chains
from thinkgraph.agents.natural_program import natural_program_samples
from thinkgraph.agents.strategies import Strategy
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer, Problem, Rationales
from thinkgraph.messages import Message


class DeductiveReport(Message):
    """Every verified chain's verdict (steps, votes, the failing step) and the chain the answer came from."""

    kind: Literal["deductive_report"] = "deductive_report"
    problem_id: str = ""
    chains: tuple[ChainVerdict, ...]
    chosen: int | None = None  # index into chains, None when the answer abstained

    def summary(self) -> str:
        passed = sum(c.passed for c in self.chains)
        return f"{passed}/{len(self.chains)} chains verified" + (
            f", answer from chain {self.chosen + 1}" if self.chosen is not None else ""
        )


class DeductiveReasonParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chains: int = Field(default=1, ge=1, le=16, description="Natural Program chains sampled (one request)")
    temperature: float = Field(default=0.7, ge=0, le=2, description="sampling temperature when chains > 1")
    max_tokens: int = Field(default=512, ge=16, le=16384, description="tokens per chain")
    repairs: int = Field(default=1, ge=0, le=3, description="repair turns for a chain that is not in the format")
    strategy: Strategy = Field(default="none", description="prompt strategy: none, re2, far, cop or reverse")


class DeductiveVerifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    votes: int = Field(default=3, ge=1, le=15, description="checker samples per step (one request)")
    rule: Rule = Field(default="majority", description="a step passes with a majority of yes votes, or all of them")
    temperature: float = Field(default=0.7, ge=0, le=2, description="checker temperature (0 needs votes = 1)")
    max_tokens: int = Field(default=128, ge=8, le=4096, description="tokens per checker reply")
    select: Select = Field(
        default="first", description="first: the first fully verified chain; vote: the most verified answer"
    )
    seed: int | None = Field(default=0, description="checker sampling seed (None: unseeded)")

    @model_validator(mode="after")
    def _votes_differ(self) -> DeductiveVerifyParams:
        if self.temperature == 0 and self.votes > 1:
            raise ValueError(f"temperature 0 gives one greedy vote, not {self.votes}: use temperature > 0")
        return self


@node("deductive.reason", params=DeductiveReasonParams, needs=("model",))
async def reason(ctx: NodeContext, problem: Problem, params: DeductiveReasonParams) -> Rationales:
    """Reason as a Natural Program: numbered steps that cite the premises and steps they use, then the answer."""
    texts = await natural_program_samples(
        ctx.model,
        problem,
        chains=params.chains,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        repairs=params.repairs,
        strategy=params.strategy,
        tracer=ctx.tracer,
    )
    return Rationales(texts=tuple(texts))


@node("deductive.verify", params=DeductiveVerifyParams, needs=("model",))
async def verify(
    ctx: NodeContext, problem: Problem, rationales: Rationales, params: DeductiveVerifyParams
) -> tuple[Answer, DeductiveReport]:
    """Check each chain step by step (each check sees only the step and what it cites); answer from a chain whose
    every step passed (status voted), else abstain naming the failing step and its votes."""
    verdicts = await verify_chains(
        ctx.model,
        problem,
        rationales.texts,
        select=params.select,
        votes=params.votes,
        rule=params.rule,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        seed=params.seed,
        tracer=ctx.tracer,
    )
    answer, chosen = deductive_answer(problem, rationales.texts, verdicts, params.select)
    return answer, DeductiveReport(problem_id=problem.id, chains=tuple(verdicts), chosen=chosen)


__all__ = ["DeductiveReasonParams", "DeductiveReport", "DeductiveVerifyParams", "reason", "verify"]
