"""A checked workflow compiled to LangGraph once, and the runs it makes.

The graph state is plain JSON (messages as dicts, keyed by kind), so checkpoints never unpickle
anything; every message is validated when a node writes it and again when a node reads it.  The run
context (models per node, provers, tracer, ledger, budgets) travels per run through LangGraph's run
``context`` — one compiled graph serves any number of concurrent runs.

A run ends typed (:class:`RunResult.ending`):

* ``answered`` / ``abstained`` — the output message (``abstained`` when it says so);
* ``budget_exhausted`` — a run or node budget ran out; the messages of finished nodes are kept;
* ``step_limit`` — a loop reached ``max_steps``; the state reached is kept;
* ``interrupted`` — a node waits for a person (resume with ``resume=...``);
* ``failed`` — a model kept failing after its retries; the error and the messages so far are kept.

Set-up failures (no model for a node that needs one, weights not installed, a bad input) raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from thinkgraph.graphs.checkpoints import fingerprint as _fingerprint
from thinkgraph.graphs.checkpoints import input_hash as _input_hash
from thinkgraph.graphs.checkpoints import open_checkpointer
from thinkgraph.graphs.errors import NodeRunError, RunUsageError, StepLimitReached
from thinkgraph.graphs.node import NodeSpec, get_node
from thinkgraph.graphs.noderun import NodeOutputError, _NodeRunner, _route_fn
from thinkgraph.graphs.state import INPUT, Ending, RunResult, State, _state_messages, _state_schema
from thinkgraph.graphs.workflow import END, Workflow, has_cycle
from thinkgraph.messages import (
    Message,
    MessageError,
    Note,
    RunFinished,
    RunStarted,
    TraceEvent,
    load_message,
    message_type,
)
from thinkgraph.runtime import BudgetExceeded, RunContext


class CompiledWorkflow:
    """A validated workflow compiled to LangGraph once.  Run it with :meth:`run` (async),
    :meth:`run_sync`, or :meth:`astream` (trace events live, then the :class:`RunResult`)."""

    def __init__(self, workflow: Workflow) -> None:
        from langgraph.graph import END as LG_END
        from langgraph.graph import START, StateGraph

        self.workflow = workflow
        self.name = workflow.name
        self.input_type = message_type(workflow.input)
        self.specs: dict[str, NodeSpec] = {}
        g: Any = StateGraph(
            _state_schema(bool(workflow.routes), workflow.max_steps is not None), context_schema=RunContext
        )
        for name, use in workflow.nodes.items():
            spec = get_node(use.use)
            assert spec is not None  # checked by validate()
            self.specs[name] = spec
            g.add_node(name, _NodeRunner(workflow, name, spec))
        for start in workflow.start_nodes:  # several start nodes run in parallel
            g.add_edge(START, start)
        has_out: set[str] = set()
        for e in workflow.edges:
            target = LG_END if e.target == END else e.target
            if len(e.sources) == 1:
                g.add_edge(e.sources[0], target)
            else:
                g.add_edge(list(e.sources), target)
            has_out.update(e.sources)
        for r in workflow.routes:
            targets = {*r.cases.values(), *([r.default] if r.default else [])}
            path_map = {t: (LG_END if t == END else t) for t in targets}
            path_map["__end__"] = LG_END
            g.add_conditional_edges(r.source, _route_fn(r.source), path_map)
            has_out.add(r.source)
        for name in workflow.nodes:
            if name not in has_out:
                g.add_edge(name, LG_END)
        self.graph = g.compile()
        self.output_kind = workflow.output or self._infer_output(has_out)
        self.looping = has_cycle(workflow)
        self.recursion_limit = (workflow.max_steps or len(workflow.nodes)) + 3
        self.node_models = {n: u.model for n, u in workflow.nodes.items() if u.model}
        self.pausing = [n for n, spec in self.specs.items() if spec.interrupts]
        self._loaded: dict[str, Any] = {}

    def _infer_output(self, has_out: set[str]) -> str | None:
        terminal = [n for n in self.workflow.nodes if n not in has_out]
        kinds = {k for n in terminal for k in self.specs[n].write_kinds}
        return kinds.pop() if len(kinds) == 1 else None

    # ------------------------------------------------------------------ running

    def coerce_input(self, data: Message | Mapping[str, Any]) -> Message:
        """The workflow's input message from a message or a JSON object; :class:`RunSetupError` if invalid."""
        if isinstance(data, Message):
            if not isinstance(data, self.input_type):
                raise RunUsageError(f"workflow {self.name} takes a {self.workflow.input} message, not {data.kind}")
            return data
        if not isinstance(data, Mapping):
            raise RunUsageError(
                f"input must be a {self.workflow.input} message or a JSON object, not {type(data).__name__}"
            )
        payload = dict(data)
        payload.setdefault("kind", self.workflow.input)
        if payload["kind"] != self.workflow.input:
            raise RunUsageError(f"workflow {self.name} takes a {self.workflow.input} message, not {payload['kind']}")
        try:
            return load_message(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or '(the object)'}: {e['msg']}"
                for e in exc.errors()
                if e["loc"] != ("kind",)
            )
            raise RunUsageError(f"invalid {self.workflow.input} input: {problems}") from exc
        except (MessageError, ValueError) as exc:
            raise RunUsageError(f"invalid {self.workflow.input} input: {exc}") from exc

    def _models(
        self, model: Any, models: Mapping[str, Any] | None, cache: str | Path | None = None
    ) -> dict[str, Any]:
        if not self.node_models and not models and not isinstance(model, str):
            return {} if model is None else {"default": model}  # the common case, without the spec machinery
        from thinkgraph.llm import load_model

        out: dict[str, Any] = {}
        if model is not None:
            out["default"] = load_model(model, cache=cache) if isinstance(model, str) else model
        for node_name, spec in self.node_models.items():
            key = f"{spec}\0{cache or ''}"
            if key not in self._loaded:
                self._loaded[key] = load_model(spec, cache=cache)
            out[node_name] = self._loaded[key]
        for node_name, m in (models or {}).items():
            out[node_name] = load_model(m, cache=cache) if isinstance(m, str) else m
        return out

    async def run(
        self,
        input: Message | Mapping[str, Any] | None,
        *,
        model: Any = None,
        models: Mapping[str, Any] | None = None,
        prover: Any = None,
        second_prover: Any = None,
        ctx: RunContext | None = None,
        on_event: Callable[[TraceEvent], None] | None = None,
        checkpoint: str | Path | None = None,
        thread: str | None = None,
        resume: Any = None,
        cache: str | Path | None = None,
    ) -> RunResult:
        """Run one input to its end (see the module docstring for the endings).

        ``model`` is the default model (a :class:`~thinkgraph.llm.ChatModel` or a spec string); nodes
        with their own ``model`` in the workflow use that.  With ``checkpoint`` (a SQLite file) and
        ``thread``, state is saved after every node: the same call again resumes after the last finished
        node, a finished thread returns its stored result at once, and ``resume`` answers an interrupt.
        ``cache`` (a SQLite file) wraps every model named by a spec — the workflow's per-node models too — in
        the sample cache.
        """
        ctx = ctx or RunContext()
        if (checkpoint is None) != (thread is None):
            raise RunUsageError("checkpoint and thread go together: pass both or neither")
        if resume is not None and checkpoint is None:
            raise RunUsageError("resume needs the checkpoint and thread of the interrupted run")
        message = self.coerce_input(input) if input is not None else None
        ctx.models.update(self._models(model, models, cache))
        if prover is not None:
            ctx.provers["main"] = prover
        if second_prover is not None:
            ctx.provers["second"] = second_prover
        for name, use in self.workflow.nodes.items():
            if use.budget is not None:
                ctx.ledger.node_budgets[name] = use.budget
        if self.workflow.budget is not None and ctx.ledger.budget.is_empty():
            ctx.ledger.budget = self.workflow.budget
        unsubscribe = ctx.tracer.subscribe(on_event) if on_event else None
        try:
            if checkpoint is None and self.pausing:
                raise RunUsageError(
                    f"workflow {self.name} has nodes that pause for a person ({', '.join(self.pausing)}); "
                    "a paused run resumes from a checkpoint: pass checkpoint=/--checkpoint DB and thread=/--thread ID"
                )
            if checkpoint is not None:
                assert thread is not None
                return await self._run_checkpointed(message, ctx, Path(checkpoint), thread, resume)
            if message is None:
                raise RunUsageError(f"workflow {self.name} needs a {self.workflow.input} input")
            return await self._invoke(self.graph, message, ctx, {}, None)
        finally:
            if unsubscribe:
                unsubscribe()

    def run_sync(self, input: Message | Mapping[str, Any] | None, **kw: Any) -> RunResult:
        """:meth:`run` for code without an event loop."""
        return asyncio.run(self.run(input, **kw))

    async def astream(self, input: Message | Mapping[str, Any], **kw: Any) -> AsyncIterator[TraceEvent | RunResult]:
        """Trace events as they happen, then the :class:`RunResult` last (what a chat UI shows live)."""
        ctx: RunContext = kw.pop("ctx", None) or RunContext()
        task = asyncio.create_task(self.run(input, ctx=ctx, **kw))
        task.add_done_callback(lambda _t: ctx.tracer.close())
        async for event in ctx.tracer.stream():
            yield event
        yield await task

    def _initial(self, message: Message, data: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        ctx.decoded[id(data)] = (data, message)
        state: dict[str, Any] = {"messages": {message.kind: [{"node": INPUT, "at": 0, "data": data}]}}
        if self.workflow.routes:
            state["routes"] = {}
        if self.workflow.max_steps is not None:
            state["steps"] = 0
        return state

    async def _invoke(
        self, graph: Any, inp: Any, ctx: RunContext, config: dict[str, Any], thread: str | None
    ) -> RunResult:
        from langgraph.errors import GraphRecursionError

        from thinkgraph.llm.base import ModelError, ModelUnavailable

        start = time.perf_counter()
        inputs = inp.model_dump(mode="json") if isinstance(inp, Message) else {}
        ctx.tracer.emit(RunStarted(workflow=self.name, inputs=inputs))
        cfg = {**config, "recursion_limit": self.recursion_limit}
        prior = self._prior(inp)
        mark = len(ctx.outputs)  # a context reused for several runs: only this run's messages
        ending: Ending
        state: dict[str, Any] | None = None
        error = ""
        interrupt: dict[str, Any] | None = None
        try:
            payload = self._initial(inp, inputs, ctx) if isinstance(inp, Message) else inp
            # with a checkpointer, each node's state is on disk before the next node starts (SIGKILL-safe)
            durability = "sync" if thread is not None else None
            state = await graph.ainvoke(payload, cfg, context=ctx, durability=durability)
        except BudgetExceeded as exc:
            ending, error = "budget_exhausted", str(exc)
        except StepLimitReached as exc:
            ending, error = "step_limit", str(exc)
        except GraphRecursionError as exc:
            ending, error = "step_limit", f"step limit reached: {exc}"
        except ModelUnavailable:
            raise
        except ModelError as exc:
            ending, error = "failed", f"model failed: {type(exc).__name__}: {exc}"
        except NodeRunError as exc:
            ending, error = "failed", str(exc)
        messages_state = state
        if state is None and thread is not None:  # ended early: what every process wrote is in the checkpoint
            with contextlib.suppress(Exception):
                snapshot = await graph.aget_state(config)
                if snapshot.values and "messages" in snapshot.values:
                    messages_state, prior = {"messages": snapshot.values["messages"]}, []
        messages = self._messages(messages_state, prior, ctx.outputs[mark:])
        output = None
        if state is not None:
            pending = state.get("__interrupt__") if isinstance(state, dict) else None
            if pending:
                ending = "interrupted"
                first = pending[0]
                value = getattr(first, "value", first)
                interrupt = value if isinstance(value, dict) else {"value": value}
            else:
                output = self._output(messages)
                ending, error = self._ending_for(output, "the run")
        seconds = time.perf_counter() - start
        usage = ctx.ledger.as_dict()
        result = RunResult(
            run_id=ctx.run_id,
            workflow=self.name,
            ending=ending,
            output=output,
            messages=messages,
            error=error,
            interrupt=interrupt,
            usage=usage,
            seconds=seconds,
            thread=thread,
        )
        ctx.tracer.emit(
            RunFinished(
                seconds=seconds,
                ending=ending,
                output={
                    "output": output.model_dump(mode="json") if output is not None else None,
                    "error": error,
                    "usage": usage,
                },
            )
        )
        return result

    def _prior(self, inp: Any) -> list[tuple[str, Message]]:
        return [(INPUT, inp)] if isinstance(inp, Message) else []

    def _messages(
        self, state: dict[str, Any] | None, prior: list[tuple[str, Message]], written: list[tuple[str, Message]]
    ) -> list[tuple[str, Message]]:
        """Messages in order: from the final graph state when there is one (it includes what earlier
        processes wrote before a resume), else the input and what finished nodes wrote in this process."""
        if state is None or "messages" not in state or prior:
            # a fresh run in this process: the objects the nodes returned, no need to load them again
            return [*prior, *written]
        return _state_messages(state)

    def _output(self, messages: list[tuple[str, Message]]) -> Message | None:
        if self.output_kind is not None:
            for _n, m in reversed(messages):
                if m.kind == self.output_kind:
                    return m
            return None
        written = [m for n, m in messages if n != INPUT]
        return written[-1] if written else None

    # ------------------------------------------------------------------ checkpoints

    async def _run_checkpointed(
        self, message: Message | None, ctx: RunContext, db: Path, thread: str, resume: Any
    ) -> RunResult:
        from langgraph.types import Command

        async with open_checkpointer(db) as saver:
            graph = self.graph.copy(update={"checkpointer": saver})
            config: dict[str, Any] = {"configurable": {"thread_id": thread}}
            snapshot = await graph.aget_state(config)
            stored = dict(snapshot.values or {})
            meta_key = _fingerprint(self.workflow)
            if stored:
                owner = (snapshot.metadata or {}).get("thinkgraph_workflow")
                if owner and owner != meta_key:
                    raise RunUsageError(
                        f"thread {thread!r} in {db} belongs to another workflow; use a new --thread for {self.name}"
                    )
            stored_input = (snapshot.metadata or {}).get("thinkgraph_input") if stored else None
            given_input = _input_hash(message) if message is not None else None
            if stored_input and given_input and stored_input != given_input:
                raise RunUsageError(
                    f"thread {thread!r} in {db} holds the run of another input; use a new --thread for this one"
                )
            config["metadata"] = {"thinkgraph_workflow": meta_key, "thinkgraph_input": stored_input or given_input}
            if resume is not None:
                if not snapshot.next:
                    raise RunUsageError(f"thread {thread!r} has nothing waiting to be resumed")
                return await self._invoke(graph, Command(resume=resume), ctx, config, thread)
            if stored and not snapshot.next:
                return self._stored_result(stored, ctx, thread)
            if stored and snapshot.next:
                pending = [i for t in snapshot.tasks for i in getattr(t, "interrupts", ())]
                if pending:
                    value = getattr(pending[0], "value", pending[0])
                    return RunResult(
                        run_id=ctx.run_id,
                        workflow=self.name,
                        ending="interrupted",
                        output=None,
                        messages=_state_messages(stored),
                        interrupt=value if isinstance(value, dict) else {"value": value},
                        thread=thread,
                        from_checkpoint=True,
                    )
                ctx.tracer.emit(
                    Note(text=f"thread {thread}: resuming after the last finished node, at {', '.join(snapshot.next)}")
                )
                return await self._invoke(graph, None, ctx, config, thread)
            if message is None:
                raise RunUsageError(f"thread {thread!r} is new: give the {self.workflow.input} input")
            return await self._invoke(graph, message, ctx, config, thread)

    def _ending_for(self, output: Message | None, what: str) -> tuple[Ending, str]:
        """How a run that reached its end ended: abstained when its output says so, failed without one."""
        if output is None and self.output_kind is not None:
            return "failed", f"{what} ended without writing its output ({self.output_kind})"
        return ("abstained" if output is not None and output.abstained() else "answered"), ""

    def _stored_result(self, stored: dict[str, Any], ctx: RunContext, thread: str) -> RunResult:
        messages = _state_messages(stored)
        output = self._output(messages)
        ending, error = self._ending_for(output, "the stored run")
        return RunResult(
            run_id=ctx.run_id,
            workflow=self.name,
            ending=ending,
            output=output,
            messages=messages,
            error=error,
            thread=thread,
            from_checkpoint=True,
        )


__all__ = ["CompiledWorkflow", "Ending", "NodeOutputError", "RunResult", "State", "open_checkpointer"]
