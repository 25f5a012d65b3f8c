"""Run-scoped plumbing: the trace (a live event stream), the usage ledger and budgets.

A :class:`RunContext` is created per run and passed explicitly to agents; nothing here is global.
The node a model call belongs to is tracked with a ``contextvars.ContextVar`` so that concurrent
nodes attribute their calls correctly.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkgraph.messages import TRACE_EVENT, NodeFinished, NodeStarted, TraceEvent, Usage

current_node: contextvars.ContextVar[str] = contextvars.ContextVar("thinkgraph_node", default="")


class BudgetExceeded(RuntimeError):
    """A run hit one of its limits (model calls, tokens, seconds).  Ends the run with a named result."""

    def __init__(self, what: str, limit: float) -> None:
        super().__init__(f"budget exceeded: {what} limit {limit:g}")
        self.what = what
        self.limit = limit


class Tracer:
    """Collects trace events and pushes each one to subscribers as it happens.

    ``subscribe(fn)`` calls ``fn(event)`` synchronously; ``async for e in tracer.stream()`` yields
    events live until :meth:`close`.  The saved trace (``save``) is the same sequence.
    """

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.events: list[TraceEvent] = []
        self._subs: list[Callable[[TraceEvent], None]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[TraceEvent | None]]] = []

    def subscribe(self, fn: Callable[[TraceEvent], None]) -> Callable[[], None]:
        with self._lock:
            self._subs.append(fn)
        return lambda: self._subs.remove(fn)

    def emit(self, event: TraceEvent) -> TraceEvent:
        if not event.run_id or not event.node:
            event = event.model_copy(
                update={"run_id": event.run_id or self.run_id, "node": event.node or current_node.get()}
            )
        with self._lock:
            self.events.append(event)
            subs = list(self._subs)
            queues = list(self._queues)
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
                self._queues.append(sink)
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._queues.remove(sink)

    def close(self) -> None:
        """End the live stream; later events are still recorded."""
        with self._lock:
            self._closed = True
            queues, self._queues = self._queues, []
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
        finally:
            self.emit(NodeFinished(node=name, seconds=time.perf_counter() - start, summary=str(info["summary"])))
            current_node.reset(token)


@dataclass
class UsageLine:
    calls: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost: float | None = None


@dataclass
class Budget:
    max_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None


@dataclass
class Ledger:
    """Model usage per node and for the whole run; checks the budget before each call."""

    budget: Budget = field(default_factory=Budget)
    by_node: dict[str, UsageLine] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self) -> None:
        total = self.total()
        b = self.budget
        if b.max_calls is not None and total.calls >= b.max_calls:
            raise BudgetExceeded("model calls", b.max_calls)
        if b.max_tokens is not None and total.prompt_tokens + total.completion_tokens >= b.max_tokens:
            raise BudgetExceeded("tokens", b.max_tokens)
        if b.max_seconds is not None and time.perf_counter() - self.started >= b.max_seconds:
            raise BudgetExceeded("seconds", b.max_seconds)

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

    def total(self) -> UsageLine:
        out = UsageLine()
        with self._lock:
            for line in self.by_node.values():
                out.calls += line.calls
                out.samples += line.samples
                out.prompt_tokens += line.prompt_tokens
                out.completion_tokens += line.completion_tokens
                out.seconds += line.seconds
                if line.cost is not None:
                    out.cost = (out.cost or 0.0) + line.cost
        return out

    def as_dict(self) -> dict[str, Any]:
        rows = {k: vars(v).copy() for k, v in self.by_node.items()}
        rows["total"] = vars(self.total()).copy()
        return rows


@dataclass
class RunContext:
    """Everything run-scoped an agent may need.  Create one per run."""

    tracer: Tracer = field(default_factory=Tracer)
    ledger: Ledger = field(default_factory=Ledger)
