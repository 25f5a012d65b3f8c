"""The LangGraph node that runs one workflow node: typed inputs in, validated messages out, traced."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from thinkgraph.graphs.errors import NodeRunError, RunSetupError, RunUsageError, StepLimitReached
from thinkgraph.graphs.node import NodeContext, NodeSpec
from thinkgraph.graphs.state import State
from thinkgraph.graphs.workflow import Workflow, norm_case
from thinkgraph.messages import Message, NodeFailed, NodeFinished, NodeStarted, RouteChosen
from thinkgraph.runtime import BudgetExceeded, RunContext, current_node, current_run

try:
    from langgraph.errors import GraphBubbleUp
except ImportError:  # pragma: no cover - langgraph is a dependency
    GraphBubbleUp = BaseException  # type: ignore[misc,assignment]

_PASS_THROUGH: tuple[type[BaseException], ...] = ()


class NodeOutputError(TypeError):
    """A node returned something it did not declare (a developer error in the node)."""


def _pass_through() -> tuple[type[BaseException], ...]:
    """Errors a node raises that are not the node failing: budgets, step limits, models (typed by the run),
    set-up failures and developer errors (raised to the caller)."""
    from thinkgraph.llm.base import ModelError

    return (BudgetExceeded, StepLimitReached, ModelError, RunSetupError, RunUsageError, NodeOutputError, NodeRunError)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class _NodeRunner:
    """The LangGraph node for one workflow node: reads typed inputs, runs, validates and writes outputs."""

    def __init__(self, wf: Workflow, name: str, spec: NodeSpec) -> None:
        use = wf.nodes[name]
        self.name = name
        self.spec = spec
        self.params = spec.params.model_validate(use.params)
        self.call = spec.instantiate(self.params)
        target: Any = spec.fn.__call__ if spec.is_class else spec.fn  # type: ignore[operator]
        self.pass_ctx = _accepts(target, "ctx")
        self.pass_params = _accepts(target, "params")
        self.max_steps = wf.max_steps
        self.route = next((r for r in wf.routes if r.source == name), None)
        self.needs_model = "model" in spec.needs
        self.read_kinds = spec.read_kinds

    def _inputs(self, state: Any, ctx: RunContext) -> dict[str, Any]:
        messages = state.get("messages", {})
        kwargs: dict[str, Any] = {}
        for r, kind in zip(self.spec.reads, self.read_kinds, strict=True):
            entries = messages.get(kind, [])
            if r.many:
                kwargs[r.name] = [_decode(r.type, e["data"], ctx) for e in entries]
            elif entries:
                kwargs[r.name] = _decode(r.type, entries[-1]["data"], ctx)
            elif r.optional:
                kwargs[r.name] = None
            else:
                raise NodeRunError(self.name, f"({self.spec.name}) needs a {r.kind} message and none was written")
        return kwargs

    def _outputs(self, result: Any) -> list[Message]:
        if result is None:
            items: list[Any] = []
        elif isinstance(result, list | tuple):
            items = list(result)
        else:
            items = [result]
        allowed = self.spec.writes
        for m in items:
            if not isinstance(m, Message) or (allowed and not isinstance(m, allowed)):
                declared = ", ".join(t.__name__ for t in allowed) or "nothing"
                raise NodeOutputError(
                    f"node {self.name} ({self.spec.name}) returned {type(m).__name__}; it declares it writes {declared}"
                )
        return items

    def _choose(self, outputs: list[Message], ctx: RunContext) -> str:
        assert self.route is not None
        r = self.route
        value: Any = None
        found = False
        for m in outputs:
            if r.on in type(m).model_fields:
                value, found = getattr(m, r.on), True
                break
        key = norm_case(value) if found else "null"
        target = r.cases.get(key, r.default)
        reason = ""
        for m in outputs:
            reason = str(getattr(m, "reason", "") or "")
            if reason:
                break
        if target is None:
            cases = ", ".join(r.cases)
            raise NodeRunError(self.name, f"route on {r.on}={key!r} matches no case ({cases}) and there is no default")
        ctx.tracer.emit(RouteChosen(node=self.name, on=r.on, value=key, target=target, reason=reason))
        return target

    def _update(self, outputs: list[Message], ctx: RunContext) -> dict[str, Any]:
        """The state update: each message as plain JSON (validated by its type), and the route taken."""
        update: dict[str, Any] = {"messages": {}}
        if self.max_steps is not None:
            update["steps"] = 1
        at = time.time_ns()
        for i, m in enumerate(outputs):
            data = m.model_dump(mode="json")
            ctx.decoded[id(data)] = (data, m)  # later reads in this process reuse the object
            update["messages"].setdefault(m.kind, []).append({"node": self.name, "at": at + i, "data": data})
        if self.route is not None:
            update["routes"] = {self.name: self._choose(outputs, ctx)}
        return update

    async def __call__(self, state: Any, runtime: Any) -> dict[str, Any]:
        ctx: RunContext = runtime.context
        if self.max_steps is not None and state.get("steps", 0) >= self.max_steps:
            raise StepLimitReached(self.max_steps, self.name)
        run_token = current_run.set(ctx)
        node_token = current_node.set(self.name)
        tracer = ctx.tracer
        start = time.perf_counter()
        try:
            if self.needs_model and ctx.model_for(self.name) is None:
                raise RunSetupError(
                    f"node {self.name} ({self.spec.name}) needs a model: pass model=... or --model SPEC"
                )
            ctx.ledger.mark_node_start(self.name)
            tracer.emit(NodeStarted(node=self.name))
            try:
                kwargs = self._inputs(state, ctx)
                if self.pass_ctx:
                    kwargs["ctx"] = NodeContext(self.name, ctx, self.spec)
                if self.pass_params:
                    kwargs["params"] = self.params
                outputs = self._outputs(await self.call(**kwargs))
                update = self._update(outputs, ctx)
            except GraphBubbleUp:  # an interrupt: the node pauses, it has not failed
                raise
            except BaseException as exc:
                tracer.emit(
                    NodeFailed(
                        node=self.name,
                        seconds=time.perf_counter() - start,
                        error=str(exc) or type(exc).__name__,
                        error_type=type(exc).__name__,
                    )
                )
                if isinstance(exc, Exception) and not isinstance(exc, _PASS_THROUGH):
                    raise NodeRunError(self.name, f"{type(exc).__name__}: {exc}") from exc
                raise
            summary = "; ".join(_summary(m) for m in outputs)
            tracer.emit(NodeFinished(node=self.name, seconds=time.perf_counter() - start, summary=summary))
            ctx.outputs.extend((self.name, m) for m in outputs)
            return update
        finally:
            current_node.reset(node_token)
            current_run.reset(run_token)


def _decode(cls: type[Message], data: dict[str, Any], ctx: RunContext) -> Message:
    """The message a state entry holds: the object a node of this run wrote, else validated anew."""
    hit = ctx.decoded.get(id(data))
    if hit is not None and hit[0] is data and isinstance(hit[1], cls):
        return hit[1]
    return cls.model_validate(data)


_HAS_SUMMARY: dict[type, bool] = {}


def _summary(m: Message) -> str:
    """One line for the trace: the message's ``summary()`` if it has one, else its kind."""
    cls = type(m)
    has = _HAS_SUMMARY.get(cls)
    if has is None:  # looked up once per class (a missing attribute on a pydantic model is slow to miss)
        has = _HAS_SUMMARY[cls] = callable(getattr(cls, "summary", None))
    if has:
        try:
            return str(m.summary())  # type: ignore[attr-defined]
        except Exception:  # a user's summary() must not fail the node
            return m.kind
    return m.kind


def _route_fn(source: str) -> Callable[[State], str]:
    def choose(state: State) -> str:
        return state.get("routes", {}).get(source, "__end__")

    choose.__name__ = f"route_{source.replace('.', '_')}"
    return choose


_PASS_THROUGH = _pass_through()

__all__ = ["NodeOutputError"]
