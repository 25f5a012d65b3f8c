"""Wraps any :class:`ChatModel` with retries, a concurrency limit, the usage ledger and tracing.

Samples a cache served (:class:`~thinkgraph.llm.cache.CachedModel`) are accounted like drawn ones, at what they
cost when drawn, so a rerun from the cache meets the same budgets; a ``Note`` after the call's ``ModelResponse``
says which samples came from the cache.

Retries use tenacity and happen only for :class:`RetryableModelError` (rate limit, timeout, 5xx,
connection reset), honouring the server's ``Retry-After``; every other error propagates at once.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from thinkgraph.llm.base import ChatModel, ChatRequest, ChatResponse, ModelError, RetryableModelError
from thinkgraph.messages import ModelRequest, ModelResponse, Note
from thinkgraph.runtime import RunContext, RunContextMismatch, current_node, current_run, new_id


def _cache_note(response: ChatResponse, call_id: str) -> str:
    n, cached = len(response.choices), response.cached
    which = "all" if cached == n else "samples " + ", ".join(str(i) for i, c in enumerate(response.choices) if c.cached)
    return f"cache: {cached} of {n} samples of call {call_id} from the cache ({which})"


class _RetryAfterOrBackoff:
    def __init__(self, initial: float, maximum: float, offset: int = 0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.offset = offset  # attempts made before tenacity took over

    def delay(self, exc: BaseException | None, attempt: int) -> float:
        if isinstance(exc, RetryableModelError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.maximum)
        delay = self.initial * 2 ** (attempt - 1)
        return min(delay + random.uniform(0, self.initial), self.maximum)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.delay(exc, state.attempt_number + self.offset)


class ManagedModel:
    """A :class:`ChatModel` that adds retries, concurrency, accounting and trace events to ``inner``.

    Its calls are accounted to **the run they happen in**: inside a workflow node that is the node's
    run (found through a context variable — the one way the run context travels).  ``ctx`` binds a
    wrapper to one run for use outside a workflow; using a bound wrapper inside a different run raises
    :class:`~thinkgraph.runtime.RunContextMismatch` rather than recording the calls in the wrong place.
    """

    def __init__(
        self,
        inner: ChatModel,
        ctx: RunContext | None = None,
        *,
        max_attempts: int = 4,
        max_concurrency: int = 8,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self._bound = ctx
        self._fallback: RunContext | None = None
        self.max_attempts = max_attempts
        self.max_concurrency = max_concurrency
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )  # one per event loop; a closed loop's semaphore goes with it
        self._wait = _RetryAfterOrBackoff(backoff_initial, backoff_max)
        self._wait_after_first = _RetryAfterOrBackoff(backoff_initial, backoff_max, offset=1)

    def bind(self, ctx: RunContext) -> None:
        """Bind to ``ctx`` (the run that owns this wrapper); a wrapper bound to another run refuses."""
        if self._bound is not None and self._bound is not ctx:
            raise RunContextMismatch(
                f"this ManagedModel({self.name}) belongs to run {self._bound.run_id}, not {ctx.run_id}: "
                "pass the plain model (each run wraps it itself) or the run's own ctx"
            )
        self._bound = ctx

    @property
    def ctx(self) -> RunContext:
        """The run this call is accounted to."""
        run = current_run.get()
        if run is not None:
            if self._bound is not None and self._bound is not run:
                raise RunContextMismatch(
                    f"ManagedModel({self.name}) was built for run {self._bound.run_id} but is called inside run "
                    f"{run.run_id}: pass the plain model to the workflow instead of a ManagedModel"
                )
            return run
        if self._bound is not None:
            return self._bound
        if self._fallback is None:
            self._fallback = RunContext()
        return self._fallback

    async def chat(self, request: ChatRequest) -> ChatResponse:
        ctx = self.ctx
        ctx.ledger.check()
        call_id = new_id(10)
        tracer = ctx.tracer
        tracer.emit(ModelRequest(call_id=call_id, model=self.name, messages=request.messages, params=request.params()))
        start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            sem = self._sems.get(loop)
            if sem is None:
                sem = self._sems[loop] = asyncio.Semaphore(self.max_concurrency)
            async with sem:
                try:  # the first attempt directly: the common case pays nothing for the retry machinery
                    response = await self.inner.chat(request)
                except RetryableModelError as first:
                    if self.max_attempts <= 1:
                        raise
                    response = await self._retry(request, first, ctx)
        except ModelError as exc:
            ctx.ledger.record_failure(current_node.get())
            tracer.emit(
                ModelResponse(call_id=call_id, model=self.name, seconds=time.perf_counter() - start, error=repr(exc))
            )
            raise
        seconds = time.perf_counter() - start
        ctx.ledger.record(
            current_node.get(), response.usage, seconds, samples=len(response.choices), cost=response.cost
        )
        tracer.emit(
            ModelResponse(
                call_id=call_id, model=self.name, texts=tuple(response.texts), usage=response.usage, seconds=seconds
            )
        )
        if response.cached:  # the ledger counts cached samples like drawn ones, so a rerun accounts alike
            tracer.emit(Note(text=_cache_note(response, call_id)))
        return response

    async def _retry(self, request: ChatRequest, first: RetryableModelError, ctx: RunContext) -> ChatResponse:
        """Attempts 2..max_attempts with tenacity, waiting Retry-After or an exponential backoff."""
        await asyncio.sleep(self._wait.delay(first, 1))
        node = current_node.get()
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(RetryableModelError),
            stop=stop_after_attempt(self.max_attempts - 1),
            wait=self._wait_after_first,
            reraise=True,
        ):
            with attempt:
                ctx.ledger.record_retry(node)
                return await self.inner.chat(request)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self.inner.aclose()
