"""The typed records of a negotiation (after CoLMDriver, Liu et al. 2025): proposals, the critic's report, each
round, and the result a negotiation ends with.  All are frozen and serialise to JSON and back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from thinkgraph.agents.negotiation.scenario import Urgency
from thinkgraph.agents.negotiation.simulator import Outcome, OutcomeSummary, Schedule
from thinkgraph.messages import Message, Record

StopReason = Literal["agreed", "stalemate", "max_rounds"]


class Proposal(Record):
    """One vehicle's proposal for a round: whom it lets cross before it (``yield_to``; empty: it goes), when it
    wants to enter the zone, the urgency it claims, whether it accepts the previous round's schedule unchanged,
    and why.  ``source``: ``rules``, ``llm``, or ``fallback`` (the model's reply was unusable; ``error`` says
    why)."""

    vehicle: str
    yield_to: tuple[str, ...] = ()
    entry_time: float = Field(ge=0, le=600)
    urgency_claim: Urgency = "normal"
    accept: bool = False
    reason: str = ""
    source: Literal["rules", "llm", "fallback"] = "rules"
    error: str = ""

    @property
    def action(self) -> Literal["go", "yield"]:
        return "yield" if self.yield_to else "go"

    def same_plan(self, other: Proposal) -> bool:
        """Whether ``other`` proposes the same thing (yields, entry time, claim), whatever its reason."""
        return (
            set(self.yield_to) == set(other.yield_to)
            and abs(self.entry_time - other.entry_time) < 0.05
            and self.urgency_claim == other.urgency_claim
        )

    def text(self) -> str:
        what = f"yields to {', '.join(self.yield_to)}" if self.yield_to else "goes"
        tags = [f"claims {self.urgency_claim}"]
        if self.accept:
            tags.append("accepts")
        if self.source != "rules":
            tags.append(self.source)
        return f"{self.vehicle} {what}, enters ≥{self.entry_time:.1f}s ({', '.join(tags)})"


class Directive(Record):
    """The critic's advice to one vehicle: yield to ``other``, stop yielding to it, or enter at ``time`` (its
    earliest arrival, when it proposed to wait for nothing)."""

    vehicle: str
    action: Literal["yield_to", "drop_yield", "enter_at"]
    other: str = ""
    time: float | None = None
    reason: str = ""

    def text(self) -> str:
        if self.action == "enter_at":
            what = f"{self.vehicle} can enter at {self.time if self.time is not None else 0:.1f}s"
        else:
            verb = "should yield to" if self.action == "yield_to" else "need not yield to"
            what = f"{self.vehicle} {verb} {self.other}"
        return what + (f" ({self.reason})" if self.reason else "")

    def apply(self, yields: set[str], entry_time: float) -> float:
        """Apply this advice to a plan: changes ``yields`` in place, returns the entry time."""
        if self.action == "yield_to":
            yields.add(self.other)
        elif self.action == "drop_yield":
            yields.discard(self.other)
        elif self.time is not None:
            return self.time
        return entry_time


class CriticReport(Record):
    """The critic's score of one round (higher is better; 0 is no conflict and no delay), the priority credit
    each vehicle has earned by yielding, its advice, the public feedback every driver reads next round
    (``summary``) and the full text with each driver's advice (``text``, for the trace)."""

    round: int
    score: float
    conflicts: int
    weighted_delay: float
    credit: dict[str, int] = Field(default_factory=dict)
    directives: tuple[Directive, ...] = ()
    summary: str = ""
    text: str = ""

    def for_vehicle(self, vid: str) -> tuple[Directive, ...]:
        return tuple(d for d in self.directives if d.vehicle == vid)


