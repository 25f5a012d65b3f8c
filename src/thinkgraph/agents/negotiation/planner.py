"""Intention planners: one vehicle's state → its proposal for a round (the actor of CoLMDriver's actor-critic
negotiation, Liu et al. 2025).

Extension point: a :class:`Planner` has ``name`` and ``async propose(view) -> Proposal``.  It is called once per
vehicle per round, for all vehicles of a round at once (proposals are simultaneous).  The :class:`PlannerView`
holds only what that driver may know: its own private state, the public intent of the others (arm, movement,
whether their path crosses its own), the public record of earlier rounds (every proposal and candidate
schedule) and — when the negotiation has a critic — the critic's last report.  Two implementations: the
deterministic :class:`RulePlanner` here and :class:`~thinkgraph.agents.negotiation.llm_planner.LLMPlanner`.

:class:`RulePlanner`, round 1: go at the earliest arrival.  Later rounds, with a critic: follow its advice (add
or drop the yields it names) and accept when it advises nothing.  Without a critic it has only the public
record, so it guesses: it yields to a vehicle whose path crosses its own when that vehicle claims higher urgency
(or the same urgency and an earlier entry) and announced an entry within :data:`OCCUPANCY_GUESS` seconds of its
own — how long the others stay in the zone is private, so two seconds is its estimate.  It accepts when its
proposal is unchanged.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from thinkgraph.agents.negotiation.records import CriticReport, Proposal, PublicRound
from thinkgraph.agents.negotiation.scenario import URGENCY_WEIGHT, Movement, Scenario, Vehicle
from thinkgraph.messages import Record

OCCUPANCY_GUESS = 2.0  # seconds: the rule planner's estimate of how long another vehicle occupies the zone


class PublicVehicle(Record):
    """What every driver knows of another vehicle: its id, approach arm, movement, and whether its path shares
    the conflict zone with the viewer's (``crosses_me``) or it is ahead of the viewer in its lane."""

    id: str
    arm: str
    movement: Movement
    description: str
    crosses_me: bool
    ahead_of_me: bool = False


class PlannerView(Record):
    """One driver's view of a round (see the module docstring)."""

    round: int
    me: Vehicle
    others: tuple[PublicVehicle, ...]
    history: tuple[PublicRound, ...] = ()
    feedback: CriticReport | None = None

    @property
    def previous(self) -> Proposal | None:
        """This vehicle's proposal of the previous round, if any."""
        return self.history[-1].proposal(self.me.id) if self.history else None


def view_for(
    scenario: Scenario,
    vid: str,
    round_no: int,
    history: tuple[PublicRound, ...] = (),
    feedback: CriticReport | None = None,
) -> PlannerView:
    """The view of vehicle ``vid``: its own state, the others' public intent, the public rounds, the feedback."""
    leader = scenario.lane_leader(vid)
    others = tuple(
        PublicVehicle(
            id=v.id,
            arm=v.arm,
            movement=v.movement,
            description=v.describe(),
            crosses_me=scenario.conflict(vid, v.id),
            ahead_of_me=v.id == leader,
        )
        for v in scenario.vehicles
        if v.id != vid
    )
    return PlannerView(round=round_no, me=scenario.vehicle(vid), others=others, history=history, feedback=feedback)


@runtime_checkable
class Planner(Protocol):
    """Turns one driver's view into its proposal for the round (see the module docstring)."""

    name: str

    async def propose(self, view: PlannerView) -> Proposal: ...


class RulePlanner:
    """The deterministic planner described in the module docstring."""

    name = "rules"

    def __init__(self, occupancy_guess: float = OCCUPANCY_GUESS) -> None:
        self.occupancy_guess = occupancy_guess

    async def propose(self, view: PlannerView) -> Proposal:
        return self.plan(view)

    def plan(self, view: PlannerView) -> Proposal:
        """The proposal, synchronously (the planner never waits for anything)."""
        me = view.me
        prev = view.previous
        if prev is None:
            return Proposal(
                vehicle=me.id,
                entry_time=round(me.earliest, 3),
                urgency_claim=me.urgency,
                reason=f"first round: I go at my earliest arrival, {me.earliest:.1f}s",
            )
        if view.feedback is not None:
            return self._follow(view, prev)
        return self._guess(view, prev)

    def _follow(self, view: PlannerView, prev: Proposal) -> Proposal:
        assert view.feedback is not None
        advice = view.feedback.for_vehicle(view.me.id)
        if not advice:
            return prev.model_copy(
                update={
                    "accept": True,
                    "reason": "the critic advises no change: I accept",
                    "source": "rules",
                    "error": "",
                }
            )
        yields = set(prev.yield_to)
        entry = prev.entry_time
        for d in advice:
            entry = d.apply(yields, entry)
        return Proposal(
            vehicle=view.me.id,
            yield_to=tuple(sorted(yields)),
            entry_time=entry,
            urgency_claim=prev.urgency_claim,
            reason="following the critic: " + "; ".join(d.text() for d in advice),
        )

    def _guess(self, view: PlannerView, prev: Proposal) -> Proposal:
        me = view.me
        last = view.history[-1]
        mine = (URGENCY_WEIGHT[me.urgency], me.earliest, me.id)
        yields: list[str] = []
        why: list[str] = []
        for other in view.others:
            if not other.crosses_me:
                continue
            p = last.proposal(other.id)
            if abs(p.entry_time - me.earliest) >= self.occupancy_guess:
                continue
            w = URGENCY_WEIGHT[p.urgency_claim]
            if w > mine[0] or (w == mine[0] and (p.entry_time, other.id) < (mine[1], mine[2])):
                yields.append(other.id)
                why.append(f"{other.id} ({p.urgency_claim}, enters ≥{p.entry_time:.1f}s)")
        proposal = Proposal(
            vehicle=me.id,
            yield_to=tuple(sorted(yields)),
            entry_time=round(me.earliest, 3),
            urgency_claim=me.urgency,
            reason=("I let " + ", ".join(why) + " go first")
            if why
            else "no one with priority arrives near my time: I go",
        )
        if proposal.same_plan(prev):
            return proposal.model_copy(update={"accept": True, "reason": proposal.reason + "; I accept"})
        return proposal


__all__ = ["OCCUPANCY_GUESS", "Planner", "PlannerView", "PublicVehicle", "RulePlanner", "view_for"]
