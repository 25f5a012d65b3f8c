"""``solve``: answer a logic problem with a workflow — the entry point existing callers use.

    answer = solve_sync(problem, load_model("local"))                       # LINC
    answer = solve_sync(problem, model, workflow="cot")                      # chain of thought
    answer = solve_sync(problem, model, workflow="examples/auto.yaml")       # any YAML workflow
    answer = solve_sync(problem, model, workflow=my_workflow)                # a Workflow built in Python

The workflow is compiled once and cached; ``config`` (a :class:`LincConfig`) sets the parameters of
the built-in LINC and CoT nodes.  Whatever the run's ending, an :class:`Answer` comes back: an
exhausted budget, a failing model or a step limit give an abstention that says why and keeps the
evidence gathered so far.  Set-up failures (a model that cannot load, an unknown workflow) raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from thinkgraph.agents.linc import LincConfig
from thinkgraph.graphs.compiled import CompiledWorkflow, RunResult
from thinkgraph.graphs.library import resolve
from thinkgraph.graphs.workflow import Workflow
from thinkgraph.llm.base import ChatModel
from thinkgraph.logic.records import Answer, Problem
from thinkgraph.messages import TraceEvent
from thinkgraph.nodes.linc import answer_of
from thinkgraph.provers import Prover
from thinkgraph.runtime import RunContext

WorkflowSpec = str | Path | Workflow | CompiledWorkflow


def config_overrides(workflow: WorkflowSpec, config: LincConfig | None) -> dict[str, Any]:
    """``NODE.PARAM`` overrides that apply ``config`` to the built-in LINC / CoT nodes of ``workflow``."""
    if config is None:
        return {}
    if not isinstance(config, LincConfig):
        raise TypeError(f"config must be a LincConfig, not {type(config).__name__}")
    from thinkgraph.graphs.library import get_workflow

    wf = get_workflow(workflow)
    wf = wf.workflow if isinstance(wf, CompiledWorkflow) else wf
    out: dict[str, Any] = {}
    t = config.translator
    for name, use in wf.nodes.items():
        if use.use == "linc.translate":
            out.update({f"{name}.{k}": v for k, v in t.model_dump().items()})
        elif use.use == "linc.prove":
            out.update(
                {
                    f"{name}.vote": config.vote,
                    f"{name}.timeout_s": config.prover_timeout_s,
                    f"{name}.strict_vocabulary": config.strict_vocabulary,
                }
            )
        elif use.use == "linc.vote":
            out.update(
                {
                    f"{name}.threshold": config.threshold,
                    f"{name}.check_faithfulness": config.check_faithfulness,
                    f"{name}.uncertain": config.uncertain,
                    f"{name}.timeout_s": config.prover_timeout_s,
                }
            )
        elif use.use == "cot.reason":
            out.update({f"{name}.samples": t.samples, f"{name}.temperature": t.temperature})
    return out


async def run_problem(
    problem: Problem,
    model: ChatModel | str | None,
    *,
    workflow: WorkflowSpec = "linc",
    config: LincConfig | None = None,
    prover: Prover | None = None,
    second_prover: Prover | None = None,
    ctx: RunContext | None = None,
    on_event: Callable[[TraceEvent], None] | None = None,
    **run_kw: Any,
) -> RunResult:
    """Run ``workflow`` on ``problem`` and return the typed :class:`RunResult`."""
    compiled = resolve(workflow, config_overrides(workflow, config))
    if compiled.output_kind != "answer":
        from thinkgraph.graphs.errors import RunUsageError

        raise RunUsageError(
            f"solve() answers logic problems, but workflow {compiled.name} outputs "
            f"{compiled.output_kind or 'no single message type'}: run it with CompiledWorkflow.run instead"
        )
    return await compiled.run(
        problem, model=model, prover=prover, second_prover=second_prover, ctx=ctx, on_event=on_event, **run_kw
    )


async def solve(
    problem: Problem,
    model: ChatModel | str | None,
    *,
    workflow: WorkflowSpec = "linc",
    config: LincConfig | None = None,
    prover: Prover | None = None,
    second_prover: Prover | None = None,
    ctx: RunContext | None = None,
    on_event: Callable[[TraceEvent], None] | None = None,
) -> Answer:
    """Answer ``problem``: True / False / Uncertain with evidence, or an abstention with its reason."""
    result = await run_problem(
        problem,
        model,
        workflow=workflow,
        config=config,
        prover=prover,
        second_prover=second_prover,
        ctx=ctx,
        on_event=on_event,
    )
    return answer_of(result, problem)


def solve_sync(problem: Problem, model: ChatModel | str | None, **kw: Any) -> Answer:
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


__all__ = ["astream", "config_overrides", "run_problem", "solve", "solve_sync"]