class Mediation(Record):
    """The candidate schedule the mediator formed from a round's proposals: the yield relations it used
    (``edges``: (waiting vehicle, vehicle it waits for); lane order included), those it had to ignore
    (``ignored``: an unknown vehicle, or a yield that closes a deadlock cycle) and notes saying why."""

    schedule: Schedule
    edges: tuple[tuple[str, str], ...] = ()
    lane_edges: tuple[tuple[str, str], ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    def yields(self) -> dict[str, set[str]]:
        """The yields the mediator honoured, lane order left out."""
        out: dict[str, set[str]] = {}
        for v, u in self.edges:
            if (v, u) not in self.lane_edges:
                out.setdefault(v, set()).add(u)
        return out


class PublicRound(Record):
    """What every vehicle sees of an earlier round: all proposals and the candidate schedule (not its
    simulated consequences — those reach the planners only through the critic)."""

    round: int
    proposals: tuple[Proposal, ...]
    schedule: Schedule

    def proposal(self, vid: str) -> Proposal:
        for p in self.proposals:
            if p.vehicle == vid:
                return p
        raise KeyError(vid)


class RoundRecord(Record):
    round: int
    proposals: tuple[Proposal, ...]
    accepted: tuple[str, ...] = ()
    mediation: Mediation
    outcome: Outcome
    critic: CriticReport | None = None

    def public(self) -> PublicRound:
        return PublicRound(round=self.round, proposals=self.proposals, schedule=self.mediation.schedule)

    def proposal(self, vid: str) -> Proposal:
        return self.public().proposal(vid)


class SimulatorCheck(Record):
    """The evidence: the final schedule simulated (always), and the baselines on the same scenario."""

    conflict_free: bool
    conflicts: int
    schedule_source: str
    outcome: OutcomeSummary
    baselines: dict[str, OutcomeSummary] = Field(default_factory=dict)


class NegotiationResult(Message):
    """How a negotiation ended: the schedule (negotiated when agreed, else the FCFS fallback), its simulated
    outcome, every round, why it stopped, and the simulator check as evidence.  A negotiated schedule with a
    conflict is never returned as agreed."""

    kind: Literal["negotiation_result"] = "negotiation_result"
    seed: int | None = None
    planner: str
    critic: bool
    stop_reason: StopReason
    agreed: bool
    schedule: Schedule
    outcome: Outcome
    rounds: tuple[RoundRecord, ...]
    fallback_proposals: int = 0
    evidence: SimulatorCheck

    def abstained(self) -> bool:
        return not self.evidence.conflict_free

    def summary(self) -> str:
        how = (
            f"agreed in round {len(self.rounds)}"
            if self.agreed
            else f"no agreement ({self.stop_reason} after {len(self.rounds)} rounds): FCFS schedule"
        )
        fcfs = self.evidence.baselines.get("fcfs")
        versus = f" (FCFS {fcfs.mean_delay:.2f}s / {fcfs.weighted_delay:.2f}s)" if fcfs is not None else ""
        return (
            f"{how}; {self.evidence.conflicts} conflicts, mean delay {self.outcome.mean_delay:.2f}s, "
            f"urgency-weighted {self.outcome.weighted_delay:.2f}s{versus}"
        )

    def render(self) -> str:
        lines = [f"negotiation ({self.planner} planner, critic {'on' if self.critic else 'off'}): {self.summary()}"]
        for r in self.rounds:
            lines.append(f"round {r.round}:")
            lines.extend(f"  {p.text()}" + (f" — {p.reason}" if p.reason else "") for p in r.proposals)
            if r.accepted:
                lines.append(f"  plan unchanged (consent): {', '.join(r.accepted)}")
            lines.extend(f"  mediator: {n}" for n in r.mediation.notes)
            found = "; ".join(c.text() for c in r.outcome.conflicts) or "no conflict"
            lines.append(f"  schedule: {r.mediation.schedule.text()}  →  {found}")
            if r.critic is not None:
                lines.append(f"  critic: {r.critic.text}")
        lines.append(f"final schedule ({self.schedule.source}):")
        for row in sorted(self.outcome.vehicles, key=lambda x: (x.entry, x.vehicle)):
            late = ", late" if row.late else ""
            lines.append(
                f"  {row.vehicle}: enters {row.entry:.1f}s, clears {row.exit:.1f}s, delay {row.delay:.1f}s{late}"
            )
        for name, b in self.evidence.baselines.items():
            lines.append(
                f"baseline {name}: {b.conflicts} conflicts, mean delay {b.mean_delay:.2f}s, "
                f"weighted {b.weighted_delay:.2f}s"
            )
        if self.fallback_proposals:
            lines.append(f"{self.fallback_proposals} proposal(s) fell back to the rule planner (unusable replies)")
        return "\n".join(lines)


__all__ = [
    "CriticReport",
    "Directive",
    "Mediation",
    "NegotiationResult",
    "Proposal",
    "PublicRound",
    "RoundRecord",
    "SimulatorCheck",
    "StopReason",
]
