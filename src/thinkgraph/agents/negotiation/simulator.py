"""A deterministic, pure simulator of one intersection's conflict zone, and the two baselines (after CoLMDriver,
Liu et al. 2025, whose negotiated plans are checked by simulation).

A schedule gives each vehicle the time it is to enter the conflict zone.  The simulator honours kinematics (a
vehicle cannot enter before its free-flow arrival ``distance / speed``; the entry is moved to then and marked
``clamped``), keeps it in the zone for ``(path length + vehicle length) / speed`` seconds, and reports:

* conflicts: two vehicles whose paths share the zone occupying it within :data:`CLEARANCE` seconds of each other
  (``overlap``), or a follower entering before the vehicle ahead of it in its lane (``queue``);
* each vehicle's delay against its free-flow arrival, the mean delay, and the urgency-weighted mean delay
  ``Σ w·delay / Σ w`` (weights :data:`URGENCY_WEIGHT`: ambulance 5, late 2, normal 1);
* which drivers enter after their desired arrival (``late``) and when the last vehicle clears the zone.

Baselines: :func:`uncoordinated_schedule` (everyone enters at its free-flow arrival: no delay, conflicts) and
:func:`fcfs_schedule` (first come, first served: in order of arrival, each enters at the first time the zone is
clear of conflicting traffic already scheduled — conflict-free by construction, urgency ignored).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal

from thinkgraph.agents.negotiation.scenario import CLEARANCE, Scenario
from thinkgraph.messages import Record

EPS = 1e-6


class ScheduleError(ValueError):
    """A schedule does not fit its scenario (an unknown or missing vehicle, a duplicate, a time that is not a
    finite number ≥ 0): a developer error, raised before anything is simulated."""


class Slot(Record):
    vehicle: str
    entry: float


class Schedule(Record):
    """Requested entry times into the conflict zone, one per vehicle, listed in time order.  ``source`` says
    where it came from (``negotiated``, ``fcfs``, ``uncoordinated`` …)."""

    slots: tuple[Slot, ...]
    source: str = ""

    @classmethod
    def of(cls, entries: Mapping[str, float], source: str = "") -> Schedule:
        ordered = sorted(entries.items(), key=lambda kv: (kv[1], kv[0]))
        return cls(slots=tuple(Slot(vehicle=v, entry=float(t)) for v, t in ordered), source=source)

    def entries(self) -> dict[str, float]:
        return {s.vehicle: s.entry for s in self.slots}

    def shown(self) -> dict[str, float]:
        """The entries rounded to centiseconds, for people and prompts."""
        return {s.vehicle: round(s.entry, 2) for s in self.slots}

    def order(self) -> tuple[str, ...]:
        return tuple(s.vehicle for s in self.slots)

    def text(self) -> str:
        return ", ".join(f"{s.vehicle} {s.entry:.1f}s" for s in self.slots)


class Conflict(Record):
    """Two vehicles that may not share the zone do: ``start``–``end`` is when both are in it (``end`` ≤ ``start``
    when they are not at once but less than :data:`CLEARANCE` apart), or (``queue``) ``b`` would enter at
    ``start`` before ``a``, the vehicle ahead of it in its lane, at ``end``."""

    a: str
    b: str
    kind: Literal["overlap", "queue"]
    start: float
    end: float

    def text(self) -> str:
        if self.kind == "queue":
            return f"{self.b} would pass {self.a} in their lane"
        if self.end > self.start:
            return f"{self.a} and {self.b} in the zone together {self.start:.1f}–{self.end:.1f}s"
        return (
            f"{self.b} enters {self.start - self.end:.1f}s after {self.a} leaves (under the {CLEARANCE:g}s clearance)"
        )


class VehicleOutcome(Record):
    vehicle: str
    earliest: float
    entry: float
    exit: float
    delay: float
    weight: float
    late: bool  # entered after the driver's desired arrival
    clamped: bool  # the schedule asked for an entry before it could arrive


class OutcomeSummary(Record):
    """The figures of an outcome, without the per-vehicle rows."""

    conflicts: int
    mean_delay: float
    weighted_delay: float
    max_delay: float
    late: int
    makespan: float


class Outcome(Record):
    vehicles: tuple[VehicleOutcome, ...]
    conflicts: tuple[Conflict, ...]
    mean_delay: float
    weighted_delay: float
    max_delay: float
    late: int
    makespan: float

    @property
    def conflict_free(self) -> bool:
        return not self.conflicts

    def of(self, vid: str) -> VehicleOutcome:
        for row in self.vehicles:
            if row.vehicle == vid:
                return row
        raise KeyError(vid)

    def summary(self) -> OutcomeSummary:
        return OutcomeSummary(
            conflicts=len(self.conflicts),
            mean_delay=self.mean_delay,
            weighted_delay=self.weighted_delay,
            max_delay=self.max_delay,
            late=self.late,
            makespan=self.makespan,
        )

    def as_tool_output(self) -> dict[str, object]:
        """What the trace shows of a simulator call: conflicts and delays, compactly."""
        return {
            "conflicts": [c.text() for c in self.conflicts],
            "delays": {r.vehicle: r.delay for r in self.vehicles},
            "mean_delay": self.mean_delay,
            "weighted_delay": self.weighted_delay,
            "late": self.late,
        }


def _overlap(a_in: float, a_out: float, b_in: float, b_out: float) -> bool:
    return a_in < b_out + CLEARANCE - EPS and b_in < a_out + CLEARANCE - EPS


def _check_entries(scenario: Scenario, entries: Mapping[str, float]) -> None:
    known = set(scenario.ids)
    unknown = sorted(set(entries) - known)
    missing = sorted(known - set(entries))
    if unknown or missing:
        raise ScheduleError(
            f"a schedule names every vehicle once: unknown {unknown or '—'}, missing {missing or '—'}; "
            f"vehicles: {', '.join(scenario.ids)}"
        )
    for vid, t in entries.items():
        if not (isinstance(t, int | float) and math.isfinite(t) and t >= 0):
            raise ScheduleError(f"entry time of {vid} must be a finite number ≥ 0, not {t!r}")


def simulate(scenario: Scenario, schedule: Schedule) -> Outcome:
    """Simulate ``schedule`` on ``scenario``: actual entries and exits, conflicts, delays (pure, deterministic)."""
    if len({s.vehicle for s in schedule.slots}) != len(schedule.slots):
        raise ScheduleError(f"a vehicle is scheduled twice: {[s.vehicle for s in schedule.slots]}")
    requested = schedule.entries()
    _check_entries(scenario, requested)
    rows: list[VehicleOutcome] = []
    times: dict[str, tuple[float, float]] = {}
    for v in scenario.vehicles:
        want = requested[v.id]
        entry = max(want, v.earliest)
        exit_ = entry + v.occupancy
        times[v.id] = (entry, exit_)
        rows.append(
            VehicleOutcome(
                vehicle=v.id,
                earliest=round(v.earliest, 3),
                entry=round(entry, 3),
                exit=round(exit_, 3),
                delay=round(entry - v.earliest, 3),
                weight=v.weight,
                late=entry > v.desired_arrival + EPS,
                clamped=want < v.earliest - 1e-3,
            )
        )
    conflicts: list[Conflict] = []
    for a, b in scenario.conflicts:
        (a_in, a_out), (b_in, b_out) = times[a], times[b]
        lead, follow = _lane_pair(scenario, a, b)
        if lead is not None and follow is not None and times[follow][0] < times[lead][0] - EPS:
            conflicts.append(
                Conflict(a=lead, b=follow, kind="queue", start=round(times[follow][0], 3), end=round(times[lead][0], 3))
            )
        elif _overlap(a_in, a_out, b_in, b_out):
            first, second = (a, b) if (a_in, a) <= (b_in, b) else (b, a)
            conflicts.append(
                Conflict(
                    a=first, b=second, kind="overlap", start=round(max(a_in, b_in), 3), end=round(min(a_out, b_out), 3)
                )
            )
    conflicts.sort(key=lambda c: (c.start, c.a, c.b))
    total_w = sum(r.weight for r in rows)
    return Outcome(
        vehicles=tuple(rows),
        conflicts=tuple(conflicts),
        mean_delay=round(sum(r.delay for r in rows) / len(rows), 3),
        weighted_delay=round(sum(r.weight * r.delay for r in rows) / total_w, 3),
        max_delay=round(max(r.delay for r in rows), 3),
        late=sum(r.late for r in rows),
        makespan=round(max(r.exit for r in rows), 3),
    )


def _lane_pair(scenario: Scenario, a: str, b: str) -> tuple[str | None, str | None]:
    """(leader, follower) when ``a`` and ``b`` share a lane, else (None, None)."""
    va, vb = scenario.vehicle(a), scenario.vehicle(b)
    if va.arm != vb.arm:
        return None, None
    return (a, b) if va.distance < vb.distance else (b, a)


def first_fit(
    scenario: Scenario, order: Iterable[str], not_before: Mapping[str, float] | None = None, source: str = ""
) -> Schedule:
    """Place vehicles one at a time in ``order``, each at the first time (≥ its arrival, ≥ ``not_before``, not
    before the vehicle ahead in its lane) its occupancy overlaps no conflicting vehicle placed before it."""
    placed: dict[str, tuple[float, float]] = {}
    order = list(order)
    _check_entries(scenario, dict.fromkeys(order, 0.0))
    for vid in order:
        v = scenario.vehicle(vid)
        t = max(v.earliest, (not_before or {}).get(vid, 0.0))
        leader = scenario.lane_leader(vid)
        if leader is not None and leader in placed:
            t = max(t, placed[leader][0])
        while True:
            blocking = [
                out
                for u, (inn, out) in placed.items()
                if scenario.conflict(vid, u) and _overlap(t, t + v.occupancy, inn, out)
            ]
            if not blocking:
                break
            t = max(blocking) + CLEARANCE
        placed[vid] = (t, t + v.occupancy)
    return Schedule.of({vid: inn for vid, (inn, _out) in placed.items()}, source=source)


def fcfs_schedule(scenario: Scenario) -> Schedule:
    """First come, first served: by free-flow arrival (ties by id), each at the first conflict-free time."""
    order = sorted(scenario.vehicles, key=lambda v: (v.earliest, v.id))
    return first_fit(scenario, [v.id for v in order], source="fcfs")


def uncoordinated_schedule(scenario: Scenario) -> Schedule:
    """No coordination: every vehicle enters at its free-flow arrival."""
    return Schedule.of({v.id: v.earliest for v in scenario.vehicles}, source="uncoordinated")


__all__ = [
    "Conflict",
    "Outcome",
    "OutcomeSummary",
    "Schedule",
    "ScheduleError",
    "Slot",
    "VehicleOutcome",
    "fcfs_schedule",
    "first_fit",
    "simulate",
    "uncoordinated_schedule",
]
