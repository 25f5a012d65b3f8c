"""Run a workflow over benchmark problems and score it.

Scores: accuracy over all problems (an abstention counts as wrong), abstentions, accuracy on answered
problems (precision), and tokens and seconds per problem.  Per-problem results stream to a JSONL file
as they finish, so an interrupted run loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from thinkgraph.agents.linc import LincConfig
from thinkgraph.messages import Answer, Problem


def load_problems(dataset: str, path: str | Path, limit: int | None, offset: int = 0) -> list[Problem]:
    from thinkgraph.evals.datasets import load_folio, load_logiclm

    if dataset == "folio":
        problems = [r.problem() for r in load_folio(path)]
    else:
        problems = load_logiclm(path)
    return problems[offset : None if limit is None else offset + limit]


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    answered = [r for r in rows if r["status"] != "abstained"]
    correct = sum(r["correct"] for r in rows)
    return {
        "problems": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "abstained": n - len(answered),
        "answered_accuracy": round(sum(r["correct"] for r in answered) / len(answered), 4) if answered else None,
        "tokens_per_problem": round(sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows) / n, 1) if n else 0,
        "completion_tokens_per_problem": round(sum(r["completion_tokens"] for r in rows) / n, 1) if n else 0,
        "seconds_per_problem": round(sum(r["seconds"] for r in rows) / n, 2) if n else 0,
    }


async def evaluate(
    problems: list[Problem],
    model: Any,
    workflow: str,
    config: LincConfig,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    from thinkgraph.graphs.linc import solve
    from thinkgraph.runtime import RunContext

    rows: list[dict[str, Any]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(problems), desc=f"{workflow}", unit="problem")
    fh = open(out, "w", encoding="utf-8") if out else None
    try:
        for problem in problems:
            ctx = RunContext()
            start = time.perf_counter()
            answer: Answer = await solve(problem, model, workflow=workflow, config=config, ctx=ctx)  # type: ignore[arg-type]
            total = ctx.ledger.total()
            row = {
                "id": problem.id,
                "gold": problem.gold,
                "value": answer.value,
                "status": answer.status,
                "correct": answer.value is not None and answer.value == problem.gold,
                "votes": answer.evidence.votes,
                "reason": answer.evidence.reason,
                "seconds": round(time.perf_counter() - start, 2),
                "prompt_tokens": total.prompt_tokens,
                "completion_tokens": total.completion_tokens,
                "calls": total.calls,
                "answer": answer.model_dump(mode="json"),
            }
            rows.append(row)
            if fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
            if bar is not None:
                s = score(rows)
                bar.set_postfix(acc=s["accuracy"], abst=s["abstained"])
                bar.update(1)
    finally:
        if fh:
            fh.close()
        if bar is not None:
            bar.close()
    return {"workflow": workflow, "model": getattr(model, "name", "?"), **score(rows)}


def run_eval(
    dataset: str,
    path: str | Path,
    model_spec: str,
    workflow: str,
    limit: int | None,
    config: LincConfig,
    out: str | Path | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    from thinkgraph.llm import load_model

    problems = load_problems(dataset, path, limit, offset)
    model = load_model(model_spec)

    async def go() -> dict[str, Any]:
        try:
            return await evaluate(problems, model, workflow, config, out)
        finally:
            await model.aclose()

    return asyncio.run(go())
