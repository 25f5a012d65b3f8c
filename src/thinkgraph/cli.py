"""The ``thinkgraph`` command line.

thinkgraph ask --example                       # the bundled problem, embedded model
thinkgraph ask -p "All men are mortal." -p "Socrates is a man." -c "Socrates is mortal."
thinkgraph fol check folio.jsonl --json        # prove gold formulas, no model
thinkgraph eval proofwriter dev.json --limit 20 --workflow linc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from thinkgraph.messages import (
    Answer,
    ModelRequest,
    ModelResponse,
    NodeFinished,
    NodeStarted,
    Problem,
    ToolCall,
    TraceEvent,
)


def _compact(event: TraceEvent, out: TextIO) -> None:
    """One short line per step, printed as the run proceeds."""
    if isinstance(event, NodeStarted):
        print(f"▶ {event.node}", file=out, flush=True)
    elif isinstance(event, NodeFinished):
        print(f"✔ {event.node} ({event.seconds:.1f}s) {event.summary}", file=out, flush=True)
    elif isinstance(event, ModelRequest):
        last = event.messages[-1].content.splitlines()[-1] if event.messages else ""
        print(f"  → {event.model} n={event.params.get('n', 1)}: {last[:90]}", file=out, flush=True)
    elif isinstance(event, ModelResponse):
        shown = " | ".join(t.strip()[:60] for t in event.texts) if not event.error else f"ERROR {event.error[:120]}"
        print(f"  ← {event.seconds:.1f}s {event.usage.completion_tokens} tok: {shown}", file=out, flush=True)
    elif isinstance(event, ToolCall):
        print(f"  ⚙ {event.tool} sample {event.input.get('sample')}: {event.output}", file=out, flush=True)


def _read_premises(args: argparse.Namespace) -> list[str]:
    from thinkgraph.agents.linc import split_sentences

    premises: list[str] = []
    for p in args.premise or []:
        premises.extend(split_sentences(p))
    if args.premises_file:
        text = Path(args.premises_file).read_text(encoding="utf-8")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        for ln in lines:
            premises.extend(split_sentences(ln))
    return premises


def _example_problem() -> Problem:
    text = resources.files("thinkgraph.data").joinpath("example_problem.json").read_text(encoding="utf-8")
    return Problem.model_validate_json(text)


def _config(args: argparse.Namespace) -> Any:
    from thinkgraph.agents.linc import LincConfig
    from thinkgraph.agents.translator import TranslatorConfig

    return LincConfig(
        translator=TranslatorConfig(
            samples=args.samples,
            temperature=args.temperature,
            use_grammar=not args.no_grammar,
            nearest_examples=args.examples,
            fixed_examples=args.fixed_examples,
        ),
        vote=args.vote,
        threshold=args.threshold,
        prover_timeout_s=args.timeout,
        strict_vocabulary=args.strict_vocabulary,
    )


def _second_prover(args: argparse.Namespace) -> Any:
    if not getattr(args, "prover9", False):
        return None
    from thinkgraph.provers.prover9 import Prover9

    return Prover9(timeout_s=args.timeout)


def cmd_ask(args: argparse.Namespace) -> int:
    from thinkgraph.graphs.linc import solve
    from thinkgraph.llm import load_model
    from thinkgraph.runtime import RunContext

    if args.example:
        problem = _example_problem()
    else:
        premises = _read_premises(args)
        if not premises or not args.conclusion:
            print(
                "error: give premises (-p TEXT or --premises-file FILE) and -c CONCLUSION, or --example",
                file=sys.stderr,
            )
            return 2
        problem = Problem(id="cli", premises=tuple(premises), conclusion=args.conclusion)
    print("Premises:", file=sys.stderr)
    for i, p in enumerate(problem.premises, 1):
        print(f"  {i}. {p}", file=sys.stderr)
    print(f"Conclusion: {problem.conclusion}", file=sys.stderr)
    model = load_model(args.model)
    ctx = RunContext()
    on_event = None if args.quiet else (lambda e: _compact(e, sys.stderr))

    async def run() -> Answer:
        try:
            return await solve(
                problem,
                model,
                workflow=args.workflow,
                config=_config(args),
                ctx=ctx,
                second_prover=_second_prover(args),
                on_event=on_event,
            )
        finally:
            await model.aclose()

    answer = asyncio.run(run())
    if args.trace:
        ctx.tracer.save(args.trace)
    if args.json:
        print(answer.model_dump_json())
    else:
        print(answer.render())
        total = ctx.ledger.total()
        print(
            f"usage: {total.calls} model calls, {total.prompt_tokens} prompt + {total.completion_tokens} "
            f"completion tokens, {total.seconds:.1f}s model time"
        )
        if args.trace:
            print(f"trace: {args.trace} ({len(ctx.tracer.events)} events)")
    return 0 if answer.status != "abstained" else 3


def cmd_fol_check(args: argparse.Namespace) -> int:
    from thinkgraph.evals.datasets import DatasetError
    from thinkgraph.evals.folcheck import run_check

    try:
        results, summ = run_check(args.file, and_or=args.and_or, use_prover9=not args.no_prover9)
    except (OSError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in results:
        if args.json:
            continue
        if r.parse_error:
            print(f"line {r.line}: PARSE ERROR {r.parse_error}")
            continue
        mark = "ok " if r.correct else "MISS"
        extra = []
        if r.second is not None:
            extra.append(f"prover9={r.second.label}" + ("" if r.agree else " DISAGREES"))
        if r.repairs:
            extra.append("repaired: " + "; ".join(r.repairs))
        if r.warnings:
            extra.append("warning: " + "; ".join(r.warnings))
        if r.verdict is not None and r.verdict.inconsistent_premises:
            extra.append("premises inconsistent")
        if r.verdict is not None and r.verdict.timed_out:
            extra.append("timeout")
        verdict = r.verdict.label if r.verdict else "-"
        print(f"line {r.line}: {mark} gold={r.gold} z3={verdict} {' '.join(extra)}".rstrip())
    if args.json:
        for r in results:
            if r.parse_error or not r.correct or r.repairs or r.warnings or r.agree is False:
                print(json.dumps(r.as_dict(), ensure_ascii=False))
    print(json.dumps(summ))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from thinkgraph.evals.runner import run_eval

    summary = run_eval(
        dataset=args.dataset,
        path=args.file,
        model_spec=args.model,
        workflow=args.workflow,
        limit=args.limit,
        config=_config(args),
        out=args.out,
        offset=args.offset,
    )
    print(json.dumps(summary))
    return 0


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        "-m",
        default="local",
        help="model spec: local, local:small, local:/p.gguf, "
        "openai:MODEL[@URL], litellm:PROVIDER/MODEL, replay:FILE (default: local)",
    )
    p.add_argument("--workflow", "-w", choices=["linc", "cot"], default="linc")
    p.add_argument("--samples", "-k", type=int, default=3, help="samples per sentence / per problem (default 3)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--threshold", type=float, default=0.5, help="share of samples that must agree (default 0.5)")
    p.add_argument(
        "--vote",
        choices=["program", "sentence"],
        default="sentence",
        help="sentence: prove the per-sentence majority formalization, samples can veto (default); "
        "program: LINC, one vote per sample formalization",
    )
    p.add_argument(
        "--examples", type=int, default=3, help="few-shot examples nearest in shape to each sentence (default 3)"
    )
    p.add_argument(
        "--fixed-examples",
        action="store_true",
        help="also put every example in a fixed prompt prefix (cacheable; hurt the 1.5B model)",
    )
    p.add_argument("--no-grammar", action="store_true", help="do not constrain output with the FOL grammar")
    p.add_argument(
        "--strict-vocabulary",
        action="store_true",
        help="fail a sample whose conclusion uses predicates no premise mentions",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="solver seconds per query (default 5)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thinkgraph", description="LLM reasoning with checked answers.")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer True/False/Uncertain with evidence, or abstain")
    ask.add_argument("-p", "--premise", action="append", help="premise text (repeatable; split into sentences)")
    ask.add_argument("--premises-file", help="file with premises, one or more sentences per line")
    ask.add_argument("-c", "--conclusion", help="the statement to decide")
    ask.add_argument("--example", action="store_true", help="use the bundled example problem")
    ask.add_argument("--trace", help="write the full JSON-lines trace here")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--quiet", "-q", action="store_true", help="do not print the live trace")
    ask.add_argument("--prover9", action="store_true", help="also prove with Prover9 and report agreement")
    _model_args(ask)
    ask.set_defaults(func=cmd_ask)

    fol = sub.add_parser("fol", help="first-order logic tools")
    fol_sub = fol.add_subparsers(dest="fol_command", required=True)
    check = fol_sub.add_parser("check", help="prove FOLIO-format records from their gold formulas (no model)")
    check.add_argument("file")
    check.add_argument(
        "--json", action="store_true", help="print notable records as JSON lines and a final summary line"
    )
    check.add_argument(
        "--and-or",
        choices=["right", "precedence"],
        default="right",
        help="reading of ∧ mixed with ∨ without parentheses (default: right, FOLIO's convention)",
    )
    check.add_argument("--no-prover9", action="store_true", help="skip the Prover9 agreement check")
    check.set_defaults(func=cmd_fol_check)

    ev = sub.add_parser("eval", help="run a workflow over a benchmark file and score it")
    ev.add_argument("dataset", choices=["proofwriter", "prontoqa", "folio"])
    ev.add_argument("file")
    ev.add_argument("--limit", type=int, default=20)
    ev.add_argument("--offset", type=int, default=0, help="skip this many problems first")
    ev.add_argument("--out", help="write per-problem results (JSON lines) here")
    _model_args(ev)
    ev.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear message instead of a traceback for expected failures
        from thinkgraph.llm.base import ModelUnavailable

        if isinstance(exc, ModelUnavailable | ValueError | FileNotFoundError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
    if getattr(args, "command", "") == "ask" and not getattr(args, "json", False):
        print(f"done in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
