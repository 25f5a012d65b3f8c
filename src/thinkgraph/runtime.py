"""Run-scoped plumbing: the trace (a live event stream), the usage ledger and budgets.

A :class:`RunContext` is created per run and passed explicitly to agents; nothing here is global.
The node a model call belongs to is tracked with a ``contextvars.ContextVar`` so that concurrent
nodes attribute their calls correctly.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkgraph.messages import TRACE_EVENT, Message, NodeFailed, NodeFinished, NodeStarted, TraceEvent, Usage

_ids = random.Random()  # seeded from os.urandom; ids need uniqueness, not secrecy (uuid4 costs a syscall)


def new_id(hex_digits: int = 12) -> str:
    """A random hexadecimal id (fast; for run and call ids)."""
    return f"{_ids.getrandbits(4 * hex_digits):0{hex_digits}x}"


current_node: contextvars.ContextVar[str] = contextvars.ContextVar("thinkgraph_node", default="")
current_run: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("thinkgraph_run", default=None)


class BudgetExceeded(RuntimeError):
    """A run hit one of its limits (model calls, tokens, seconds).  Ends the run with a named result."""

    def __init__(self, what: str, limit: float) -> None:
        super().__init__(f"budget exceeded: {what} limit {limit:g}")
        self.what = what
        self.limit = limit


class RunContextMismatch(RuntimeError):
    """A model wrapper bound to one run was used inside another run (its calls would be mis-accounted)."""


class Tracer:
    """Collects trace events and pushes each one to subscribers as it happens.

    ``subscribe(fn)`` calls ``fn(event)`` synchronously; ``async for e in tracer.stream()`` yields
    events live until :meth:`close`.  The saved trace (``save``) is the same sequence.
    """

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or new_id(12)
        self.events: list[TraceEvent] = []
        # subscribers and live streams are immutable tuples, replaced under the lock: emit reads them as they are
        self._subs: tuple[Callable[[TraceEvent], None], ...] = ()
        self._lock = threading.Lock()
        self._closed = False
        self._queues: tuple[tuple[asyncio.AbstractEventLoop, asyncio.Queue[TraceEvent | None]], ...] = ()

    def subscribe(self, fn: Callable[[TraceEvent], None]) -> Callable[[], None]:
        with self._lock:
            self._subs = (*self._subs, fn)

        def unsubscribe() -> None:
            with self._lock:
                subs = list(self._subs)
                if fn in subs:
                    subs.remove(fn)
                self._subs = tuple(subs)

        return unsubscribe

    def emit(self, event: TraceEvent) -> TraceEvent:
        if not event.run_id:  # fill in the run and node of a fresh event (cheaper than a copy)
            object.__setattr__(event, "run_id", self.run_id)
        if not event.node:
            object.__setattr__(event, "node", current_node.get())
        with self._lock:
            self.events.append(event)
            subs = self._subs
            queues = self._queues
        for fn in subs:
            fn(event)
        for loop, queue in queues:
            loop.call_soon_threadsafe(queue.put_nowait, event)
        return event

    async def stream(self) -> AsyncIterator[TraceEvent]:
        """Yield every event (past ones first, then live ones) until the tracer is closed."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[TraceEvent | None] = asyncio.Queue()
        sink = (loop, queue)
        with self._lock:
            for e in self.events:
                queue.put_nowait(e)
            if self._closed:
                queue.put_nowait(None)
            else:
                self._queues = (*self._queues, sink)
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            with self._lock:
                self._queues = tuple(q for q in self._queues if q is not sink)

    def close(self) -> None:
        """End the live stream; later events are still recorded."""
        with self._lock:
            self._closed = True
            queues, self._queues = self._queues, ()
        for loop, queue in queues:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    def save(self, path: str | Path) -> None:
        """Write the trace as JSON Lines, one event per line."""
        with open(path, "w", encoding="utf-8") as fh:
            for e in self.events:
                fh.write(TRACE_EVENT.dump_json(e).decode() + "\n")

    @staticmethod
    def load(path: str | Path) -> list[TraceEvent]:
        with open(path, encoding="utf-8") as fh:
            return [TRACE_EVENT.validate_json(line) for line in fh if line.strip()]

    @contextlib.contextmanager
    def node(self, name: str) -> Iterator[dict[str, Any]]:
        """Mark a node's span: emits NodeStarted/NodeFinished and attributes model calls to ``name``."""
        token = current_node.set(name)
        start = time.perf_counter()
        self.emit(NodeStarted(node=name))
        info: dict[str, Any] = {"summary": ""}
        try:
            yield info
        except BaseException as exc:
            self.emit(
                NodeFailed(
                    node=name,
                    seconds=time.perf_counter() - start,
                    error=str(exc) or type(exc).__name__,
                    error_type=type(exc).__name__,
                )
            )
            raise
        else:
            self.emit(NodeFinished(node=name, seconds=time.perf_counter() - start, summary=str(info["summary"])))
        finally:
            current_node.reset(token)


@dataclass
class UsageLine:
    calls: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost: float | None = None
    retries: int = 0  # attempts after a retryable error
    failed: int = 0  # calls that ended in an error after their retries


