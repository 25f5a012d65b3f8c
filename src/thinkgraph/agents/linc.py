"""LINC: translate to first-order logic, prove each sample, vote — as plain functions (no LangGraph).

The steps live in their own modules — :mod:`~thinkgraph.agents.translator` (the model-facing
translator), :mod:`~thinkgraph.agents.formalize` (samples → formalizations),
:mod:`~thinkgraph.agents.voting` (verdicts → an answer) — and this module proves formalizations and
holds :class:`LincConfig`.  The workflow nodes that wire them are in :mod:`thinkgraph.nodes.linc`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.agents.formalize import build_formalizations, split_sentences, translate_problem
from thinkgraph.agents.translator import TranslatorConfig
from thinkgraph.agents.voting import abstain, vote, vote_consensus
from thinkgraph.logic.fol import FOLParseError, parse, vocabulary
from thinkgraph.logic.records import CONSENSUS, ProvedSample
from thinkgraph.messages import ToolCall
from thinkgraph.provers.base import Prover, ProverError
from thinkgraph.runtime import Tracer

SampleOutcome = ProvedSample  # the earlier name


class LincConfig(BaseModel):
    """LINC's settings.  Validated: ``LincConfig(vote="sentance")`` raises and names the choices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    translator: TranslatorConfig = Field(default_factory=TranslatorConfig)
    vote: Literal["program", "sentence"] = "sentence"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    prover_timeout_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    strict_vocabulary: bool = False  # a conclusion predicate unknown to the premises fails the sample
    check_faithfulness: bool = True  # an Uncertain consensus needs every formula to pass faithfulness checks
    uncertain: Literal["lenient", "strict"] = "lenient"  # strict: also every sentence agreed, none repaired


def prove(
    outcome: ProvedSample, prover: Prover, tracer: Tracer | None = None, strict_vocabulary: bool = False
) -> ProvedSample:
    """Prove one formalization; returns a new record with the verdict, or the failure (timeouts,
    inconsistency, a prover error) — recorded, never raised."""
    f = outcome.formalization
    if f is None:
        return outcome
    premises = [p.formula for p in f.premises]
    if strict_vocabulary:
        known = vocabulary([parse(p) for p in premises]).predicates
        unknown = vocabulary([parse(f.conclusion.formula)]).predicates - known
        if unknown:
            failure = f"the conclusion uses predicates no premise mentions: {sorted(n for n, _ in unknown)}"
            return outcome.model_copy(update={"failure": failure})
    start = time.perf_counter()
    tool_input = {"sample": outcome.sample, "premises": premises, "conclusion": f.conclusion.formula}
    try:
        verdict = prover.entails(premises, f.conclusion.formula)
    except (FOLParseError, ProverError) as err:  # a parsed sample the prover still rejects: never crash a run
        if tracer is not None:
            tracer.emit(
                ToolCall(tool=prover.name, input=tool_input, seconds=time.perf_counter() - start, error=str(err))
            )
        return outcome.model_copy(update={"failure": f"formula rejected by {prover.name}: {err}"})
    if tracer is not None:
        tracer.emit(
            ToolCall(
                tool=prover.name,
                input=tool_input,
                output={
                    "label": verdict.label,
                    "timed_out": verdict.timed_out,
                    "inconsistent": verdict.inconsistent_premises,
                },
                seconds=time.perf_counter() - start,
            )
        )
    failure = ""
    if verdict.timed_out:
        failure = f"{prover.name} timed out; the verdict is not settled"
    elif verdict.inconsistent_premises:
        failure = "the formalized premises contradict each other"
    return outcome.model_copy(update={"verdict": verdict, "failure": failure})


async def prove_all(
    outcomes: Sequence[ProvedSample], prover: Prover, tracer: Tracer | None = None, strict_vocabulary: bool = False
) -> list[ProvedSample]:
    """Prove every formalization concurrently (solver threads); returns new records in the same order."""
    return list(
        await asyncio.gather(*[asyncio.to_thread(prove, o, prover, tracer, strict_vocabulary) for o in outcomes])
    )


__all__ = [
    "CONSENSUS",
    "LincConfig",
    "ProvedSample",
    "SampleOutcome",
    "abstain",
    "build_formalizations",
    "prove",
    "prove_all",
    "split_sentences",
    "translate_problem",
    "vote",
    "vote_consensus",
]
