"""Intersection scenarios for negotiating drivers (after CoLMDriver, Liu et al. 2025, "CoLMDriver: LLM-based
Negotiation Benefits Cooperative Autonomous Driving").

A four-arm intersection with right-hand traffic and one lane per approach.  Each vehicle approaches on an arm
(N/E/S/W) and goes straight, turns left or turns right; it has private state (distance to the stop line, speed,
desired arrival time, urgency, a goal in words) and public intent (arm and movement, as a turn signal shows).

Which movements share the conflict zone follows from geometry: the intersection's eight lane ends lie on a circle
in clockwise order ``N-in, N-out, E-in, E-out, S-in, S-out, W-in, W-out``; a movement is the chord from its
arm's *in* point to its exit arm's *out* point, and two movements conflict when their chords cross or share an
end (same approach lane, or merging into the same exit).  So opposing straights and opposing right turns are
compatible, a left turn conflicts with the opposing straight, and two movements into the same exit conflict.

    scenario = Scenario.generate(3)          # the same seed gives the same scenario
    scenario.conflicts                       # (("v1", "v3"), ...) the pairs that share the zone
"""

from __future__ import annotations

import random
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, model_validator

from thinkgraph.messages import Message, Record

Arm = Literal["N", "E", "S", "W"]
Movement = Literal["straight", "left", "right"]
Urgency = Literal["ambulance", "late", "normal"]

ARMS: tuple[Arm, ...] = ("N", "E", "S", "W")
MOVEMENTS: tuple[Movement, ...] = ("straight", "left", "right")
URGENCIES: tuple[Urgency, ...] = ("ambulance", "late", "normal")
#: how much a second of a vehicle's delay counts, by urgency (the urgency-weighted delay uses these)
URGENCY_WEIGHT: dict[str, float] = {"ambulance": 5.0, "late": 2.0, "normal": 1.0}
#: metres driven inside the conflict zone, by movement
PATH_LENGTH: dict[str, float] = {"right": 9.0, "straight": 20.0, "left": 27.0}
VEHICLE_LENGTH = 5.0  # metres: a vehicle occupies the zone until its rear has left it
CLEARANCE = 0.5  # seconds kept free between two conflicting vehicles in the zone
LANE_SPACING = 8.0  # metres at least between a vehicle and the one ahead of it in its lane
MIN_VEHICLES, MAX_VEHICLES = 2, 8

_TURN: dict[str, int] = {"straight": 2, "left": 1, "right": -1}  # exit arm = arm index + this (clockwise N,E,S,W)
_GOALS: dict[str, tuple[str, ...]] = {
    "ambulance": ("carry a patient to the hospital", "reach an accident on the ring road"),
    "late": ("reach a job interview that starts in five minutes", "catch a train that leaves soon"),
    "normal": ("drive home after work", "deliver a parcel, no deadline", "go shopping"),
}


def exit_arm(arm: str, movement: str) -> str:
    """The arm a vehicle leaves by: straight across, left turn or right turn (right-hand traffic)."""
    return ARMS[(ARMS.index(arm) + _TURN[movement]) % 4]  # type: ignore[arg-type]


def _chord(arm: str, movement: str) -> tuple[int, int]:
    """A movement's end points on the circle of lane ends (in points 0, 2, 4, 6; out points 1, 3, 5, 7)."""
    return 2 * ARMS.index(arm), 2 * ARMS.index(exit_arm(arm, movement)) + 1  # type: ignore[arg-type]


def movements_conflict(arm_a: str, movement_a: str, arm_b: str, movement_b: str) -> bool:
    """Whether two movements share the conflict zone: their paths cross, start in the same lane or merge."""
    a, b = _chord(arm_a, movement_a)
    c, d = _chord(arm_b, movement_b)
    if {a, b} & {c, d}:
        return True
    lo, hi = min(a, b), max(a, b)
    return (lo < c < hi) != (lo < d < hi)


