"""The critic: scores each round from the simulated consequences of the drivers' decisions and tells them what
to change (the critic of CoLMDriver's actor-critic negotiation, Liu et al. 2025).

Extension point: a :class:`Critic` has ``name`` and ``async review(...) -> CriticReport``; it is called once per
round, after the simulator, with that round's proposals, the mediator's candidate schedule, its simulated
outcome and every earlier round.  It must not change anything; its report (score, per-vehicle directives, a
feedback text) is what the planners see next round.  Without a critic the planners see only the public
proposals and schedules, never the consequences.

:class:`RuleCritic` (deterministic):

* **credit** — a vehicle earns one point of priority credit for every earlier round in which it yielded and was
  delayed by it (> 0.5 s); its priority is its claimed urgency's weight plus 0.5 per point;
* **consequences** — it simulates the alternatives: every crossing order (all of them up to 6 vehicles, a local
  search over swaps and moves beyond), each vehicle entering at the first conflict-free time at or after its
  wanted time, and takes the order with the least priority-weighted delay ``Σ priority·delay`` (so urgency is
  honoured and a vehicle that already gave way is favoured);
* **advice** — when the round's schedule has a conflict, or the best order lowers that cost by more than 0.05,
  it advises the yields that turn the drivers' proposals into that order: ``yield_to`` where a vehicle must
  wait for another, ``drop_yield`` where a yield delays it for nothing or contradicts the order; yields the
  mediator had to ignore (unknown vehicle, deadlock) are advised dropped.  Otherwise it advises nothing, and
  the drivers may accept.

Score: ``-(10·conflicts + urgency-weighted mean delay)``: 0 is best.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import permutations
from typing import Protocol, runtime_checkable

from thinkgraph.agents.negotiation.mediator import schedule_for
from thinkgraph.agents.negotiation.records import CriticReport, Directive, Mediation, Proposal, RoundRecord
from thinkgraph.agents.negotiation.scenario import CLEARANCE, URGENCY_WEIGHT, Scenario
from thinkgraph.agents.negotiation.simulator import Outcome

CONFLICT_COST = 10.0  # score points per conflict
CREDIT = 0.5  # priority per point of credit
MIN_GAIN = 0.05  # priority-weighted seconds an order must save before the critic advises a change
EXHAUSTIVE = 6  # up to this many vehicles every order is tried
_EPS = 1e-6


@runtime_checkable
class Critic(Protocol):
    """Scores a round from its consequences and advises the drivers (see the module docstring)."""

    name: str

    async def review(
        self,
        scenario: Scenario,
        round_no: int,
        proposals: Mapping[str, Proposal],
        mediation: Mediation,
        outcome: Outcome,
        history: Sequence[RoundRecord],
    ) -> CriticReport: ...


class _Zone:
    """The conflict zone with each vehicle's kinematics precomputed: first-fit schedules of crossing orders."""

    def __init__(self, scenario: Scenario, wants: Mapping[str, float], weights: Mapping[str, float]) -> None:
        self.ids = scenario.ids
        n = len(self.ids)
        vs = scenario.vehicles
        self.earliest = [v.earliest for v in vs]
        self.occ = [v.occupancy for v in vs]
        self.start = [max(v.earliest, wants.get(v.id, v.earliest)) for v in vs]
        self.weight = [weights[v.id] for v in vs]
        self.conf = [[scenario.conflict(a, b) for b in self.ids] for a in self.ids]
        pos = {vid: i for i, vid in enumerate(self.ids)}
        self.leader = [pos.get(scenario.lane_leader(vid) or "", -1) for vid in self.ids]
        self.n = n

    def valid(self, order: Sequence[int]) -> bool:
        seen: set[int] = set()
        for i in order:
            if self.leader[i] >= 0 and self.leader[i] not in seen:
                return False
            seen.add(i)
        return True

    def fit(self, order: Sequence[int]) -> list[float]:
        entry = [0.0] * self.n
        placed: list[tuple[float, float, int]] = []
        for i in order:
            t = self.start[i]
            if self.leader[i] >= 0:
                t = max(t, entry[self.leader[i]])
            while True:
                end = t + self.occ[i]
                blocking = [
                    out
                    for inn, out, j in placed
                    if self.conf[i][j] and t < out + CLEARANCE - _EPS and inn < end + CLEARANCE - _EPS
                ]
                if not blocking:
                    break
                t = max(blocking) + CLEARANCE
            placed.append((t, t + self.occ[i], i))
            entry[i] = t
        return entry

    def cost(self, entry: Sequence[float]) -> float:
        return sum(w * (t - e) for w, t, e in zip(self.weight, entry, self.earliest, strict=True))

    def best(self, seeds: Sequence[Sequence[int]]) -> list[float]:
        """The first-fit entries of the cheapest valid order (every order when few, else a local search)."""
        if self.n <= EXHAUSTIVE:
            candidates = (p for p in permutations(range(self.n)) if self.valid(p))
            return min((self.fit(p) for p in candidates), key=self.cost)
        best_order: list[int] = []
        best_cost = float("inf")
        for seed in seeds:
            order = list(seed)
            if not self.valid(order):
                continue
            cost = self.cost(self.fit(order))
            for _ in range(50):
                improved = False
                for a in range(self.n):
                    for b in range(self.n):
                        if a == b:
                            continue
                        trial = order[:a] + order[a + 1 :]
                        trial.insert(b, order[a])
                        if self.valid(trial) and (c := self.cost(self.fit(trial))) < cost - _EPS:
                            order, cost, improved = trial, c, True
                if not improved:
                    break
            if cost < best_cost:
                best_order, best_cost = order, cost
        return self.fit(best_order)


