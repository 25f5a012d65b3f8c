"""Hypothesis search as nodes (Wang et al., 2024, "Hypothesis Search: Inductive Reasoning with Language Models").

``hypothesis.search`` reads a ``question`` holding an ARC task or a SyGuS problem (as the ``arc1d`` and ``sygus``
loaders write them) and writes a ``program_answer``: ``verified`` when a program passed every example in the
sandbox (with the hypothesis, the program and the examples), else ``abstained`` with the best candidate.
``hypothesis.direct`` is the no-search baseline: one call writes the output grid or the program, ``unverified``.

A test (or an embedding application) may hand the search its own program checker through the node context's
``extras["program_checker"]`` (a :class:`~thinkgraph.agents.hypothesis.ProgramChecker`); by default programs run
in the bubblewrap sandbox, and the node refuses to run model code without it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thinkgraph.agents.hypothesis import (
    HypothesisConfig,
    ProgramChecker,
    direct_answer,
    hypothesis_search,
    sandbox_checker,
)
from thinkgraph.agents.hypothesis_records import ProgramAnswer
from thinkgraph.agents.hypothesis_tasks import parse_task
from thinkgraph.evals.items import Question
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.search.base import SearchBudget


class HypothesisSearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hypotheses: int = Field(
        default=3, ge=0, le=32, description="hypotheses drawn in one request (0: programs from the examples alone)"
    )
    revisions: int = Field(default=2, ge=0, le=8, description="feedback rounds per hypothesis")
    temperature: float = Field(default=0.7, ge=0, le=2, description="temperature of the hypotheses")
    code_temperature: float = Field(default=0.0, ge=0, le=2, description="temperature of first programs")
    revision_temperature: float = Field(default=0.7, ge=0, le=2, description="temperature of revisions")
    max_tokens: int = Field(default=300, ge=32, le=4096, description="tokens per program")
    hypothesis_tokens: int = Field(default=120, ge=16, le=1024, description="tokens per hypothesis")
    max_shown: int = Field(default=8, ge=1, le=64, description="SyGuS examples shown (every one is checked)")
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="sandbox: seconds per program run")
    call_timeout_s: float = Field(default=2.0, gt=0, le=60, description="sandbox: seconds per call of the program")
    memory_mb: int = Field(default=512, ge=64, le=8192, description="sandbox: memory of a program run")
    max_calls: int | None = Field(default=None, ge=1, description="budget: model calls of this search")
    budget_tokens: int | None = Field(default=None, ge=1, description="budget: tokens of this search")
    max_seconds: float | None = Field(default=None, gt=0, description="budget: seconds of this search")
    seed: int | None = Field(default=0, description="sampling seed (None: unseeded)")

    @model_validator(mode="after")
    def _hypotheses_differ(self) -> HypothesisSearchParams:
        if self.hypotheses > 1 and self.temperature == 0:
            raise ValueError(f"temperature 0 gives one greedy hypothesis, not {self.hypotheses}: use temperature > 0")
        return self

    def config(self) -> HypothesisConfig:
        return HypothesisConfig(
            hypotheses=self.hypotheses,
            revisions=self.revisions,
            temperature=self.temperature,
            code_temperature=self.code_temperature,
            revision_temperature=self.revision_temperature,
            max_tokens=self.max_tokens,
            hypothesis_tokens=self.hypothesis_tokens,
            seed=self.seed,
        )

    def budget(self) -> SearchBudget:
        return SearchBudget(max_calls=self.max_calls, max_tokens=self.budget_tokens, max_seconds=self.max_seconds)


class DirectParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(default=300, ge=16, le=4096, description="tokens of the reply")
    temperature: float = Field(default=0.0, ge=0, le=2, description="sampling temperature")
    max_shown: int = Field(default=8, ge=1, le=64, description="SyGuS examples shown")
    seed: int | None = Field(default=0, description="sampling seed (None: unseeded)")


@node("hypothesis.search", params=HypothesisSearchParams, needs=("model",))
async def hypothesis_search_node(ctx: NodeContext, question: Question, params: HypothesisSearchParams) -> ProgramAnswer:
    """Hypothesis search (Wang et al., 2024): hypotheses, programs checked in the sandbox, revisions; abstains when
    no program passes every example."""
    task = parse_task(question.id, question.text, max_shown=params.max_shown)
    checker: ProgramChecker | None = ctx.extras.get("program_checker")
    if checker is None:
        checker = sandbox_checker(params.timeout_s, params.call_timeout_s, params.memory_mb)
    return await hypothesis_search(
        ctx.model, task, params.config(), checker=checker, budget=params.budget(), tracer=ctx.tracer
    )


@node("hypothesis.direct", params=DirectParams, needs=("model",))
async def direct_node(ctx: NodeContext, question: Question, params: DirectParams) -> ProgramAnswer:
    """Direct prompting, the baseline: one call writes the ARC output grid or the SyGuS program (unverified)."""
    task = parse_task(question.id, question.text, max_shown=params.max_shown)
    return await direct_answer(
        ctx.model, task, max_tokens=params.max_tokens, temperature=params.temperature, seed=params.seed
    )


__all__ = ["DirectParams", "HypothesisSearchParams", "direct_node", "hypothesis_search_node"]