class Vehicle(Record):
    """One vehicle.  ``arm`` and ``movement`` are public (a turn signal); the rest is private to its driver."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    arm: Arm
    movement: Movement
    distance: float = Field(gt=0, le=500, description="metres to the stop line (the conflict zone's edge)")
    speed: float = Field(gt=0, le=40, description="cruising speed, m/s")
    desired_arrival: float = Field(ge=0, description="when the driver wants to enter the zone, s from now")
    urgency: Urgency = "normal"
    goal: str = ""

    @property
    def earliest(self) -> float:
        """The free-flow arrival at the conflict zone: it cannot physically enter earlier."""
        return self.distance / self.speed

    @property
    def occupancy(self) -> float:
        """Seconds from entering the conflict zone until its rear has left it."""
        return (PATH_LENGTH[self.movement] + VEHICLE_LENGTH) / self.speed

    @property
    def weight(self) -> float:
        return URGENCY_WEIGHT[self.urgency]

    @property
    def exit_arm(self) -> str:
        return exit_arm(self.arm, self.movement)

    def describe(self) -> str:
        """Its public intent in words: ``v2 from S, turning left (to E)``."""
        how = "straight on" if self.movement == "straight" else f"turning {self.movement}"
        return f"{self.id} from {self.arm}, {how} (to {self.exit_arm})"


def _conflict_table(vehicles: tuple[Vehicle, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for i, a in enumerate(vehicles):
        for b in vehicles[i + 1 :]:
            if movements_conflict(a.arm, a.movement, b.arm, b.movement):
                out.append((a.id, b.id))
    return tuple(out)


class Scenario(Message):
    """Vehicles approaching one intersection, and the conflict table derived from their movements.

    ``conflicts`` may be left out (it is derived); given, it must equal the derived table.  Vehicles on the same
    arm queue in one lane: the one nearer the stop line leads, and the follower cannot pass it."""

    kind: Literal["negotiation_scenario"] = "negotiation_scenario"
    seed: int | None = None
    vehicles: tuple[Vehicle, ...] = Field(min_length=MIN_VEHICLES, max_length=MAX_VEHICLES)
    conflicts: tuple[tuple[str, str], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _derive_conflicts(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("conflicts") and data.get("vehicles"):
            try:
                vehicles = tuple(v if isinstance(v, Vehicle) else Vehicle.model_validate(v) for v in data["vehicles"])
            except (ValueError, TypeError):
                return data  # the field validation reports what is wrong
            data = {**data, "vehicles": vehicles, "conflicts": _conflict_table(vehicles)}
        return data

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        ids = [v.id for v in self.vehicles]
        if len(set(ids)) != len(ids):
            raise ValueError(f"vehicle ids must be unique, got {ids}")
        derived = _conflict_table(self.vehicles)
        if tuple(tuple(p) for p in self.conflicts) != derived:
            raise ValueError(f"conflicts must be the table derived from the movements: {list(derived)}")
        for arm in ARMS:
            lane = sorted((v for v in self.vehicles if v.arm == arm), key=lambda v: v.distance)
            for lead, follow in pairwise(lane):
                if follow.distance - lead.distance < LANE_SPACING - 1e-9:
                    raise ValueError(
                        f"{follow.id} is {follow.distance - lead.distance:.1f} m behind {lead.id} in lane {arm}: "
                        f"vehicles in one lane are at least {LANE_SPACING:g} m apart"
                    )
        return self

    # ------------------------------------------------------------------ lookups

    def vehicle(self, vid: str) -> Vehicle:
        for v in self.vehicles:
            if v.id == vid:
                return v
        raise KeyError(f"no vehicle {vid!r} in this scenario; vehicles: {', '.join(self.ids)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(v.id for v in self.vehicles)

    def conflict(self, a: str, b: str) -> bool:
        """Whether vehicles ``a`` and ``b`` share the conflict zone."""
        return (a, b) in self.conflicts or (b, a) in self.conflicts

    def partners(self, vid: str) -> tuple[str, ...]:
        """The vehicles whose paths share the conflict zone with ``vid``'s path."""
        return tuple(o for o in self.ids if o != vid and self.conflict(vid, o))

    def lane_leader(self, vid: str) -> str | None:
        """The vehicle directly ahead of ``vid`` in its lane (same arm, nearer the stop line), if any."""
        me = self.vehicle(vid)
        ahead = [v for v in self.vehicles if v.arm == me.arm and v.distance < me.distance]
        return max(ahead, key=lambda v: v.distance).id if ahead else None

    def summary(self) -> str:
        urgent = [f"{v.id} {v.urgency}" for v in self.vehicles if v.urgency != "normal"]
        return (
            f"{len(self.vehicles)} vehicles, {len(self.conflicts)} conflicting pairs"
            + (f" ({', '.join(urgent)})" if urgent else "")
            + (f", seed {self.seed}" if self.seed is not None else "")
        )

    def render(self) -> str:
        lines = [self.summary()]
        for v in self.vehicles:
            lines.append(
                f"  {v.describe()}: {v.distance:g} m at {v.speed:g} m/s (arrives {v.earliest:.1f} s, "
                f"in the zone {v.occupancy:.1f} s), wants {v.desired_arrival:.1f} s, {v.urgency}: {v.goal}"
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ generation

    @classmethod
    def generate(cls, seed: int, n_vehicles: int | None = None) -> Scenario:
        """A scenario drawn from ``seed`` alone (3–6 vehicles unless ``n_vehicles`` is given; at most two per
        arm).  Arrivals fall within a few seconds of each other, so most scenarios need coordination."""
        if n_vehicles is not None and not MIN_VEHICLES <= n_vehicles <= MAX_VEHICLES:
            raise ValueError(f"n_vehicles must be between {MIN_VEHICLES} and {MAX_VEHICLES}, not {n_vehicles}")
        rng = random.Random(seed)
        n = n_vehicles if n_vehicles is not None else rng.randint(3, 6)
        lanes = rng.sample([arm for arm in ARMS for _ in range(2)], n)
        vehicles: list[Vehicle] = []
        ambulance = False
        for i, arm in enumerate(lanes, start=1):
            movement = rng.choices(MOVEMENTS, weights=(0.5, 0.3, 0.2))[0]
            speed = round(rng.uniform(8.0, 14.0), 1)
            distance = round(rng.uniform(1.5, 6.5) * speed, 1)
            ahead = [v for v in vehicles if v.arm == arm]
            if ahead:  # the second vehicle of a lane follows the first, no faster than it
                speed = min(speed, ahead[0].speed)
                distance = max(distance, round(ahead[0].distance + LANE_SPACING + rng.uniform(0.0, 20.0), 1))
            draw = rng.random()
            urgency: Urgency = "normal"
            if draw < 0.12 and not ambulance:
                urgency, ambulance = "ambulance", True
            elif draw < 0.35:
                urgency = "late"
            slack = {"ambulance": 0.5, "late": rng.uniform(0.5, 2.0), "normal": rng.uniform(3.0, 8.0)}[urgency]
            vehicles.append(
                Vehicle(
                    id=f"v{i}",
                    arm=arm,
                    movement=movement,
                    distance=distance,
                    speed=speed,
                    desired_arrival=round(distance / speed + slack, 1),
                    urgency=urgency,
                    goal=rng.choice(_GOALS[urgency]),
                )
            )
        return cls(seed=seed, vehicles=tuple(vehicles))


class NegotiationRequest(Message):
    """A workflow's input: the seed of a generated scenario (and optionally how many vehicles it has)."""

    kind: Literal["negotiation_request"] = "negotiation_request"
    seed: int = Field(ge=0, le=2**31 - 1)
    n_vehicles: int | None = Field(default=None, ge=MIN_VEHICLES, le=MAX_VEHICLES)

    def summary(self) -> str:
        return f"seed {self.seed}" + (f", {self.n_vehicles} vehicles" if self.n_vehicles else "")


__all__ = [
    "ARMS",
    "CLEARANCE",
    "MOVEMENTS",
    "PATH_LENGTH",
    "URGENCIES",
    "URGENCY_WEIGHT",
    "VEHICLE_LENGTH",
    "Arm",
    "Movement",
    "NegotiationRequest",
    "Scenario",
    "Urgency",
    "Vehicle",
    "exit_arm",
    "movements_conflict",
]