class RuleCritic:
    """The deterministic critic described in the module docstring."""

    name = "rules"

    def credit(self, history: Sequence[RoundRecord]) -> dict[str, int]:
        """Points per vehicle: earlier rounds in which it yielded (lane order aside) and was delayed > 0.5 s."""
        points: dict[str, int] = {}
        for r in history:
            for v in r.mediation.yields():
                if r.outcome.of(v).delay > 0.5:
                    points[v] = points.get(v, 0) + 1
        return points

    async def review(
        self,
        scenario: Scenario,
        round_no: int,
        proposals: Mapping[str, Proposal],
        mediation: Mediation,
        outcome: Outcome,
        history: Sequence[RoundRecord],
    ) -> CriticReport:
        credit = self.credit(history)  # earned in earlier rounds: the consequences of earlier decisions
        claims = {v: URGENCY_WEIGHT[proposals[v].urgency_claim] for v in scenario.ids}
        priority = {v: claims[v] + CREDIT * credit.get(v, 0) for v in scenario.ids}
        wants = {v: proposals[v].entry_time for v in scenario.ids}
        zone = _Zone(scenario, {}, priority)  # the alternatives let every vehicle enter from its earliest arrival
        current = [outcome.of(v).entry for v in scenario.ids]
        by_now = sorted(range(zone.n), key=lambda i: (current[i], i))
        by_arrival = sorted(range(zone.n), key=lambda i: (zone.start[i], i))
        by_priority = sorted(range(zone.n), key=lambda i: (-zone.weight[i], zone.start[i], i))
        best = zone.best([by_now, by_arrival, by_priority])
        now_cost, best_cost = zone.cost(current), zone.cost(best)
        yields = mediation.yields()
        directives: list[Directive] = []
        summary = ""
        if not outcome.conflict_free or best_cost < now_cost - MIN_GAIN:
            target = dict(zip(scenario.ids, best, strict=True))
            directives = self._advise(scenario, wants, yields, target, claims)
            order = ", ".join(sorted(scenario.ids, key=lambda v: (target[v], v)))
            now = f"{now_cost:.1f} with conflicts" if not outcome.conflict_free else f"{now_cost:.1f}"
            summary = (
                f"Best conflict-free order found by simulation: {order} (priority-weighted delay {best_cost:.1f}; "
                f"this round's schedule: {now})."
            )
        for v, u in mediation.ignored:
            why = (
                "it is not another vehicle"
                if u not in scenario.ids or u == v
                else ("it is behind you in your lane" if scenario.lane_leader(u) == v else "it would deadlock")
            )
            directives.append(
                Directive(vehicle=v, action="drop_yield", other=u, reason=f"the mediator ignored it: {why}")
            )
        score = round(-(CONFLICT_COST * len(outcome.conflicts) + outcome.weighted_delay), 3) + 0.0  # no -0.0
        public, text = self._text(outcome, score, credit, summary, directives)
        return CriticReport(
            round=round_no,
            score=score,
            conflicts=len(outcome.conflicts),
            weighted_delay=outcome.weighted_delay,
            credit=credit,
            directives=tuple(directives),
            summary=public,
            text=text,
        )

    @staticmethod
    def _advise(
        scenario: Scenario,
        wants: Mapping[str, float],
        yields: Mapping[str, set[str]],
        target: Mapping[str, float],
        claims: Mapping[str, float],
    ) -> list[Directive]:
        """The changes (earlier entries, yields added or dropped) that make the mediator produce ``target`` from
        the drivers' proposals."""
        out: list[Directive] = []
        wants = dict(wants)
        for car in scenario.vehicles:  # a driver waiting for nothing: advise its earliest arrival
            want = wants.get(car.id, car.earliest)
            if want > car.earliest + 0.05 and target[car.id] < want - 0.05:
                wants[car.id] = car.earliest
                out.append(
                    Directive(
                        vehicle=car.id,
                        action="enter_at",
                        other="",
                        time=round(car.earliest, 2),
                        reason=f"waiting until {want:.1f}s delays you for nothing",
                    )
                )
        start = {v.id: max(v.earliest, wants.get(v.id, v.earliest)) for v in scenario.vehicles}
        leave = {v.id: target[v.id] + v.occupancy for v in scenario.vehicles}
        needed: dict[str, set[str]] = {}
        for v in scenario.ids:
            needed[v] = {
                u
                for u in scenario.partners(v)
                if u != scenario.lane_leader(v) and target[u] < target[v] and leave[u] + CLEARANCE > start[v] + _EPS
            }
        kept = {
            v: {u for u in yields.get(v, set()) if u in needed[v] or leave[u] + CLEARANCE <= target[v] + _EPS}
            for v in scenario.ids
        }
        plan = {v: kept[v] | needed[v] for v in scenario.ids}
        check = schedule_for(scenario, plan, wants).schedule.entries()
        if any(abs(check[v] - target[v]) > 0.05 for v in scenario.ids):
            plan = needed  # keeping a harmless-looking yield changed something: advise exactly the needed ones
        for v in scenario.ids:
            now = yields.get(v, set())
            for u in sorted(plan[v] - now):
                why = (
                    f"{u} enters at {target[u]:.1f}s and clears at {leave[u]:.1f}s; you could arrive at {start[v]:.1f}s"
                )
                if claims[u] > claims[v]:
                    why += f"; {u} claims higher urgency"
                out.append(Directive(vehicle=v, action="yield_to", other=u, reason=why))
            for u in sorted(now - plan[v]):
                why = (
                    f"you go before {u} in the best order"
                    if target[u] > target[v]
                    else f"waiting for {u} delays you for nothing"
                )
                out.append(Directive(vehicle=v, action="drop_yield", other=u, reason=why))
        return out

    @staticmethod
    def _text(
        outcome: Outcome, score: float, credit: Mapping[str, int], summary: str, directives: Sequence[Directive]
    ) -> tuple[str, str]:
        """The public feedback (what every driver reads) and the full text (with each driver's advice)."""
        parts = [
            f"score {score:.2f}: {len(outcome.conflicts)} conflict(s), urgency-weighted delay "
            f"{outcome.weighted_delay:.2f}s, mean delay {outcome.mean_delay:.2f}s."
        ]
        parts.extend(f"Conflict: {c.text()}." for c in outcome.conflicts)
        if credit:
            parts.append(
                "Priority credit for yielding earlier: "
                + ", ".join(f"{v} +{n}" for v, n in sorted(credit.items()))
                + "."
            )
        if summary:
            parts.append(summary)
        if not directives:
            parts.append("No change advised: accept this schedule.")
        public = " ".join(parts)
        return public, " ".join([public, *(f"Advice: {d.text()}." for d in directives)])


__all__ = ["CONFLICT_COST", "CREDIT", "MIN_GAIN", "Critic", "RuleCritic"]
