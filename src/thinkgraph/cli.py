"""The ``thinkgraph`` command line.

thinkgraph ask --example                       # the bundled problem, embedded model
thinkgraph ask -p "All men are mortal." -p "Socrates is a man." -c "Socrates is mortal."
thinkgraph run examples/auto.yaml --input examples/problem.json --json
thinkgraph workflow check examples/*.yaml      # located errors, exit 2 when invalid
thinkgraph workflow show linc                  # Mermaid text and a terminal drawing
thinkgraph nodes --json                        # every registered node type
thinkgraph fol check folio.jsonl --json        # prove gold formulas, no model
thinkgraph eval proofwriter dev.json --limit 20 --workflow linc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, TextIO

from thinkgraph.messages import (
    Answer,
    Interrupted,
    ModelRequest,
    ModelResponse,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    Note,
    Problem,
    RouteChosen,
    ToolCall,
    TraceEvent,
)

EXIT_CODES = """exit codes:
  0  answered (or: the command succeeded)
  2  usage error, invalid input or an invalid workflow (the errors are printed)
  3  abstained: no answer the evidence supports (also an exhausted budget or step limit)
  4  set-up failure: a model that cannot load (missing extra, weights, API key, server)
  5  the run failed: a model kept failing after its retries
  6  waiting for a person: resume with --checkpoint DB --thread ID --resume JSON
  130 interrupted (Ctrl-C)"""


_PRINT_LOCK = threading.Lock()


def _line(event: TraceEvent) -> str | None:
    """One short line per trace event (None: not shown)."""
    if isinstance(event, NodeStarted):
        return f"▶ {event.node}"
    if isinstance(event, NodeFinished):
        return f"✔ {event.node} ({event.seconds:.1f}s) {event.summary}"
    if isinstance(event, NodeFailed):
        return f"✘ {event.node} ({event.seconds:.1f}s) {event.error_type}: {event.error[:160]}"
    if isinstance(event, RouteChosen):
        why = f" ({event.reason})" if event.reason else ""
        return f"↪ {event.node}: {event.on}={event.value} → {event.target}{why}"
    if isinstance(event, Interrupted):
        return f"⏸ {event.node} waits for a person: {event.payload.get('question', '')}"
    if isinstance(event, Note):
        return f"  · {event.text}"
    if isinstance(event, ModelRequest):
        last = event.messages[-1].content.splitlines()[-1] if event.messages else ""
        return f"  → {event.node}: {event.model} n={event.params.get('n', 1)}: {last[:90]}"
    if isinstance(event, ModelResponse):
        shown = " | ".join(t.strip()[:60] for t in event.texts) if not event.error else f"ERROR {event.error[:120]}"
        return f"  ← {event.node}: {event.seconds:.1f}s {event.usage.completion_tokens} tok: {shown}"
    if isinstance(event, ToolCall):
        sample = event.input.get("sample")
        which = "consensus" if sample == -1 else (f"sample {sample}" if sample is not None else "")
        result = event.error or event.output
        return f"  ⚙ {event.tool} {which}: {result}"
    return None


class UsageError(ValueError):
    """A command-line mistake: printed as one line, exit code 2."""


class SetupError(RuntimeError):
    """A run could not start: printed as one line, exit code 4."""


def _usage_line(ledger: Any, wall: float) -> str:
    total = ledger.total()
    return (
        f"usage: {total.calls} model calls, {total.prompt_tokens} prompt + {total.completion_tokens} completion "
        f"tokens; {wall:.1f}s wall, {total.seconds:.1f}s of model time summed over calls (concurrent calls overlap)"
    )


def _compact(event: TraceEvent, out: TextIO) -> None:
    """Print one line per step as the run proceeds; whole lines only, even from concurrent steps."""
    line = _line(event)
    if line is not None:
        with _PRINT_LOCK:
            out.write(line + "\n")
            out.flush()


def _read_premises(args: argparse.Namespace) -> list[str]:
    from thinkgraph.agents.linc import split_sentences

    premises: list[str] = []
    for p in args.premise or []:
        premises.extend(split_sentences(p))
    if args.premises_file:
        path = Path(args.premises_file)
        if not path.is_file():
            raise UsageError(f"--premises-file {path}: {'is a directory' if path.is_dir() else 'no such file'}")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--premises-file {path}: cannot read it as text ({exc})") from exc
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
    if not args.quiet:
        print("Premises:", file=sys.stderr)
        for i, p in enumerate(problem.premises, 1):
            print(f"  {i}. {p}", file=sys.stderr)
        print(f"Conclusion: {problem.conclusion}", file=sys.stderr)
    _check_trace_path(args.trace)
    config = _config(args)
    model = load_model(args.model, cache=args.cache)
    ctx = RunContext()
    on_event = None if args.quiet else (lambda e: _compact(e, sys.stderr))
    start = time.perf_counter()

    async def run() -> Answer:
        try:
            return await solve(
                problem,
                model,
                workflow=args.workflow,
                config=config,
                ctx=ctx,
                second_prover=_second_prover(args),
                on_event=on_event,
            )
        finally:
            await model.aclose()

    answer = asyncio.run(run())
    if args.trace:
        _save_trace(ctx, args.trace)
    if args.json:
        print(answer.model_dump_json())
    else:
        print(answer.render())
        print(_usage_line(ctx.ledger, time.perf_counter() - start))
        if args.trace:
            print(f"trace: {args.trace} ({len(ctx.tracer.events)} events)")
    return 0 if answer.status != "abstained" else 3


def _parse_value(text: str) -> Any:
    """A --set value: YAML scalars (5, 0.7, true, text) through the safe loader; anything odd stays text."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def _overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UsageError(f"--set {item!r}: expected NODE.PARAM=VALUE, e.g. --set translate.samples=5")
        out[key.strip()] = _parse_value(value.strip())
    return out


