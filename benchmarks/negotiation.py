"""Negotiating drivers (after CoLMDriver, Liu et al. 2025) over seeded intersection scenarios.

For scenarios generated from seeds 0..N-1 (3–6 vehicles each), four ways to cross the intersection, every
schedule checked by the same deterministic simulator:

* ``negotiated_critic`` — rule planners negotiating in rounds, with the rule critic's feedback;
* ``negotiated_no_critic`` — the same planners and rounds without the critic (they see only the public
  proposals and schedules, never the simulated consequences);
* ``fcfs`` — first come, first served; ``uncoordinated`` — everyone at its free-flow arrival.

A negotiation that does not agree on a conflict-free schedule falls back to FCFS, so the final schedules of the
negotiated methods are conflict-free by construction; ``candidate_conflicts`` counts the conflicts of the last
negotiated candidate instead (what the drivers had reached when the negotiation stopped).

Figures per method: conflicts (total, and scenarios with at least one), mean delay (the mean over scenarios of
the per-vehicle mean delay against free-flow arrival), mean urgency-weighted delay (``Σ w·delay / Σ w`` with
ambulance 5, late 2, normal 1), the mean delay of ambulances, and drivers entering after their desired time.

    python benchmarks/negotiation.py [--scenarios 50] [--max-rounds 6]
    python benchmarks/negotiation.py --scenarios 50 --llm 5 --model local   # the LLM planner on the first 5

Last line: one JSON object with every figure and ``*_ratio`` (e.g. negotiated delay / FCFS delay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from thinkgraph.agents.negotiation import (
    LLMPlanner,
    NegotiationResult,
    Outcome,
    RuleCritic,
    RulePlanner,
    Scenario,
    fcfs_schedule,
    negotiate,
    simulate,
    uncoordinated_schedule,
)


def _figures(scenarios: list[Scenario], outcomes: list[Outcome]) -> dict[str, Any]:
    amb = [
        row.delay
        for s, o in zip(scenarios, outcomes, strict=True)
        for row in o.vehicles
        if s.vehicle(row.vehicle).urgency == "ambulance"
    ]
    return {
        "conflicts": sum(len(o.conflicts) for o in outcomes),
        "scenarios_with_conflict": sum(1 for o in outcomes if o.conflicts),
        "mean_delay": round(statistics.fmean(o.mean_delay for o in outcomes), 3),
        "weighted_delay": round(statistics.fmean(o.weighted_delay for o in outcomes), 3),
        "ambulance_delay": round(statistics.fmean(amb), 3) if amb else None,
        "late": sum(o.late for o in outcomes),
    }


def _negotiated(scenarios: list[Scenario], results: list[NegotiationResult]) -> dict[str, Any]:
    out = _figures(scenarios, [r.outcome for r in results])
    stops: dict[str, int] = {}
    for r in results:
        stops[r.stop_reason] = stops.get(r.stop_reason, 0) + 1
    out.update(
        agreed=sum(r.agreed for r in results),
        stop_reasons=stops,
        mean_rounds=round(statistics.fmean(len(r.rounds) for r in results), 2),
        candidate_conflicts=sum(len(r.rounds[-1].outcome.conflicts) for r in results),
        fallback_proposals=sum(r.fallback_proposals for r in results),
    )
    return out


async def _run_rules(scenarios: list[Scenario], max_rounds: int, critic: bool) -> list[NegotiationResult]:
    return [
        await negotiate(s, RulePlanner(), RuleCritic() if critic else None, max_rounds=max_rounds) for s in scenarios
    ]


async def _run_llm(
    scenarios: list[Scenario], spec: str, max_rounds: int, max_tokens: int, critic: bool
) -> dict[str, Any]:
    from thinkgraph.llm import load_model

    model = load_model(spec)
    start = time.perf_counter()
    try:
        results = [
            await negotiate(
                s, LLMPlanner(model, max_tokens=max_tokens), RuleCritic() if critic else None, max_rounds=max_rounds
            )
            for s in scenarios
        ]
    finally:
        await model.aclose()
    out = _negotiated(scenarios, results)
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["proposals"] = sum(len(r.proposals) for res in results for r in res.rounds)
    out["fcfs_weighted_delay"] = _figures(scenarios, [simulate(s, fcfs_schedule(s)) for s in scenarios])[
        "weighted_delay"
    ]
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", type=int, default=50, help="seeds 0..N-1 (default 50)")
    ap.add_argument("--max-rounds", type=int, default=6)
    ap.add_argument("--llm", type=int, default=0, metavar="N", help="also run the LLM planner on the first N")
    ap.add_argument("--model", default="local", help="model spec for --llm (default local)")
    ap.add_argument("--max-tokens", type=int, default=160, help="tokens per LLM proposal")
    ap.add_argument("--no-critic-llm", action="store_true", help="run the LLM planner without the critic too")
    args = ap.parse_args()

    scenarios = [Scenario.generate(seed) for seed in range(args.scenarios)]
    start = time.perf_counter()
    with_critic = asyncio.run(_run_rules(scenarios, args.max_rounds, critic=True))
    without = asyncio.run(_run_rules(scenarios, args.max_rounds, critic=False))
    rules_seconds = time.perf_counter() - start
    report: dict[str, Any] = {
        "scenarios": len(scenarios),
        "vehicles": sum(len(s.vehicles) for s in scenarios),
        "ambulances": sum(v.urgency == "ambulance" for s in scenarios for v in s.vehicles),
        "max_rounds": args.max_rounds,
        "negotiated_critic": _negotiated(scenarios, with_critic),
        "negotiated_no_critic": _negotiated(scenarios, without),
        "fcfs": _figures(scenarios, [simulate(s, fcfs_schedule(s)) for s in scenarios]),
        "uncoordinated": _figures(scenarios, [simulate(s, uncoordinated_schedule(s)) for s in scenarios]),
        "rules_seconds": round(rules_seconds, 2),
    }
    fcfs = report["fcfs"]
    for name in ("negotiated_critic", "negotiated_no_critic"):
        m = report[name]
        short = name.removeprefix("negotiated_")
        report[f"{short}_delay_ratio"] = _ratio(m["mean_delay"], fcfs["mean_delay"])
        report[f"{short}_weighted_delay_ratio"] = _ratio(m["weighted_delay"], fcfs["weighted_delay"])
        report[f"{short}_ambulance_delay_ratio"] = _ratio(m["ambulance_delay"], fcfs["ambulance_delay"])
    if args.llm:
        subset = scenarios[: args.llm]
        report["llm_critic"] = asyncio.run(_run_llm(subset, args.model, args.max_rounds, args.max_tokens, True))
        if args.no_critic_llm:
            report["llm_no_critic"] = asyncio.run(_run_llm(subset, args.model, args.max_rounds, args.max_tokens, False))

    print(f"{args.scenarios} scenarios, {report['vehicles']} vehicles ({report['ambulances']} ambulances)")
    print(f"{'method':22} {'conflicts':>9} {'scen.':>5} {'delay':>7} {'weighted':>8} {'amb.':>6} {'late':>5}  agreed")
    for name in ("uncoordinated", "fcfs", "negotiated_no_critic", "negotiated_critic"):
        m = report[name]
        amb = "—" if m["ambulance_delay"] is None else f"{m['ambulance_delay']:.2f}"
        agreed = f"{m['agreed']}/{args.scenarios} ({m['stop_reasons']})" if "agreed" in m else ""
        print(
            f"{name:22} {m['conflicts']:>9} {m['scenarios_with_conflict']:>5} {m['mean_delay']:>7.2f} "
            f"{m['weighted_delay']:>8.2f} {amb:>6} {m['late']:>5}  {agreed}"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
