"""The LINC workflow and the chain-of-thought baseline as LangGraph graphs.

    translate ──▶ formalize ──▶ prove ──▶ vote          (LINC)
    reason ──▶ vote                                      (chain of thought)

Each node is a thin wrapper over :mod:`thinkgraph.agents`; the run's :class:`RunContext` travels in
the closure, and every node marks its span in the trace.  Use :func:`solve` (async) or
:func:`solve_sync`; pass ``on_event`` to watch the trace live, or iterate :func:`astream`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, TypedDict

from thinkgraph.agents.cot import cot_samples, cot_vote
from thinkgraph.agents.linc import (
    LincConfig,
    SampleOutcome,
    abstain,
    build_formalizations,
    prove_all,
    translate_problem,
    vote,
)
from thinkgraph.agents.translator import SampleResult, SentenceTranslator
from thinkgraph.llm.base import ChatModel, ModelError
from thinkgraph.llm.managed import ManagedModel
from thinkgraph.messages import Answer, Problem, RunFinished, RunStarted, TraceEvent
from thinkgraph.provers import Prover, Z3Prover
from thinkgraph.runtime import BudgetExceeded, RunContext


class LincState(TypedDict, total=False):
    problem: Problem
    translations: list[list[SampleResult]]
    outcomes: list[SampleOutcome]
    answer: Answer


class CotState(TypedDict, total=False):
    problem: Problem
    texts: list[str]
    answer: Answer


def build_linc_graph(
    model: ChatModel, ctx: RunContext, config: LincConfig, prover: Prover, second: Prover | None = None
) -> Any:
    from langgraph.graph import END, START, StateGraph

    translator = SentenceTranslator(model, config.translator)
    tracer = ctx.tracer

    async def translate(state: LincState) -> LincState:
        with tracer.node("translate") as info:
            per_sentence = await translate_problem(state["problem"], translator)
            ok = sum(r.formula is not None for rs in per_sentence for r in rs)
            total = sum(len(rs) for rs in per_sentence)
            repaired = sum(r.repaired for rs in per_sentence for r in rs)
            info["summary"] = (
                f"{ok}/{total} samples parsed ({repaired} after a repair turn) over {len(per_sentence)} sentences"
            )
        return {"translations": per_sentence}

    async def formalize(state: LincState) -> LincState:
        with tracer.node("formalize") as info:
            outcomes = build_formalizations(state["problem"], state["translations"], config.vote)
            info["summary"] = (
                f"{sum(o.formalization is not None for o in outcomes)}/{len(outcomes)} complete formalizations"
            )
        return {"outcomes": outcomes}

    async def prove(state: LincState) -> LincState:
        with tracer.node("prove") as info:
            await prove_all(state["outcomes"], prover, tracer, config.strict_vocabulary)
            info["summary"] = ", ".join(
                o.verdict.label if o.verdict and not o.failure else "failed" for o in state["outcomes"]
            )
        return {"outcomes": state["outcomes"]}

    async def decide(state: LincState) -> LincState:
        with tracer.node("vote") as info:
            answer = await asyncio.to_thread(
                vote, state["problem"], state["outcomes"], config.threshold, second, config.check_faithfulness
            )
            info["summary"] = f"{answer.value} [{answer.status}]"
        return {"answer": answer}

    g = StateGraph(LincState)
    g.add_node("translate", translate)
    g.add_node("formalize", formalize)
    g.add_node("prove", prove)
    g.add_node("vote", decide)
    g.add_edge(START, "translate")
    g.add_edge("translate", "formalize")
    g.add_edge("formalize", "prove")
    g.add_edge("prove", "vote")
    g.add_edge("vote", END)
    return g.compile()


def build_cot_graph(model: ChatModel, ctx: RunContext, samples: int, temperature: float = 0.7) -> Any:
    from langgraph.graph import END, START, StateGraph

    tracer = ctx.tracer

    async def reason(state: CotState) -> CotState:
        with tracer.node("reason") as info:
            texts = await cot_samples(model, state["problem"], samples, temperature)
            info["summary"] = f"{len(texts)} samples"
        return {"texts": texts}

    async def decide(state: CotState) -> CotState:
        with tracer.node("vote") as info:
            answer = cot_vote(state["problem"], state["texts"])
            info["summary"] = f"{answer.value} [{answer.status}]"
        return {"answer": answer}

    g = StateGraph(CotState)
    g.add_node("reason", reason)
    g.add_node("vote", decide)
    g.add_edge(START, "reason")
    g.add_edge("reason", "vote")
    g.add_edge("vote", END)
    return g.compile()


async def solve(
    problem: Problem,
    model: ChatModel,
    *,
    workflow: Literal["linc", "cot"] = "linc",
    config: LincConfig | None = None,
    prover: Prover | None = None,
    second_prover: Prover | None = None,
    ctx: RunContext | None = None,
    on_event: Callable[[TraceEvent], None] | None = None,
) -> Answer:
    """Answer ``problem``: True / False / Uncertain with evidence, or an abstention with its reason.

    Errors caused by the model (garbage, a failed backend, an exhausted budget) end in an
    ``abstained`` answer; only developer errors (bad arguments) raise.
    """
    ctx = ctx or RunContext()
    config = config or LincConfig()
    unsubscribe = ctx.tracer.subscribe(on_event) if on_event else None
    managed = model if isinstance(model, ManagedModel) else ManagedModel(model, ctx)
    start = time.perf_counter()
    ctx.tracer.emit(RunStarted(workflow=workflow, inputs=problem.model_dump(mode="json")))
    try:
        if workflow == "linc":
            graph = build_linc_graph(managed, ctx, config, prover or Z3Prover(config.prover_timeout_s), second_prover)
        elif workflow == "cot":
            graph = build_cot_graph(managed, ctx, config.translator.samples, config.translator.temperature)
        else:
            raise ValueError(f"unknown workflow {workflow!r}; use 'linc' or 'cot'")
        try:
            state = await graph.ainvoke({"problem": problem})
            answer: Answer = state["answer"]
        except BudgetExceeded as exc:
            answer = abstain(problem, str(exc))
        except ModelError as exc:
            answer = abstain(problem, f"model failed: {type(exc).__name__}: {exc}")
        ctx.tracer.emit(
            RunFinished(
                seconds=time.perf_counter() - start,
                output={"answer": answer.model_dump(mode="json"), "usage": ctx.ledger.as_dict()},
            )
        )
        return answer
    finally:
        if unsubscribe:
            unsubscribe()


def solve_sync(problem: Problem, model: ChatModel, **kw: Any) -> Answer:
    """:func:`solve` for code without an event loop."""
    return asyncio.run(solve(problem, model, **kw))


async def astream(problem: Problem, model: ChatModel, **kw: Any) -> AsyncIterator[TraceEvent | Answer]:
    """Run :func:`solve` and yield its trace events as they happen, then the :class:`Answer` last.

    This is the feed a chat interface shows live; the saved trace is the same sequence.
    """
    ctx: RunContext = kw.pop("ctx", None) or RunContext()
    task = asyncio.create_task(solve(problem, model, ctx=ctx, **kw))
    task.add_done_callback(lambda _t: ctx.tracer.close())
    async for event in ctx.tracer.stream():
        yield event
    yield await task
