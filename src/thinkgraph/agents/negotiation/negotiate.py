"""Negotiation in rounds (after CoLMDriver, Liu et al. 2025, "CoLMDriver: LLM-based Negotiation Benefits
Cooperative Autonomous Driving": an actor-critic negotiation whose critic refines the drivers' policies from the
consequences of earlier decisions).

Each round: every vehicle's planner proposes at once (:mod:`.planner`), the mediator forms a candidate schedule
(:mod:`.mediator`), the simulator checks it (:mod:`.simulator`), and the critic, if any, scores it and advises
the drivers (:mod:`.critic`); its feedback goes into the next round's views.  A vehicle *accepts* the previous
round's schedule by proposing the same plan again — the same entry time, claim and yields as the mediator
honours them (its ``accept`` flag says so explicitly; the plan decides: a driver who objects must propose
something else, or nothing would ever change).  The negotiation stops:

* ``agreed`` — every vehicle accepted and the candidate is conflict-free: that schedule is the result;
* ``stalemate`` — the proposals repeat an earlier round's while the candidate still has a conflict (nothing
  will change any more);
* ``max_rounds`` — no agreement within the rounds allowed.

Without agreement the result is the first-come-first-served schedule, and says so.  The final schedule is
always simulated again; a schedule with a conflict is never returned as agreed.  Every round is in the trace:
a note per round with the proposals, a ``simulator`` tool call with the schedule in and conflicts and delays
out, and a note with the critic's feedback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from thinkgraph.agents.negotiation.critic import Critic
from thinkgraph.agents.negotiation.mediator import mediate
from thinkgraph.agents.negotiation.planner import Planner, view_for
from thinkgraph.agents.negotiation.records import (
    CriticReport,
    Mediation,
    NegotiationResult,
    Proposal,
    RoundRecord,
    SimulatorCheck,
    StopReason,
)
from thinkgraph.agents.negotiation.scenario import Scenario
from thinkgraph.agents.negotiation.simulator import (
    Outcome,
    Schedule,
    fcfs_schedule,
    simulate,
    uncoordinated_schedule,
)
from thinkgraph.messages import Note, ToolCall, TraceEvent

Emit = Callable[[TraceEvent], Any]


class NegotiationError(RuntimeError):
    """The final schedule failed the simulator check (a bug: the fallback is conflict-free by construction)."""


@dataclass
class _Events:
    emit: Emit | None = None

    def note(self, text: str) -> None:
        self.send(Note(text=text))

    def send(self, event: TraceEvent) -> None:
        if self.emit is not None:
            self.emit(event)

    def simulator(self, label: str, schedule: Schedule, outcome: Outcome, seconds: float = 0.0) -> None:
        self.send(
            ToolCall(
                tool="simulator",
                input={"check": label, "schedule": schedule.shown()},
                output=outcome.as_tool_output(),
                seconds=seconds,
            )
        )


async def negotiate(
    scenario: Scenario,
    planner: Planner,
    critic: Critic | None = None,
    *,
    max_rounds: int = 6,
    emit: Emit | None = None,
) -> NegotiationResult:
    """Negotiate an order for ``scenario`` (see the module docstring).  ``emit`` receives the trace events."""
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be ≥ 1, not {max_rounds}")
    ev = _Events(emit)
    ids = scenario.ids
    rounds: list[RoundRecord] = []
    seen: list[dict[str, Proposal]] = []
    feedback: CriticReport | None = None
    stop: StopReason = "max_rounds"
    ev.note(f"negotiation ({planner.name} planner, critic {'on' if critic else 'off'}): {scenario.render()}")
    for r in range(1, max_rounds + 1):
        history = tuple(rec.public() for rec in rounds)
        views = [view_for(scenario, vid, r, history, feedback) for vid in ids]
        proposals = dict(zip(ids, await asyncio.gather(*(planner.propose(v) for v in views)), strict=True))
        _check_proposals(ids, proposals)
        ev.note(f"round {r}: " + "; ".join(proposals[v].text() for v in ids))
        mediation = mediate(scenario, proposals)
        accepted = tuple(v for v in ids if rounds and _kept(rounds[-1], proposals[v], mediation))
        outcome = simulate(scenario, mediation.schedule)
        for line in mediation.notes:
            ev.note(f"mediator: {line}")
        ev.simulator(f"round {r}", mediation.schedule, outcome)
        report = None
        if critic is not None:
            report = await critic.review(scenario, r, proposals, mediation, outcome, rounds)
            ev.note(f"critic on round {r}: {report.text}")
        rounds.append(
            RoundRecord(
                round=r,
                proposals=tuple(proposals[v] for v in ids),
                accepted=accepted,
                mediation=mediation,
                outcome=outcome,
                critic=report,
            )
        )
        feedback = report
        if len(accepted) == len(ids) and outcome.conflict_free:
            stop = "agreed"
            break
        if not outcome.conflict_free and any(all(proposals[v].same_plan(old[v]) for v in ids) for old in seen):
            stop = "stalemate"
            break
        seen.append(proposals)
    return _finish(scenario, planner, critic, rounds, stop, ev)


def _kept(last: RoundRecord, proposal: Proposal, mediation: Mediation) -> bool:
    """Whether a vehicle's plan is the one of the last round, as the mediator honours it (a yield it had to
    ignore and that is now dropped changes nothing)."""
    v = proposal.vehicle
    before = last.proposal(v)
    return (
        last.mediation.yields().get(v, set()) == mediation.yields().get(v, set())
        and abs(before.entry_time - proposal.entry_time) < 0.05
        and before.urgency_claim == proposal.urgency_claim
    )


def _check_proposals(ids: tuple[str, ...], proposals: dict[str, Proposal]) -> None:
    for vid in ids:
        if proposals[vid].vehicle != vid:
            raise TypeError(f"the planner answered for {proposals[vid].vehicle!r} when asked for {vid!r}")


def _finish(
    scenario: Scenario,
    planner: Planner,
    critic: Critic | None,
    rounds: list[RoundRecord],
    stop: StopReason,
    ev: _Events,
) -> NegotiationResult:
    agreed = stop == "agreed"
    schedule = rounds[-1].mediation.schedule if agreed else fcfs_schedule(scenario)
    outcome = simulate(scenario, schedule)  # always checked again, whatever was agreed
    ev.simulator("final", schedule, outcome)
    if not outcome.conflict_free:
        raise NegotiationError(f"the final {schedule.source} schedule has conflicts: {outcome.conflicts}")
    baselines = {
        "fcfs": simulate(scenario, fcfs_schedule(scenario)).summary(),
        "uncoordinated": simulate(scenario, uncoordinated_schedule(scenario)).summary(),
    }
    fallbacks = sum(p.source == "fallback" for r in rounds for p in r.proposals)
    result = NegotiationResult(
        seed=scenario.seed,
        planner=planner.name,
        critic=critic is not None,
        stop_reason=stop,
        agreed=agreed,
        schedule=schedule,
        outcome=outcome,
        rounds=tuple(rounds),
        fallback_proposals=fallbacks,
        evidence=SimulatorCheck(
            conflict_free=outcome.conflict_free,
            conflicts=len(outcome.conflicts),
            schedule_source=schedule.source,
            outcome=outcome.summary(),
            baselines=baselines,
        ),
    )
    ev.note(result.summary())
    return result


__all__ = ["NegotiationError", "negotiate"]
