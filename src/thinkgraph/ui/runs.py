"""Runs started from the chat interface: which workflows and models a client may name, the live event
fan-out, and the stored history.

A :class:`RunManager` owns the models it loads (one per spec, shared by runs) and the runs in flight.
``start`` validates everything a client sent before anything runs (:class:`BadRequest` says what is
wrong), stores the run, and runs it as a task; each trace event is serialised once, kept in memory for
live viewers and written to the :class:`~thinkgraph.ui.store.UIStore`.  ``events`` yields a run's events
from any point (``after`` a sequence number): stored ones, then live ones until the run ends — the same
for a viewer who arrives late, reconnects, or opens a run stored by an earlier server.

The manager knows nothing about HTTP: the web app (:mod:`thinkgraph.ui.server`) and the terminal chat
(:mod:`thinkgraph.ui.chat`) both drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkgraph.messages import TRACE_EVENT, Note, RunFinished, RunStarted, TraceEvent
from thinkgraph.runtime import Budget, Ledger, RunContext, new_id
from thinkgraph.ui.describe import describe_workflow
from thinkgraph.ui.store import RunRecord, UIStore

MAX_INPUT_BYTES = 200_000


class BadRequest(ValueError):
    """What a client sent cannot run (unknown workflow, input that does not fit, a model it may not name)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Live:
    """A run in flight: its serialised events so far, and a signal for waiting viewers."""

    events: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False
    task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class RunManager:
    """Starts runs, streams their events, and answers questions about the history (see the module docstring)."""

    def __init__(
        self,
        store: UIStore,
        *,
        models: Sequence[str] = ("local",),
        workflow_dirs: Iterable[str | Path] = (),
        budget: Budget | None = None,
        max_concurrent: int = 2,
        max_queued: int = 32,
        model_loader: Callable[[str], Any] | None = None,
    ) -> None:
        if not models:
            raise ValueError("give at least one model spec")
        self.store = store
        self.models = list(dict.fromkeys(models))
        self.default_model = self.models[0]
        self.workflow_dirs = [Path(d) for d in workflow_dirs]
        #: where runs that pause for a person keep their state (one thread per run id)
        self.checkpoints = store.path.with_name(store.path.stem + "-checkpoints.sqlite")
        self.budget = budget
        self._loader = model_loader
        self._loaded: dict[str, Any] = {}
        self._live: dict[str, _Live] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self.max_queued = max_queued

    # ------------------------------------------------------------------ what a client may name

    def _yaml_workflows(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for d in self.workflow_dirs:
            for path in sorted(d.glob("*.y*ml")):
                if path.suffix in (".yaml", ".yml"):
                    found.setdefault(path.stem, path)
        return found

    def workflows(self) -> list[dict[str, Any]]:
        """Every workflow a client can run: built-ins and YAML files in the workflow folders, each with its
        input type (name, JSON schema), description and graph (nodes, edges, routes)."""
        from thinkgraph.graphs.errors import WorkflowError
        from thinkgraph.graphs.library import BUILTIN
        from thinkgraph.graphs.yaml_loader import load_workflow

        out: list[dict[str, Any]] = []
        for name, make in sorted(BUILTIN.items()):
            out.append(describe_workflow(name, "built-in", make()))
        for name, path in self._yaml_workflows().items():
            if name in BUILTIN:
                continue
            try:
                wf = load_workflow(path)
            except WorkflowError as exc:
                out.append({"name": name, "source": path.name, "error": str(exc).splitlines()[0]})
                continue
            out.append(describe_workflow(name, path.name, wf))
        return out

    def compiled(self, name: str) -> Any:
        """The compiled workflow a client named; :class:`BadRequest` for anything else (never a path)."""
        from thinkgraph.graphs.errors import WorkflowError
        from thinkgraph.graphs.library import BUILTIN, resolve

        if not isinstance(name, str) or not name:
            raise BadRequest("'workflow' must be the name of a workflow (see GET /api/workflows)")
        if name in BUILTIN:
            return resolve(name)
        path = self._yaml_workflows().get(name)
        if path is None:
            known = sorted({*BUILTIN, *self._yaml_workflows()})
            raise BadRequest(f"unknown workflow {name!r}; known: {', '.join(known)}", status=404)
        try:
            return resolve(path)
        except WorkflowError as exc:
            raise BadRequest(f"workflow {name!r} does not check: {str(exc).splitlines()[0]}") from exc

    def check_model(self, spec: str | None) -> str:
        """The model spec a run will use: the server's default, or another it was started with.  Nothing a
        client names is loaded otherwise (no file paths, no other hosts, no key sent where a client chose)."""
        if spec is None or spec == "":
            return self.default_model
        if not isinstance(spec, str):
            raise BadRequest("'model' must be a model spec string")
        if spec in self.models:
            return spec
        raise BadRequest(
            f"model {spec!r} is not offered by this server; offered: {', '.join(self.models)} "
            "(start the server with --model SPEC to offer another)",
            status=403,
        )

    def _model(self, spec: str) -> Any:
        model = self._loaded.get(spec)
        if model is None:
            loader = self._loader
            if loader is None:
                from thinkgraph.llm import load_model

                loader = load_model
            model = self._loaded[spec] = loader(spec)
        return model

    # ------------------------------------------------------------------ runs

    async def start(
        self,
        workflow: str,
        input: Any,
        *,
        model: str | None = None,
        conversation: str | None = None,
        on_event: Callable[[TraceEvent], None] | None = None,
    ) -> RunRecord:
        """Validate and store a run, then run it in the background; returns the stored record at once."""
        if len(self._live) >= self.max_queued:
            raise BadRequest(f"{len(self._live)} runs are already running or queued; try again later", status=429)
        compiled = self.compiled(workflow)
        spec = self.check_model(model)
        if not isinstance(input, dict):
            raise BadRequest("'input' must be a JSON object with the workflow's input fields")
        if len(json.dumps(input)) > MAX_INPUT_BYTES:
            raise BadRequest(f"'input' is larger than {MAX_INPUT_BYTES} bytes", status=413)
        from thinkgraph.graphs.errors import RunSetupError

        try:
            message = compiled.coerce_input(input)
        except RunSetupError as exc:
            raise BadRequest(f"input: {exc}") from exc
        if conversation is not None and not isinstance(conversation, str):
            raise BadRequest("'conversation' must be a conversation id")
        if conversation is None or not self.store.has_conversation(conversation):
            conversation = conversation if conversation and len(conversation) <= 64 else new_id(12)
            self.store.new_conversation(conversation, _title(input))
        ctx = RunContext(ledger=Ledger(budget=self.budget)) if self.budget is not None else RunContext()
        record = RunRecord(
            id=ctx.run_id,
            conversation=conversation,
            workflow=workflow,
            model=spec,
            input=message.model_dump(mode="json"),
            status="running",
            created=time.time(),
        )
        self.store.add_run(record)
        live = self._live[record.id] = _Live()
        live.task = asyncio.create_task(self._run(record, compiled, message, ctx, live, on_event))
        return record

    async def _run(
        self,
        record: RunRecord,
        compiled: Any,
        message: Any,
        ctx: RunContext,
        live: _Live,
        on_event: Callable[[TraceEvent], None] | None,
        resume: Any = None,
    ) -> None:
        pump = asyncio.create_task(self._pump(record.id, ctx, live, on_event, first=len(live.events)))
        status, ending, output, error, usage, interrupt = "failed", "failed", None, "", {}, None
        try:
            if self._slots.locked():
                ctx.tracer.emit(Note(text="queued: waiting for a free slot (other runs are using the model)"))
            async with self._slots:
                try:
                    needs_model = any("model" in s.needs for s in compiled.specs.values())
                    model = self._model(record.model) if needs_model else None
                    paused = {"checkpoint": self.checkpoints, "thread": record.id} if compiled.pausing else {}
                    result = await compiled.run(message, model=model, ctx=ctx, resume=resume, **paused)
                    status = "waiting" if result.ending == "interrupted" else "finished"
                    ending, error, usage, interrupt = result.ending, result.error, result.usage, result.interrupt
                    output = result.output.model_dump(mode="json") if result.output is not None else None
                except Exception as exc:  # a set-up failure (model unavailable, …): the run fails, the server lives
                    error = f"{type(exc).__name__}: {exc}"
                    usage = ctx.ledger.as_dict()
        except asyncio.CancelledError:
            error = error or "cancelled (the server stopped or the run was cancelled)"
            raise
        finally:
            ctx.tracer.close()
            try:
                await asyncio.shield(pump)
            except Exception as exc:  # never leave a run 'running' because its trace could not be stored
                error = error or f"the trace could not be stored: {type(exc).__name__}: {exc}"
            if resume is not None:
                usage = merge_usage(record.usage, usage)
            try:
                self.store.finish_run(
                    record.id,
                    status=status,
                    ending=ending,
                    output=output,
                    usage=usage,
                    error=error,
                    interrupt=interrupt,
                )
            finally:
                live.done = True
                live.notify()
                self._live.pop(record.id, None)

    async def cancel(self, run_id: str) -> RunRecord:
        """Stop a run in flight; it is stored as failed, with what it streamed so far."""
        live = self._live.get(run_id)
        record = self.store.run(run_id)
        if record is None:
            raise BadRequest("no such run", status=404)
        if live is None or live.task is None:
            raise BadRequest(f"run {run_id} is {record.status}, not running", status=409)
        live.task.cancel()
        await asyncio.gather(live.task, return_exceptions=True)
        return self.store.run(run_id) or record

    async def resume(
        self, run_id: str, reply: Any, on_event: Callable[[TraceEvent], None] | None = None
    ) -> RunRecord:
        """Answer a run that waits for a person (``{"approve": true}``, …); it goes on in the background."""
        if not isinstance(reply, dict):
            raise BadRequest('the reply must be a JSON object, e.g. {"approve": true, "reason": "..."}')
        record = self.store.run(run_id)
        if record is None:
            raise BadRequest("no such run", status=404)
        if record.status != "waiting":
            raise BadRequest(f"run {run_id} is {record.status}, not waiting for a person", status=409)
        compiled = self.compiled(record.workflow)
        if not self.store.resume_run(run_id):
            raise BadRequest(f"run {run_id} is no longer waiting", status=409)
        from thinkgraph.runtime import Tracer

        ctx = RunContext(tracer=Tracer(run_id))
        if self.budget is not None:
            ctx.ledger.budget = self.budget
        live = self._live[run_id] = _Live(events=self.store.events(run_id))
        live.task = asyncio.create_task(self._run(record, compiled, None, ctx, live, on_event, resume=reply))
        return self.store.run(run_id) or record

    async def _pump(
        self,
        run_id: str,
        ctx: RunContext,
        live: _Live,
        on_event: Callable[[TraceEvent], None] | None,
        first: int = 0,
    ) -> None:
        # Viewers are woken per event; the store is written in batches: everything that arrived while the
        # loop was busy goes in one transaction, scheduled for when this pump next waits for an event.
        loop = asyncio.get_running_loop()
        pending: list[str] = []
        failure: list[BaseException] = []

        def flush() -> None:
            nonlocal pending, first
            batch, pending = pending, []
            if batch:
                try:
                    self.store.add_events(run_id, first, batch)
                except Exception as exc:  # keep going for live viewers; the run reports it at the end
                    failure.append(exc)
                first += len(batch)

        async for event in ctx.tracer.stream():
            text = event_json(event)
            live.events.append(text)
            if not pending:
                loop.call_soon(flush)
            pending.append(text)
            live.notify()
            if on_event is not None:
                with contextlib.suppress(Exception):  # a viewer's bug must not cost the run its record
                    on_event(event)
        flush()
        if failure:
            raise failure[0]

    async def event_batches(
        self, run_id: str, after: int = -1, heartbeat: float | None = None
    ) -> AsyncIterator[list[tuple[int, str]]]:
        """Batches of ``(seq, event JSON)`` from ``after + 1``: all that are there, then each time more arrive,
        until the run ends.  With ``heartbeat``, an empty batch whenever that many seconds pass quietly."""
        after = max(after, -1)
        live = self._live.get(run_id)
        if live is None:
            self.store.mark_lost()
            stored = self.store.events(run_id, after)
            if stored:
                yield [(after + 1 + i, text) for i, text in enumerate(stored)]
            return
        seq = after + 1
        while True:
            waiter = live.changed
            if seq < len(live.events):
                batch = [(i, live.events[i]) for i in range(seq, len(live.events))]
                seq += len(batch)
                yield batch
                continue
            if live.done:
                return
            try:
                await asyncio.wait_for(waiter.wait(), heartbeat)
            except TimeoutError:
                yield []

    async def events(self, run_id: str, after: int = -1) -> AsyncIterator[tuple[int, str]]:
        """``(seq, event JSON)`` of a run from ``after + 1``: stored, then live until the run ends."""
        async for batch in self.event_batches(run_id, after):
            for item in batch:
                yield item

    async def wait(self, run_id: str) -> RunRecord | None:
        """The run's record once it has ended."""
        live = self._live.get(run_id)
        if live is not None and live.task is not None:
            await asyncio.shield(live.task)
        return self.store.run(run_id)

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The run with its full trace (what ``GET /api/runs/{id}`` returns)."""
        record = self.store.run(run_id)
        if record is None:
            return None
        if record.status == "running" and run_id not in self._live:
            self.store.mark_lost()  # running elsewhere, or in a process that died
            record = self.store.run(run_id) or record
        out = record.to_dict()
        out["trace"] = [json.loads(e) for e in self.store.events(run_id)]
        return out

    def import_trace(self, text: str, conversation: str | None = None) -> RunRecord:
        """Store a saved trace (JSON Lines, ``thinkgraph run --trace``) as a run to replay in the same view."""
        events: list[TraceEvent] = []
        for no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                events.append(TRACE_EVENT.validate_json(line))
            except ValueError as exc:
                raise BadRequest(f"trace line {no}: not a trace event ({str(exc).splitlines()[0]})") from exc
        if not events:
            raise BadRequest("the trace file has no events")
        started = next((e for e in events if isinstance(e, RunStarted)), None)
        finished = next((e for e in reversed(events) if isinstance(e, RunFinished)), None)
        run_id = new_id(12)
        conversation = conversation or new_id(12)
        inputs = started.inputs if started else {}
        self.store.new_conversation(conversation, "replay: " + _title(inputs))
        self.store.add_run(
            RunRecord(
                id=run_id,
                conversation=conversation,
                workflow=started.workflow if started else "(trace)",
                model="(replay)",
                input=inputs,
                status="replay",
                created=time.time(),
            )
        )
        self.store.add_events(run_id, 0, [event_json(e) for e in events])
        result = finished.output if finished else {}
        self.store.finish_run(
            run_id,
            status="replay",
            ending=finished.ending if finished else "",
            output=result.get("output"),
            usage=result.get("usage") or {},
            error=str(result.get("error") or ""),
        )
        record = self.store.run(run_id)
        assert record is not None
        return record

    async def aclose(self) -> None:
        """Cancel runs in flight (stored as failed) and close the models this manager loaded."""
        tasks = [live.task for live in self._live.values() if live.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for model in self._loaded.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                await close()
        self._loaded.clear()


_UNSAFE_IN_SSE = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085", "\r": "\\r"}


def event_json(event: TraceEvent) -> str:
    """One trace event as one line of JSON, safe in an SSE ``data:`` field and for line-splitting clients:
    no line or paragraph separators; text that cannot be encoded (a lone surrogate from a model) is replaced."""
    try:
        text = TRACE_EVENT.dump_json(event).decode()
    except ValueError:  # pydantic cannot encode a lone surrogate
        data = json.loads(json.dumps(TRACE_EVENT.dump_python(event, mode="python"), default=str))
        text = json.dumps(data, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
    if any(ch in text for ch in _UNSAFE_IN_SSE):
        for ch, escaped in _UNSAFE_IN_SSE.items():
            text = text.replace(ch, escaped)
    return text


def merge_usage(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Usage of a resumed run: what it spent before the pause plus what it spent after."""
    out: dict[str, Any] = {k: dict(v) for k, v in before.items()}
    for node, line in after.items():
        into = out.setdefault(node, {})
        for key, value in line.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                into[key] = (into.get(key) or 0) + value
            elif key not in into:
                into[key] = value
    return out


def _title(input: dict[str, Any]) -> str:
    for key in ("conclusion", "question", "text", "prompt"):
        value = input.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:120]
    return json.dumps(input)[:120]
