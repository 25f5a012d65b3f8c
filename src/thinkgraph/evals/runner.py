"""Run a workflow over a benchmark and keep every result: concurrent, resumable, scored.

    thinkgraph eval proofwriter dev.json --workflow linc --model local --out runs/linc.db --concurrency 2

Problems run concurrently (bounded) with a progress bar of accuracy and abstentions so far.  Each result
is written to the run file (:mod:`thinkgraph.evals.store`) in its own transaction as the problem
finishes; running the same command again with the same ``--out`` skips the finished problems and runs
the rest.  A different workflow, model or dataset against an existing run is refused.  Ctrl-C stops
cleanly; SIGKILL loses at most the problems in flight.  A problem whose model keeps failing gets a row
(status ``failed``) rather than ending the evaluation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from thinkgraph.evals.items import EvalItem, LoadReport
from thinkgraph.evals.store import Row, RunStore
from thinkgraph.graphs.compiled import CompiledWorkflow, RunResult
from thinkgraph.logic.records import Answer
from thinkgraph.messages import Message


class EvalSetupError(ValueError):
    """An evaluation cannot start (the workflow does not take this dataset's input, …); says the fix."""


# ----------------------------------------------------------------------------- scoring


def _norm(value: Any, answer_type: str) -> Any:
    from thinkgraph.evals.metrics import normalize

    return normalize(value, answer_type)


def _same(predicted: Any, gold: Any, answer_type: str) -> bool | None:
    if gold is None or answer_type in ("program", "proof"):
        return None  # scored by a checker (examples passed, a checked proof), not by comparison
    p, g = _norm(predicted, answer_type), _norm(gold, answer_type)
    if p is None:
        return False
    if answer_type == "number":
        return isinstance(p, float) and isinstance(g, float) and math.isclose(p, g, rel_tol=1e-9, abs_tol=1e-9)
    return bool(p == g)


def score(item: EvalItem, result: RunResult, program_checker: Any = None) -> dict[str, Any]:
    """The row fields a run's output gives: value, status, correct, confidence and sample counts.

    A program answer is run on every example of its item (``program_checker``, default: the sandbox) and is
    correct iff it meets them all; an output whose ``status`` is ``verified`` keeps that status (confidence 1)."""
    out = result.output
    fields: dict[str, Any] = {"value": None, "correct": False, "confidence": None}
    if result.ending in ("failed", "interrupted") and out is None:
        fields.update(status="failed")
        return fields
    if result.ending in ("budget_exhausted", "step_limit") and out is None:
        fields.update(status="abstained")
        return fields
    if isinstance(out, Answer):
        fields["status"] = out.status
        fields["value"] = out.value
        if out.status == "abstained" or out.value is None:
            fields.update(correct=False if item.gold is not None else None)
            return fields
        fields["correct"] = _same(out.value, item.gold, item.answer_type)
        ev = out.evidence
        fields["confidence"] = 1.0 if out.status == "verified" else float(ev.agreement)
        if ev.samples:
            fields["samples_total"] = ev.samples
            fields["samples_correct"] = sum(v for k, v in ev.votes.items() if _same(k, item.gold, item.answer_type))
        return fields
    value = _value_of(out)
    fields["status"] = (
        "abstained" if out is not None and out.abstained() else ("answered" if value is not None else "failed")
    )
    fields["value"] = value
    answered = fields["status"] == "answered"
    if answered and getattr(out, "status", None) == "verified":
        fields.update(status="verified", confidence=1.0)
    checked = item.answer_type == "program" and item.gold is None
    if answered and checked:
        from thinkgraph.evals.programs import check_program

        fields["correct"] = check_program(item, value, program_checker)
    elif answered:
        fields["correct"] = _same(value, item.gold, item.answer_type)
    else:
        fields["correct"] = None if item.gold is None and not checked else False
    return fields


def _value_of(message: Message | None) -> Any:
    """A prediction from any output message: its ``value``, ``answer`` or ``final`` field."""
    if message is None:
        return None
    for name in ("value", "answer", "final", "category"):
        if name in type(message).model_fields:
            return getattr(message, name)
    return message.model_dump(mode="json")


# ----------------------------------------------------------------------------- the run


def dataset_hash(path: str | Path) -> str:
    """sha256 of a file, or of a directory's files (relative names and contents, in order)."""
    p = Path(path)
    digest = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            digest.update(str(f.relative_to(p)).encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def manifest_for(compiled: CompiledWorkflow, model_spec: str, report: LoadReport, **extra: Any) -> dict[str, Any]:
    from thinkgraph import __version__

    spec = compiled.workflow.to_dict()
    text = json.dumps(spec, sort_keys=True, default=str)
    return {
        "workflow": compiled.name,
        "workflow_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
        "workflow_spec": spec,
        "model": model_spec,
        "dataset": report.dataset,
        "dataset_path": str(Path(report.path).resolve()),
        "dataset_sha256": dataset_hash(report.path),
        "version": __version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


async def run_items(
    items: Sequence[EvalItem],
    compiled: CompiledWorkflow,
    model: Any,
    store: RunStore,
    *,
    concurrency: int = 1,
    progress: bool = True,
    on_row: Callable[[Row], None] | None = None,
    first_index: int = 0,
    program_checker: Any = None,
) -> list[Row]:
    """Run every item not yet in ``store`` (at most ``concurrency`` at once) and store each row as it
    finishes.  Returns the rows written by this call.  Program answers are scored by ``program_checker``
    (default: the sandbox; see :func:`score`)."""
    from thinkgraph.graphs.errors import RunUsageError
    from thinkgraph.llm.base import ModelUnavailable
    from thinkgraph.runtime import RunContext

    done = store.finished_ids()
    todo = [(first_index + i, item) for i, item in enumerate(items) if item.id not in done]
    sem = asyncio.Semaphore(max(1, concurrency))
    written: list[Row] = []
    bar = None
    wanted = {item.id for item in items}
    earlier = [r for r in store.rows() if r.item_id in wanted and r.item_id in done]
    stats = {
        "n": len(earlier),
        "correct": sum(1 for r in earlier if r.correct),
        "abstained": sum(1 for r in earlier if r.status == "abstained"),
    }
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=compiled.name, unit="problem")

    async def one(idx: int, item: EvalItem) -> None:
        async with sem:
            ctx = RunContext()
            start = time.perf_counter()
            error = ""
            try:
                result = await compiled.run(item.input, model=model, ctx=ctx)
                if item.answer_type == "program":  # runs the program in the sandbox: off the event loop
                    fields = await asyncio.to_thread(score, item, result, program_checker)
                else:
                    fields = score(item, result)
                error = result.error
                ending = result.ending
                output = result.output.model_dump(mode="json") if result.output is not None else None
            except ModelUnavailable:
                raise  # a set-up failure: the whole evaluation stops
            except RunUsageError as exc:  # this record's input does not fit the workflow
                fields, ending, output, error = (
                    {"status": "failed", "value": None, "correct": False},
                    "failed",
                    None,
                    str(exc),
                )
            total = ctx.ledger.total()
            row = Row(
                item_id=item.id,
                idx=idx,
                line=item.line,
                answer_type=item.answer_type,
                gold=item.gold,
                ending=ending,
                output=output,
                error=error,
                calls=total.calls,
                retries=total.retries,
                failed_calls=total.failed,
                prompt_tokens=total.prompt_tokens,
                completion_tokens=total.completion_tokens,
                seconds=time.perf_counter() - start,
                cost=total.cost,
                **fields,
            )
            store.add(row)  # committed before the next problem is counted: SIGKILL loses only those in flight
            written.append(row)
            stats["n"] += 1
            stats["correct"] += 1 if row.correct else 0
            stats["abstained"] += 1 if row.status == "abstained" else 0
            if on_row is not None:
                on_row(row)
            if bar is not None:
                bar.set_postfix(acc=round(stats["correct"] / stats["n"], 3), abst=stats["abstained"])
                bar.update(1)

    tasks = [asyncio.create_task(one(i, item)) for i, item in todo]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if bar is not None:
            bar.close()
    return written


def check_fits(compiled: CompiledWorkflow, report: LoadReport) -> None:
    """Refuse a workflow whose input message type is not what the dataset's items are."""
    kinds = {item.input_kind for item in report.items}
    if kinds and kinds != {compiled.workflow.input}:
        raise EvalSetupError(
            f"workflow {compiled.name} takes {compiled.workflow.input} messages, but {report.dataset} gives "
            f"{', '.join(sorted(kinds))} messages; choose a workflow whose input is {', '.join(sorted(kinds))}"
        )


def evaluate(
    report: LoadReport,
    compiled: CompiledWorkflow,
    model: Any,
    model_spec: str,
    out: str | Path | None,
    *,
    limit: int | None = None,
    offset: int = 0,
    concurrency: int = 1,
    progress: bool = True,
    say: Callable[[str], None] = print,
    close_model: bool = True,
    identity: dict[str, Any] | None = None,
    split_note: bool = False,
    spread: str | None = None,
    program_checker: Any = None,
) -> dict[str, Any]:
    """Run (or resume) an evaluation and return its summary (see :func:`thinkgraph.evals.metrics.summarize`).
    The model is closed at the end (``close_model=False`` to keep it).

    ``spread`` names a ``meta`` key (``concept`` for 1D-ARC) to take items round-robin over before ``offset``
    and ``limit`` apply; program answers are scored by ``program_checker`` (default: the sandbox, which must
    then be available: :class:`EvalSetupError` otherwise)."""
    check_fits(compiled, report)
    from thinkgraph.evals.programs import ProgramScoringUnavailable, default_program_checker
    from thinkgraph.evals.programs import spread as spread_items

    ordered = spread_items(report.items, spread) if spread else list(report.items)
    items = ordered[offset : None if limit is None else offset + limit]
    if program_checker is None and any(it.answer_type == "program" and it.gold is None for it in items):
        try:
            program_checker = default_program_checker()
        except ProgramScoringUnavailable as exc:
            raise EvalSetupError(str(exc)) from exc
    if not items:
        raise EvalSetupError(
            f"nothing to run: {len(report.items)} problem(s) loaded from {report.path}, none left after "
            f"--offset {offset}"
            + (f" and --limit {limit}" if limit is not None else "")
            + (" (and the split)" if split_note else "")
        )
    from collections import Counter

    repeated = sorted(i for i, c in Counter(it.id for it in items).items() if c > 1)
    if repeated:
        raise EvalSetupError(f"problem ids must be unique; repeated: {', '.join(repeated[:5])}")
    manifest = manifest_for(compiled, model_spec, report, **(identity or {}), **({"spread": spread} if spread else {}))
    temp = None
    if out is None:
        temp = tempfile.TemporaryDirectory(prefix="thinkgraph-eval-")
        out = Path(temp.name) / "run.db"
    store, _ = RunStore.start(out, manifest)
    try:
        wanted = {it.id for it in items}
        already = len(store.finished_ids() & wanted)
        if already:
            say(f"resuming {out}: {already} problem(s) already finished, {len(items) - already} to run")
        if report.malformed:
            say(
                f"{len(report.malformed)} malformed record(s) skipped, e.g. line {report.malformed[0].line}: "
                f"{report.malformed[0].message}"
            )

        async def go() -> None:
            try:
                await run_items(
                    items,
                    compiled,
                    model,
                    store,
                    concurrency=concurrency,
                    progress=progress,
                    first_index=offset,
                    program_checker=program_checker,
                )
            finally:
                close = getattr(model, "aclose", None)
                if close_model and close is not None:
                    await close()  # in the loop that used it (HTTP clients belong to their loop)

        asyncio.run(go())
        from thinkgraph.evals.metrics import summarize

        rows = [r for r in store.rows() if r.item_id in wanted]  # this command's problems
        where = str(out) if temp is None else "(not saved: pass --out RUN.db to keep and resume it)"
        return {"run": where, **store.manifest(), "offset": offset, "limit": limit, **summarize(rows)}
    finally:
        store.close()
        if temp is not None:
            temp.cleanup()


__all__ = ["EvalSetupError", "check_fits", "dataset_hash", "evaluate", "manifest_for", "run_items", "score"]
