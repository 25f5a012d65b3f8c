"""Negotiating drivers as nodes, after CoLMDriver (Liu et al. 2025, "CoLMDriver: LLM-based Negotiation Benefits
Cooperative Autonomous Driving"): ``negotiation.scenario`` (a seed → an intersection scenario) and
``negotiation.negotiate`` (a scenario → a negotiated, simulator-checked schedule).

    workflow: negotiation
    input: negotiation_request          # {"seed": 3} or {"seed": 3, "n_vehicles": 5}
    output: negotiation_result
    nodes:
      scenario:  {use: negotiation.scenario}
      negotiate: {use: negotiation.negotiate, with: {planner: llm, critic: true, max_rounds: 4}}
    edges:
      - {from: scenario, to: negotiate}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.agents.negotiation.critic import RuleCritic
from thinkgraph.agents.negotiation.llm_planner import LLMPlanner
from thinkgraph.agents.negotiation.negotiate import negotiate
from thinkgraph.agents.negotiation.planner import Planner, RulePlanner
from thinkgraph.agents.negotiation.records import NegotiationResult
from thinkgraph.agents.negotiation.scenario import NegotiationRequest, Scenario
from thinkgraph.graphs.node import NodeContext, node


@node("negotiation.scenario")
async def scenario_node(request: NegotiationRequest) -> Scenario:
    """The intersection scenario of a seed: 3–6 vehicles (or ``n_vehicles``), the conflict table."""
    return Scenario.generate(request.seed, request.n_vehicles)


class NegotiateParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    planner: Literal["llm", "rules"] = Field(
        default="llm", description="who proposes for each vehicle: the model, or the deterministic rule planner"
    )
    critic: bool = Field(default=True, description="score each round from its simulated consequences and advise")
    max_rounds: int = Field(default=6, ge=1, le=20, description="rounds before falling back to FCFS")
    max_tokens: int = Field(default=160, ge=32, le=2048, description="tokens per LLM proposal")
    temperature: float = Field(default=0.0, ge=0, le=2, description="LLM sampling temperature")
    retries: int = Field(default=1, ge=0, le=3, description="unusable LLM replies sent back before the fallback")


# No static ``needs``: the rule planner runs without a model; with ``planner: llm`` the node takes the run's model
# (``--model SPEC``), and a run without one fails with a RunSetupError saying so.
@node("negotiation.negotiate", params=NegotiateParams)
async def negotiate_node(ctx: NodeContext, scenario: Scenario, params: NegotiateParams) -> NegotiationResult:
    """Vehicles negotiate who crosses first in rounds of proposals (the model needed with planner llm); a critic
    scores each round, a simulator checks every schedule; no agreement → the FCFS schedule."""
    planner: Planner
    if params.planner == "llm":
        planner = LLMPlanner(
            ctx.model,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            retries=params.retries,
            note=ctx.note,
        )
    else:
        planner = RulePlanner()
    critic = RuleCritic() if params.critic else None
    return await negotiate(scenario, planner, critic, max_rounds=params.max_rounds, emit=ctx.tracer.emit)


__all__ = ["NegotiateParams", "negotiate_node", "scenario_node"]
