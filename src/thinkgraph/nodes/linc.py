"""LINC as nodes: ``linc.translate`` → ``linc.prove`` → ``linc.vote`` (Olausson et al., 2023, "LINC:
A Neurosymbolic Approach for Logical Reasoning by Combining Language Models with First-Order Logic
Provers"), with per-sentence consensus voting as the default vote."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.agents.formalize import build_formalizations, translate_problem
from thinkgraph.agents.linc import prove_all
from thinkgraph.agents.translator import SentenceTranslator, TranslatorConfig
from thinkgraph.agents.voting import abstain, vote
from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer, Problem, Proofs, Translations
from thinkgraph.provers.base import Prover


@node("linc.translate", params=TranslatorConfig, needs=("model",))
async def translate(ctx: NodeContext, problem: Problem, params: TranslatorConfig) -> Translations:
    """Translate every premise and the conclusion to first-order logic, one sentence per call, K samples each."""
    return await translate_problem(problem, SentenceTranslator(ctx.model, params))


class ProveParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vote: Literal["program", "sentence"] = Field(
        default="sentence", description="sentence: also build the per-sentence majority formalization"
    )
    prover: Literal["z3", "prover9"] = Field(default="z3", description="the prover of every formalization")
    timeout_s: float = Field(default=5.0, gt=0, le=3600, description="solver seconds per query")
    strict_vocabulary: bool = Field(default=False, description="fail a sample whose conclusion has unknown predicates")


@lru_cache(maxsize=16)
def make_prover(name: str, timeout_s: float) -> Prover:
    if name == "prover9":
        from thinkgraph.provers.prover9 import Prover9

        return Prover9(timeout_s=timeout_s)
    from thinkgraph.provers.z3 import Z3Prover

    return Z3Prover(timeout_s)


@node("linc.prove", params=ProveParams, needs=("prover",))
async def prove(ctx: NodeContext, problem: Problem, translations: Translations, params: ProveParams) -> Proofs:
    """Build a formalization per sample (and the consensus) and prove each one."""
    prover = ctx.prover("main") or make_prover(params.prover, params.timeout_s)
    outcomes = build_formalizations(problem, translations, params.vote)
    proved = await prove_all(outcomes, prover, ctx.tracer, params.strict_vocabulary)
    return Proofs(samples=tuple(proved), vote=params.vote)


class VoteParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(default=0.5, ge=0, le=1, description="share of samples that must agree")
    check_faithfulness: bool = Field(default=True, description="an Uncertain consensus needs faithful formulas")
    uncertain: Literal["lenient", "strict"] = Field(
        default="lenient",
        description="strict: an Uncertain consensus also needs every sentence agreed and no sentence repaired",
    )
    cross_check: Literal["none", "prover9", "z3"] = Field(
        default="none", description="re-prove the winning formalization with a second prover"
    )
    timeout_s: float = Field(default=5.0, gt=0, le=3600, description="seconds for the cross-check")


@node("linc.vote", params=VoteParams)
async def decide(ctx: NodeContext, problem: Problem, proofs: Proofs, params: VoteParams) -> Answer:
    """Vote the proved samples into True / False / Uncertain with evidence, or abstain with the reason."""
    second = ctx.prover("second")
    if second is None and params.cross_check != "none":
        second = make_prover(params.cross_check, params.timeout_s)
    return await asyncio.to_thread(
        vote, problem, list(proofs.samples), params.threshold, second, params.check_faithfulness, params.uncertain
    )


def answer_of(result: object, problem: Problem) -> Answer:
    """The :class:`Answer` of a run of a logic workflow, whatever its ending: an exhausted budget, a
    step limit or a failed model become an abstention that keeps the evidence gathered so far."""
    from thinkgraph.graphs.compiled import RunResult

    assert isinstance(result, RunResult)
    if isinstance(result.output, Answer):
        return result.output
    if result.ending == "interrupted":
        return abstain(problem, f"waiting for a person: {result.interrupt}")
    reason = result.error or f"the run ended {result.ending} without an answer"
    proofs = result.latest(Proofs)
    if isinstance(proofs, Proofs):
        best = next((o for o in proofs.samples if o.formalization is not None), None)
        from thinkgraph.logic.records import Evidence

        labels = [o.label for o in proofs.samples if not o.is_consensus and o.label is not None]
        votes: dict[str, int] = {}
        for label in labels:
            votes[label] = votes.get(label, 0) + 1
        evidence = Evidence(
            verdict=best.verdict if best else None,
            formalization=best.formalization if best else None,
            votes=votes,
            samples=sum(not o.is_consensus for o in proofs.samples),
        )
        return abstain(problem, reason, evidence)
    return abstain(problem, reason)


__all__ = ["ProveParams", "VoteParams", "answer_of", "decide", "make_prover", "prove", "translate"]