def _read_input(text: str) -> Any:
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        source = "--input"
        raw = stripped
    else:
        path = Path(text)
        if not path.is_file():
            raise UsageError(
                f"--input {text}: {'is a directory' if path.is_dir() else 'no such file'} (give a file or JSON)"
            )
        source = str(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--input {path}: cannot read it ({exc})") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a JSON object, got {type(data).__name__}")
    return data


def _check_trace_path(path: str | None) -> None:
    """Refuse a --trace path that cannot be written before any model call is made."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--trace {path}: is a directory; give a file path")
    if not target.parent.is_dir():
        raise UsageError(f"--trace {path}: the folder {target.parent} does not exist")


def _save_trace(ctx: Any, path: str | None) -> None:
    if not path:
        return
    try:
        ctx.tracer.save(path)
    except OSError as exc:  # the result is already printed; do not lose it over the trace
        print(f"warning: could not write the trace to {path}: {exc.strerror or exc}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from thinkgraph.graphs.library import resolve
    from thinkgraph.runtime import RunContext

    _check_trace_path(args.trace)

    if (args.checkpoint is None) != (args.thread is None):
        raise UsageError("--checkpoint and --thread go together")
    if args.resume is not None and args.checkpoint is None:
        raise UsageError("--resume needs the --checkpoint and --thread of the interrupted run")
    resume = None
    if args.resume is not None:
        try:
            resume = json.loads(args.resume)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--resume: not valid JSON ({exc.msg})") from exc
    data = _read_input(args.input) if args.input else None
    if data is None and args.thread is None:
        raise UsageError("give --input FILE_OR_JSON (or --checkpoint/--thread to continue a stored run)")
    compiled = resolve(args.workflow, _overrides(args.set or []))
    if data is not None:
        from thinkgraph.graphs.errors import RunSetupError

        try:
            data = compiled.coerce_input(data)  # a bad input is refused before any model loads
        except RunSetupError as exc:
            raise UsageError(f"--input: {exc}") from exc
    model = None
    needs_model = any("model" in spec.needs for spec in compiled.specs.values())
    if args.model or needs_model:
        from thinkgraph.llm import load_model

        model = load_model(args.model or "local", cache=args.cache)
    from thinkgraph.runtime import Budget, Ledger

    budget = Budget(max_calls=args.max_calls, max_tokens=args.max_tokens, max_seconds=args.max_seconds)
    ctx = RunContext(ledger=Ledger(budget=budget)) if not budget.is_empty() else RunContext()
    on_event = None if args.quiet else (lambda e: _compact(e, sys.stderr))
    start = time.perf_counter()

    async def go() -> Any:
        try:
            return await compiled.run(
                data,
                model=model,
                ctx=ctx,
                on_event=on_event,
                checkpoint=args.checkpoint,
                thread=args.thread,
                resume=resume,
                cache=args.cache,
            )
        finally:
            if model is not None:
                await model.aclose()

    result = asyncio.run(go())
    _print_result(args, result, ctx, time.perf_counter() - start)
    _save_trace(ctx, args.trace)
    return {"answered": 0, "abstained": 3, "budget_exhausted": 3, "step_limit": 3, "failed": 5, "interrupted": 6}[
        result.ending
    ]


def _print_result(args: argparse.Namespace, result: Any, ctx: Any, wall: float) -> None:
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    if result.from_checkpoint:
        print(f"(thread {result.thread}: stored result, nothing ran)", file=sys.stderr)
    out = result.output
    if out is not None:
        render = getattr(out, "render", None)
        print(render() if callable(render) else out.model_dump_json(indent=2))
    if result.ending == "interrupted":
        ask = result.interrupt or {}
        print(f"waiting for a person: {ask.get('question', '')}")
        shown = ask.get("render") or json.dumps({k: v for k, v in ask.items() if k != "question"}, ensure_ascii=False)
        print("  " + str(shown).replace("\n", "\n  "))
        again = f"thinkgraph run {args.workflow} --checkpoint {args.checkpoint} --thread {args.thread} --resume"
        print("reply with one of:")
        print(f"  {again} '{{\"approve\": true}}'")
        print(f'  {again} \'{{"approve": false, "reason": "why"}}\'')
        print(f'  {again} \'{{"edit": {{"value": "False"}}, "reason": "why"}}\'')
    elif result.ending not in ("answered", "abstained"):
        print(f"ended: {result.ending}: {result.error}")
    print(_usage_line(ctx.ledger, wall))


def cmd_workflow_check(args: argparse.Namespace) -> int:
    from thinkgraph.graphs.errors import WorkflowError
    from thinkgraph.graphs.yaml_loader import load_workflow

    bad = 0
    for file in args.files:
        try:
            wf = load_workflow(file)
        except WorkflowError as exc:
            bad += 1
            for issue in exc.issues:
                print(json.dumps(issue.as_dict(), ensure_ascii=False) if args.json else str(issue))
            continue
        if args.json:
            print(json.dumps({"file": file, "workflow": wf.name, "valid": True}))
        else:
            print(f"{file}: ok (workflow {wf.name}, {len(wf.nodes)} nodes)")
    return 2 if bad else 0


def cmd_workflow_show(args: argparse.Namespace) -> int:
    from thinkgraph.graphs.draw import to_mermaid, to_text
    from thinkgraph.graphs.library import get_workflow

    wf = get_workflow(args.workflow)
    wf = getattr(wf, "workflow", wf)
    if args.format in ("mermaid", "both"):
        print(to_mermaid(wf))  # type: ignore[arg-type]
    if args.format == "both":
        print()
    if args.format in ("text", "both"):
        print(to_text(wf))  # type: ignore[arg-type]
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    from thinkgraph.graphs.node import plugin_errors, registry

    specs = sorted(registry().values(), key=lambda s: s.name)
    for problem in plugin_errors():
        print(f"warning: a plugin failed to load: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps([s.describe() for s in specs], ensure_ascii=False))
        return 0
    for s in specs:
        d = s.describe()
        reads = ", ".join(r["kind"] + ("?" if r["optional"] else "") + ("[]" if r["many"] else "") for r in d["reads"])
        print(f"{s.name}: {s.description}")
        print(
            f"    reads {reads or '—'} → writes {', '.join(d['writes']) or '—'}"
            + (f"; needs {', '.join(s.needs)}" if s.needs else "")
        )
        for name, p in d["params"].items():
            default = "required" if p["required"] else f"default {p['default']!r}"
            desc = f" — {p['description']}" if p["description"] else ""
            print(f"    {name}: {p['type']} ({default}){desc}")
    return 0


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
    from thinkgraph.evals.holdout import split
    from thinkgraph.evals.items import LoadReport
    from thinkgraph.evals.loaders import load_dataset
    from thinkgraph.evals.runner import evaluate
    from thinkgraph.graphs.library import resolve
    from thinkgraph.graphs.linc import config_overrides
    from thinkgraph.llm import load_model
    from thinkgraph.llm.managed import ManagedModel

    report = load_dataset(args.dataset, args.file)  # an unknown name is a DatasetError naming the choices
    identity: dict[str, Any] = {"split": args.split, "holdout_fraction": args.holdout_fraction}
    if args.split != "all":
        kept = split(report.items, args.split, args.holdout_fraction)
        report = LoadReport(dataset=report.dataset, path=report.path, items=tuple(kept), malformed=report.malformed)
    overrides = {**config_overrides(args.workflow, _config(args)), **_overrides(args.set or [])}
    compiled = resolve(args.workflow, overrides)
    # the model's concurrency limit follows --concurrency (one wrapper shared by every problem)
    model = ManagedModel(load_model(args.model, cache=args.cache), max_concurrency=max(8, args.concurrency))
    say = (lambda text: print(text, file=sys.stderr)) if not args.json else (lambda text: None)
    try:
        summary = evaluate(
            report,
            compiled,
            model,
            args.model,
            args.out,
            limit=args.limit,
            offset=args.offset,
            spread=args.spread,
            concurrency=args.concurrency,
            progress=not args.quiet,
            say=say,
            identity=identity,
            split_note=args.split != "all",
        )
    except KeyboardInterrupt:
        where = f"; the finished problems are in {args.out}: run the same command to resume" if args.out else ""
        print(f"interrupted{where}", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        from thinkgraph.evals.report import render_table

        print(render_table([summary]))
        if args.out:
            print(f"saved in {args.out}: `thinkgraph report {args.out} --html report.html` for the plots")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from thinkgraph.evals import report

    if args.rows:
        for line in report.rows_jsonl(args.runs):
            print(line)
        return 0
    summaries = report.summaries(args.runs)
    if args.html:
        report.write_html(args.runs, args.html)
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        for s in summaries:
            print(json.dumps(s, ensure_ascii=False))
    elif not args.html:
        print(report.render_table(summaries))
    return 0


def _int_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float, *, open_low: bool = False) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (low < value if open_low else low <= value) or value > high:
            left = "(" if open_low else "["
            raise argparse.ArgumentTypeError(f"must be in {left}{low:g}, {high:g}], got {value:g}")
        return value

    return parse


def _cache_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache",
        metavar="PATH",
        help="SQLite sample cache: samples are stored by request and sample index, and a rerun sends no request",
    )


def _model_args(p: argparse.ArgumentParser) -> None:
    _cache_arg(p)
    p.add_argument(
        "--model",
        "-m",
        default="local",
        help="model spec: local, local:small, local:/p.gguf, "
        "openai:MODEL[@URL], litellm:PROVIDER/MODEL, replay:FILE (default: local)",
    )
    p.add_argument(
        "--workflow",
        "-w",
        default="linc",
        help="linc (translate to FOL, prove, vote; default), cot (chain of thought), auto (route by problem kind), "
        "ensemble (LINC and CoT in parallel), "
        "or a YAML workflow file",
    )
    p.add_argument(
        "--samples", "-k", type=_int_at_least(1), default=3, help="samples per sentence / per problem (default 3)"
    )
    p.add_argument(
        "--temperature",
        type=_float_in(0.0, 2.0),
        default=0.7,
        help="temperature of the samples after the first, greedy one (default 0.7)",
    )
    p.add_argument(
        "--threshold",
        type=_float_in(0.0, 1.0),
        default=0.5,
        help="share of samples that must agree, 0..1 (default 0.5)",
    )
    p.add_argument(
        "--vote",
        choices=["program", "sentence"],
        default="sentence",
        help="sentence: prove the per-sentence majority formalization, samples can veto (default); "
        "program: LINC, one vote per sample formalization",
    )
    p.add_argument(
        "--examples",
        type=_int_at_least(0),
        default=3,
        help="few-shot examples nearest in shape to each sentence (default 3)",
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
    p.add_argument(
        "--timeout",
        type=_float_in(0.0, 3600.0, open_low=True),
        default=5.0,
        help="solver seconds per query (default 5)",
    )


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (and where to read more), not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from thinkgraph import __version__

    parser = _Parser(
        prog="thinkgraph",
        description="LLM reasoning with checked answers.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"thinkgraph {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, description=help, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter
        )

    ask = add("ask", "answer True/False/Uncertain with evidence, or abstain")
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

    run = add("run", "run a workflow (a registered name or a YAML file) on one input")
    run.add_argument("workflow", help="linc, cot, auto, ensemble, or a path to a YAML workflow")
    run.add_argument("--input", "-i", help="the input message: a JSON file, or JSON text such as '{\"premises\": …}'")
    run.add_argument("--model", "-m", help="default model spec for nodes that need one (default: local)")
    _cache_arg(run)
    run.add_argument(
        "--set",
        action="append",
        metavar="NODE.PARAM=VALUE",
        help="override a node parameter, e.g. --set translate.samples=5 (repeatable; NODE.model=SPEC sets its model)",
    )
    run.add_argument("--max-calls", type=_int_at_least(0), help="budget: model calls for the whole run")
    run.add_argument("--max-tokens", type=_int_at_least(0), help="budget: prompt + completion tokens for the run")
    run.add_argument(
        "--max-seconds", type=_float_in(0.0, 1e9, open_low=True), help="budget: seconds of wall time for the run"
    )
    run.add_argument("--checkpoint", metavar="DB", help="SQLite file: save state after every node (resumable)")
    run.add_argument("--thread", metavar="ID", help="the run's thread in the checkpoint (same ID again resumes it)")
    run.add_argument(
        "--resume", metavar="JSON", help="answer a run that waits for a person, e.g. '{\"approve\": true}'"
    )
    run.add_argument("--json", action="store_true", help="print the run result as one JSON line (the last line)")
    run.add_argument("--trace", help="write the full JSON-lines trace here")
    run.add_argument("--quiet", "-q", action="store_true", help="do not print the live trace")
    run.set_defaults(func=cmd_run)

    wf = add("workflow", "check or draw workflows")
    wf_sub = wf.add_subparsers(dest="workflow_command", required=True, parser_class=_Parser)
    wcheck = wf_sub.add_parser("check", help="check YAML workflow files: exit 0 when valid, 2 with located errors")
    wcheck.add_argument("files", nargs="+", help="YAML workflow files")
    wcheck.add_argument("--json", action="store_true", help="one JSON object per error (or per valid file)")
    wcheck.set_defaults(func=cmd_workflow_check)
    wshow = wf_sub.add_parser("show", help="draw a workflow as Mermaid text and in the terminal")
    wshow.add_argument("workflow", help="linc, cot, auto, ensemble, or a path to a YAML workflow")
    wshow.add_argument("--format", choices=["both", "mermaid", "text"], default="both")
    wshow.set_defaults(func=cmd_workflow_show)

    nodes = add("nodes", "list the registered node types: parameters, what they read and write")
    nodes.add_argument("--json", action="store_true", help="print them as JSON")
    nodes.set_defaults(func=cmd_nodes)

    fol = add("fol", "first-order logic tools")
    fol_sub = fol.add_subparsers(dest="fol_command", required=True, parser_class=_Parser)
    check = fol_sub.add_parser("check", help="prove FOLIO-format records from their gold formulas (no model)")
    check.add_argument("file", help="a FOLIO-format JSONL file")
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

    ev = add("eval", "run a workflow over a benchmark file; results stored as they finish, resumable")
    ev.add_argument(
        "dataset",
        help="the file's format: folio, proofwriter, prontoqa, logicaldeduction, ar-lsat, gsm8k, procbench, "
        "counterbench, corr2cause, arc1d, sygus, minif2f",
    )
    ev.add_argument("file", help="the benchmark file (or folder, for arc1d, sygus and minif2f)")
    ev.add_argument("--out", "-o", help="the run file (SQLite); the same command again resumes it")
    ev.add_argument("--limit", type=_int_at_least(1), help="run at most this many problems (default: all)")
    ev.add_argument("--offset", type=_int_at_least(0), default=0, help="skip this many problems first")
    ev.add_argument(
        "--spread",
        metavar="KEY",
        help="take problems round-robin over this meta field before --offset/--limit (arc1d: concept)",
    )
    ev.add_argument("--concurrency", "-j", type=_int_at_least(1), default=1, help="problems at once (default 1)")
    ev.add_argument(
        "--split",
        choices=["all", "tune", "holdout"],
        default="all",
        help="tune on 'tune', report on 'holdout' (a stable hash of each id decides; default: all)",
    )
    ev.add_argument("--holdout-fraction", type=_float_in(0.0, 1.0), default=0.3, help="holdout share (default 0.3)")
    ev.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE", help="override a node parameter")
    ev.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    ev.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _model_args(ev)
    ev.set_defaults(func=cmd_eval)

    rep = add("report", "compare evaluation runs: a table, JSON, per-problem rows, or an HTML file with plots")
    rep.add_argument("runs", nargs="+", help="run files written by thinkgraph eval --out")
    rep.add_argument("--html", metavar="FILE", help="write one self-contained HTML file with the plots")
    rep.add_argument("--json", action="store_true", help="print each run's summary as a JSON line")
    rep.add_argument("--rows", action="store_true", help="print one JSON line per problem of each run")
    rep.set_defaults(func=cmd_report)

    from thinkgraph.ui.commands import add_ui_commands

    add_ui_commands(add)
    from thinkgraph.memory.commands import add_memory_commands

    add_memory_commands(add)
    from thinkgraph.tools.commands import add_sandbox_commands

    add_sandbox_commands(add)
    from thinkgraph.agents.negotiation.commands import add_negotiation_commands

    add_negotiation_commands(add)
    from thinkgraph.provers.lean.commands import add_lean_commands

    add_lean_commands(add)
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
    except BrokenPipeError:  # `thinkgraph nodes | head`
        sys.stderr.close()
        return 0
    except Exception as exc:  # one clear line instead of a traceback, whatever went wrong
        failure = _error_code(exc)
        if failure is None:
            if os.environ.get("THINKGRAPH_DEBUG"):
                raise
            print(
                f"error: internal error: {type(exc).__name__}: {_one_line(exc)} "
                "(set THINKGRAPH_DEBUG=1 to see the traceback)",
                file=sys.stderr,
            )
            return 1
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return failure
    if getattr(args, "command", "") == "ask" and not getattr(args, "json", False):
        print(f"done in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return code


def _one_line(exc: BaseException) -> str:
    from pydantic import ValidationError

    from thinkgraph.graphs.errors import WorkflowError

    if isinstance(exc, WorkflowError):
        return str(exc)  # several located lines, one per problem
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or exc.title}: {e['msg']}" for e in exc.errors())
    text = str(exc) or type(exc).__name__
    return " ".join(text.split()) if "\n" in text else text


def _error_code(exc: BaseException) -> int | None:
    from pydantic import ValidationError

    from thinkgraph.evals.datasets import DatasetError
    from thinkgraph.evals.runner import EvalSetupError
    from thinkgraph.evals.store import RunStoreError
    from thinkgraph.graphs.errors import RunSetupError, RunUsageError, WorkflowError
    from thinkgraph.llm.base import ModelUnavailable
    from thinkgraph.provers.base import ProverUnavailable

    if isinstance(exc, UsageError | RunUsageError | WorkflowError | ValidationError):
        return 2
    if isinstance(exc, DatasetError | EvalSetupError | RunStoreError):
        return 2
    if isinstance(exc, FileNotFoundError | IsADirectoryError):
        return 2
    if isinstance(exc, ModelUnavailable | RunSetupError | SetupError | ProverUnavailable):
        return 4
    if isinstance(exc, ValueError | OSError):
        return 2
    return None


if __name__ == "__main__":
    sys.exit(main())
