"""The mediator: a round's proposals → one candidate schedule (after CoLMDriver, Liu et al. 2025).

A proposal says whom a vehicle lets cross first (``yield_to``) and when it wants to enter.  The mediator honours
these literally: a vehicle enters at its wanted time (never before it can arrive), or later when it yields —
after each vehicle it yields to has cleared the zone (plus :data:`CLEARANCE`).  A follower always waits for the
vehicle ahead of it in its lane.  A yield that names no other vehicle of the scenario, or that would close a
cycle (two vehicles waiting for each other: the "after you" deadlock), is ignored and noted; proposals are read
in vehicle order, so of two vehicles yielding to each other the first one's yield stands.

The mediator does not resolve conflicts between vehicles that both go: the simulator finds them and the critic
(or the drivers) must settle them in the next round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from thinkgraph.agents.negotiation.records import Mediation, Proposal
from thinkgraph.agents.negotiation.scenario import CLEARANCE, Scenario
from thinkgraph.agents.negotiation.simulator import Schedule, ScheduleError


def _reaches(succ: Mapping[str, list[str]], start: str, goal: str) -> bool:
    seen: set[str] = set()
    stack = [start]
    while stack:
        x = stack.pop()
        if x == goal:
            return True
        if x not in seen:
            seen.add(x)
            stack.extend(succ.get(x, ()))
    return False


def schedule_for(
    scenario: Scenario, yields: Mapping[str, Iterable[str]], wants: Mapping[str, float] | None = None
) -> Mediation:
    """The candidate schedule for yield relations ``yields`` (vehicle → vehicles it lets go first) and wanted
    entry times ``wants`` (default: each vehicle's earliest arrival)."""
    ids = scenario.ids
    succ: dict[str, list[str]] = {v: [] for v in ids}
    lane: list[tuple[str, str]] = []
    edges: list[tuple[str, str]] = []
    ignored: list[tuple[str, str]] = []
    notes: list[str] = []
    for v in ids:
        leader = scenario.lane_leader(v)
        if leader is not None:
            succ[v].append(leader)
            lane.append((v, leader))
            edges.append((v, leader))
    for v in ids:
        for u in yields.get(v, ()):
            if u == v or u not in succ:
                ignored.append((v, u))
                notes.append(f"{v} yields to {u!r}, which is not another vehicle here: ignored")
            elif u in succ[v]:
                continue
            elif scenario.lane_leader(u) == v:
                ignored.append((v, u))
                notes.append(f"{v} yields to {u}, which is behind it in its lane: ignored")
            elif _reaches(succ, u, v):
                ignored.append((v, u))
                notes.append(f"{v} yields to {u}, but {u} already waits for {v}: ignored (it would deadlock)")
            else:
                succ[v].append(u)
                edges.append((v, u))
    entry: dict[str, float] = {}

    def place(v: str) -> float:
        if v in entry:
            return entry[v]
        me = scenario.vehicle(v)
        want = (wants or {}).get(v, me.earliest)
        if want < me.earliest - 1e-3:
            notes.append(f"{v} asked to enter at {want:.1f}s but cannot arrive before {me.earliest:.1f}s")
        t = max(want, me.earliest)
        for u in succ[v]:
            t = max(t, place(u) + scenario.vehicle(u).occupancy + CLEARANCE)
        entry[v] = t
        return t

    for v in ids:
        place(v)
    return Mediation(
        schedule=Schedule.of(entry, source="negotiated"),
        edges=tuple(edges),
        lane_edges=tuple(lane),
        ignored=tuple(ignored),
        notes=tuple(notes),
    )


def mediate(scenario: Scenario, proposals: Mapping[str, Proposal]) -> Mediation:
    """The candidate schedule of one round: every vehicle's proposal honoured as described above."""
    missing = [v for v in scenario.ids if v not in proposals]
    if missing:
        raise ScheduleError(f"no proposal from {', '.join(missing)}: every vehicle proposes each round")
    return schedule_for(
        scenario,
        {v: proposals[v].yield_to for v in scenario.ids},
        {v: proposals[v].entry_time for v in scenario.ids},
    )


__all__ = ["mediate", "schedule_for"]
