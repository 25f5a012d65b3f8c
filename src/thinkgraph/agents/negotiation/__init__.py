"""Negotiating drivers at an intersection, after CoLMDriver (Liu et al. 2025, "CoLMDriver: LLM-based Negotiation
Benefits Cooperative Autonomous Driving").

Vehicles with private goals (route, urgency) approach an intersection and negotiate who crosses the conflict
zone first, in rounds of typed proposals:

* :mod:`.scenario` — seeded scenarios and the conflict table derived from the movements;
* :mod:`.simulator` — a deterministic check of a schedule (conflicts, delays) and the FCFS / no-coordination
  baselines;
* :mod:`.planner` and :mod:`.llm_planner` — intention planners (rules, or a model) behind one protocol;
* :mod:`.mediator` — proposals → a candidate schedule;
* :mod:`.critic` — scores a round from its simulated consequences and advises the drivers;
* :mod:`.negotiate` — the rounds, the stop rule, the FCFS fallback, the trace.

    from thinkgraph.agents.negotiation import RuleCritic, RulePlanner, Scenario, negotiate
    result = asyncio.run(negotiate(Scenario.generate(3), RulePlanner(), RuleCritic()))
    print(result.render())
"""

from thinkgraph.agents.negotiation.critic import Critic, RuleCritic
from thinkgraph.agents.negotiation.llm_planner import LLMPlanner, ProposalParseError, parse_proposal, render_prompt
from thinkgraph.agents.negotiation.mediator import mediate, schedule_for
from thinkgraph.agents.negotiation.negotiate import NegotiationError, negotiate
from thinkgraph.agents.negotiation.planner import Planner, PlannerView, RulePlanner, view_for
from thinkgraph.agents.negotiation.records import (
    CriticReport,
    Directive,
    Mediation,
    NegotiationResult,
    Proposal,
    PublicRound,
    RoundRecord,
    SimulatorCheck,
)
from thinkgraph.agents.negotiation.scenario import NegotiationRequest, Scenario, Vehicle, movements_conflict
from thinkgraph.agents.negotiation.simulator import (
    Conflict,
    Outcome,
    Schedule,
    ScheduleError,
    Slot,
    fcfs_schedule,
    first_fit,
    simulate,
    uncoordinated_schedule,
)

__all__ = [
    "Conflict",
    "Critic",
    "CriticReport",
    "Directive",
    "LLMPlanner",
    "Mediation",
    "NegotiationError",
    "NegotiationRequest",
    "NegotiationResult",
    "Outcome",
    "Planner",
    "PlannerView",
    "Proposal",
    "ProposalParseError",
    "PublicRound",
    "RoundRecord",
    "RuleCritic",
    "RulePlanner",
    "Scenario",
    "Schedule",
    "ScheduleError",
    "SimulatorCheck",
    "Slot",
    "Vehicle",
    "fcfs_schedule",
    "first_fit",
    "mediate",
    "movements_conflict",
    "negotiate",
    "parse_proposal",
    "render_prompt",
    "schedule_for",
    "simulate",
    "uncoordinated_schedule",
    "view_for",
]
