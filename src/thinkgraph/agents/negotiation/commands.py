"""``thinkgraph negotiate``: vehicles negotiate who crosses an intersection first (after CoLMDriver, Liu et al.
2025), printed round by round with the simulated outcome.  It runs the same two-node workflow as
``examples/negotiation.yaml`` (``negotiation.scenario`` → ``negotiation.negotiate``).

    thinkgraph negotiate --seed 3 --planner rules          # deterministic, instant
    thinkgraph negotiate --seed 3 --vehicles 3 --model local --max-rounds 3
    thinkgraph negotiate --seed 3 --planner rules --no-critic --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from thinkgraph.agents.negotiation.scenario import MAX_VEHICLES, MIN_VEHICLES

_ENDINGS = {"answered": 0, "abstained": 3, "budget_exhausted": 3, "step_limit": 3, "failed": 5, "interrupted": 6}


def negotiation_workflow(planner: str = "llm", critic: bool = True, max_rounds: int = 6, max_tokens: int = 160) -> Any:
    """The workflow ``thinkgraph negotiate`` runs (the same as ``examples/negotiation.yaml``)."""
    import thinkgraph.nodes.negotiation  # noqa: F401  (registers the nodes)
    from thinkgraph.graphs.workflow import Workflow

    params = {"planner": planner, "critic": critic, "max_rounds": max_rounds, "max_tokens": max_tokens}
    return (
        Workflow(
            "negotiation",
            input="negotiation_request",
            output="negotiation_result",
            description="vehicles negotiate an intersection order; critic feedback; simulator check",
        )
        .add("scenario", "negotiation.scenario")
        .add("negotiate", "negotiation.negotiate", params)
        .edge("scenario", "negotiate")
    )


def cmd_negotiate(args: argparse.Namespace) -> int:
    from thinkgraph.cli import _check_trace_path, _compact, _save_trace, _usage_line
    from thinkgraph.runtime import RunContext

    _check_trace_path(args.trace)
    compiled = negotiation_workflow(args.planner, not args.no_critic, args.max_rounds, args.max_tokens).compile()
    data: dict[str, Any] = {"seed": args.seed}
    if args.vehicles is not None:
        data["n_vehicles"] = args.vehicles
    model = None
    if args.planner == "llm":
        from thinkgraph.llm import load_model

        model = load_model(args.model or "local")
    ctx = RunContext()
    on_event = None if args.quiet or args.json else (lambda e: _compact(e, sys.stderr))
    start = time.perf_counter()

    async def go() -> Any:
        try:
            return await compiled.run(data, model=model, ctx=ctx, on_event=on_event)
        finally:
            if model is not None:
                await model.aclose()

    result = asyncio.run(go())
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        out = result.output
        if out is not None:
            print(out.render())
        if result.ending not in ("answered", "abstained"):
            print(f"ended: {result.ending}: {result.error}")
        print(_usage_line(ctx.ledger, time.perf_counter() - start))
    _save_trace(ctx, args.trace)
    return _ENDINGS[result.ending]


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def add_negotiation_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register ``negotiate`` on the main parser (``add(name, help)`` makes a subparser)."""
    p = add("negotiate", "vehicles negotiate who crosses an intersection first; every round and the simulated outcome")
    p.add_argument("--seed", type=_int_in(0, 2**31 - 1), required=True, help="the scenario's seed")
    p.add_argument(
        "--vehicles", type=_int_in(MIN_VEHICLES, MAX_VEHICLES), help="how many vehicles (default: 3–6, by the seed)"
    )
    p.add_argument("--planner", choices=["llm", "rules"], default="llm", help="who proposes (default llm)")
    p.add_argument("--no-critic", action="store_true", help="negotiate without the critic's feedback")
    p.add_argument("--model", "-m", help="model spec for --planner llm (default: local)")
    p.add_argument("--max-rounds", type=_int_in(1, 20), default=6, help="rounds before the FCFS fallback (default 6)")
    p.add_argument("--max-tokens", type=_int_in(32, 2048), default=160, help="tokens per LLM proposal (default 160)")
    p.add_argument("--json", action="store_true", help="print the run result as one JSON line")
    p.add_argument("--trace", help="write the full JSON-lines trace here")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the live trace")
    p.set_defaults(func=cmd_negotiate)


__all__ = ["add_negotiation_commands", "cmd_negotiate", "negotiation_workflow"]