@dataclass(frozen=True)
class Budget:
    """Limits for a run or for one node: model calls, tokens (prompt + completion), seconds."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_tokens", "max_seconds"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"Budget.{name} must be a number >= 0 or None, not {value!r}")

    def is_empty(self) -> bool:
        return self.max_calls is None and self.max_tokens is None and self.max_seconds is None


def _check_line(line: UsageLine, budget: Budget, elapsed: float, scope: str) -> None:
    if budget.max_calls is not None and line.calls >= budget.max_calls:
        raise BudgetExceeded(f"{scope}model calls", budget.max_calls)
    if budget.max_tokens is not None and line.prompt_tokens + line.completion_tokens >= budget.max_tokens:
        raise BudgetExceeded(f"{scope}tokens", budget.max_tokens)
    if budget.max_seconds is not None and elapsed >= budget.max_seconds:
        raise BudgetExceeded(f"{scope}seconds", budget.max_seconds)


@dataclass
class Ledger:
    """Model usage per node and for the whole run; checks the run's and the node's budget before each call."""

    budget: Budget = field(default_factory=Budget)
    node_budgets: dict[str, Budget] = field(default_factory=dict)
    by_node: dict[str, UsageLine] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    node_started: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, node: str | None = None) -> None:
        """Raise :class:`BudgetExceeded` when the run (or ``node``, default: the current node) is spent."""
        node = current_node.get() if node is None else node
        nb = self.node_budgets.get(node)
        if nb is None and self.budget.is_empty():
            return
        now = time.perf_counter()
        _check_line(self.total(), self.budget, now - self.started, "")
        if nb is not None:
            with self._lock:
                line = self.by_node.get(node, UsageLine())
            _check_line(line, nb, now - self.node_started.get(node, now), f"node {node}: ")

    def mark_node_start(self, node: str) -> None:
        self.node_started.setdefault(node, time.perf_counter())

    def record(self, node: str, usage: Usage, seconds: float, samples: int = 1, cost: float | None = None) -> None:
        with self._lock:
            line = self.by_node.setdefault(node or "(none)", UsageLine())
            line.calls += 1
            line.samples += samples
            line.prompt_tokens += usage.prompt_tokens
            line.completion_tokens += usage.completion_tokens
            line.seconds += seconds
            if cost is not None:
                line.cost = (line.cost or 0.0) + cost

    def record_retry(self, node: str) -> None:
        with self._lock:
            self.by_node.setdefault(node or "(none)", UsageLine()).retries += 1

    def record_failure(self, node: str) -> None:
        with self._lock:
            self.by_node.setdefault(node or "(none)", UsageLine()).failed += 1

    def total(self) -> UsageLine:
        out = UsageLine()
        with self._lock:
            for line in self.by_node.values():
                out.calls += line.calls
                out.samples += line.samples
                out.prompt_tokens += line.prompt_tokens
                out.completion_tokens += line.completion_tokens
                out.seconds += line.seconds
                out.retries += line.retries
                out.failed += line.failed
                if line.cost is not None:
                    out.cost = (out.cost or 0.0) + line.cost
        return out

    def as_dict(self) -> dict[str, Any]:
        rows = {k: vars(v).copy() for k, v in self.by_node.items()}
        rows["total"] = vars(self.total()).copy()
        return rows


@dataclass
class RunContext:
    """Everything run-scoped a node may need.  Create one per run; it travels to the nodes through
    LangGraph's run ``context`` (never through closures), so one compiled workflow serves many runs.

    ``models`` maps a node name (or ``"default"``) to the model that node uses; ``provers`` maps a role
    (``"main"``, ``"second"``) to a prover object that overrides the node's own choice; ``outputs``
    collects every message a finished node wrote, in order (kept when a run ends early).
    """

    tracer: Tracer = field(default_factory=Tracer)
    ledger: Ledger = field(default_factory=Ledger)
    models: dict[str, Any] = field(default_factory=dict)
    provers: dict[str, Any] = field(default_factory=dict)
    outputs: list[tuple[str, Message]] = field(default_factory=list)
    decoded: dict[int, tuple[Any, Message]] = field(default_factory=dict, repr=False)  # state dict id -> message
    _managed: dict[int, Any] = field(default_factory=dict, repr=False)

    @property
    def run_id(self) -> str:
        return self.tracer.run_id

    @staticmethod
    def current() -> RunContext | None:
        """The run whose node is executing in this task or thread, if any."""
        return current_run.get()

    def model_for(self, node: str) -> Any:
        """The model ``node`` uses (its own, else the default), wrapped with retries and accounting
        (:class:`~thinkgraph.llm.managed.ManagedModel`).  The wrapper is shared by the runs that use the
        same model (its concurrency limit is the model's); each call is accounted to the run it is in."""
        inner = self.models.get(node) or self.models.get("default")
        if inner is None:
            return None
        wrapped = self._managed.get(id(inner))
        if wrapped is not None:
            return wrapped
        from thinkgraph.llm.managed import ManagedModel

        if isinstance(inner, ManagedModel):
            wrapped = inner  # accounted to the run it is called in; one bound to another run refuses
            if inner._bound is not None and inner._bound is not self:
                inner.bind(self)  # raises RunContextMismatch with the fix
        else:
            wrapped = _shared_wrapper(inner)
        self._managed[id(inner)] = wrapped
        return wrapped


_SHARED: dict[int, tuple[Any, Any]] = {}
_SHARED_LOCK = threading.Lock()


def _shared_wrapper(inner: Any) -> Any:
    """One unbound ManagedModel per model object (the last 4 models used: a local model holds its weights)."""
    from thinkgraph.llm.managed import ManagedModel

    with _SHARED_LOCK:
        hit = _SHARED.get(id(inner))
        if hit is not None and hit[0] is inner:
            return hit[1]
        if len(_SHARED) >= 4:
            _SHARED.pop(next(iter(_SHARED)))
        wrapped = ManagedModel(inner)
        _SHARED[id(inner)] = (inner, wrapped)
        return wrapped
