"""The LLM intention planner: a model drives one vehicle (after CoLMDriver, Liu et al. 2025, whose drivers
negotiate in natural language and structured proposals).

The prompt (:func:`render_prompt`, a pure function: the trace shows exactly what the model saw) holds the
driver's private state, the others' public intent, the last two rounds' proposals and candidate schedules, and
— with a critic — the critic's feedback and its advice to this driver.  The reply is one JSON object, asked for
with a JSON schema when the backend honours one (``json_schema`` capability) and parsed robustly either way
(:func:`parse_proposal`: code fences, prose around the object, strings for numbers, a lone id for a list).
``accept`` counts only when the plan is the previous one (``{"accept": true}`` alone keeps it): a changed plan
is a new proposal whatever the flag says.  An
unusable reply goes back to the model with what was wrong (``retries`` times); after that, or when the model
call fails, the vehicle's proposal comes from the fallback planner (the rule planner), recorded as
``source="fallback"`` with the errors.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from thinkgraph.agents.negotiation.planner import Planner, PlannerView, RulePlanner
from thinkgraph.agents.negotiation.records import Proposal
from thinkgraph.agents.negotiation.scenario import URGENCIES
from thinkgraph.llm.base import ChatRequest, ModelError, ModelUnavailable, capabilities_of
from thinkgraph.messages import ChatMessage

_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)
_PLAN_KEYS = {"action", "yield_to", "entry_time", "urgency"}

SYSTEM = (
    "You drive vehicle {id} towards a four-way intersection. Vehicles whose paths cross must never be in the "
    "conflict zone at the same time. Each round every driver proposes to go, or to yield: let named vehicles "
    "cross first. Reply with only one JSON object with these keys:\n"
    '"reason": why, in at most ten words; "action": "go" or "yield"; "yield_to": the ids of the vehicles you '
    'let cross first ([] when you go); "entry_time": when you enter the zone, in seconds from now (your earliest '
    'arrival unless you choose to wait); "urgency": "ambulance", "late" or "normal"; "accept": true when you '
    "propose the same as last round and accept last round's schedule, else false."
)


def _plan_json(p: Proposal, accept: bool, yields: tuple[str, ...] | None = None, entry: float | None = None) -> str:
    ys = p.yield_to if yields is None else yields
    return json.dumps(
        {
            "action": "yield" if ys else "go",
            "yield_to": list(ys),
            "entry_time": round(p.entry_time if entry is None else entry, 2),
            "urgency": p.urgency_claim,
            "accept": accept,
        }
    )


class ProposalParseError(ValueError):
    """A model reply that is not a usable proposal; the message is the feedback the model gets."""


def render_prompt(view: PlannerView) -> tuple[ChatMessage, ...]:
    """The chat messages for one driver's proposal (pure: the same view gives the same prompt)."""
    me = view.me
    lines = [
        f"Round {view.round}.",
        f"You ({me.id}): {me.describe()[len(me.id) + 1 :]}. Earliest arrival {me.earliest:.2f}s: propose "
        f"entry_time {me.earliest:.2f} unless you choose to wait. You stay in the zone {me.occupancy:.1f}s. "
        f"Your deadline: enter by {me.desired_arrival:.1f}s. Urgency: {me.urgency} ({me.goal}).",
        "Other vehicles:",
    ]
    for o in view.others:
        rel = (
            "ahead of you in your lane: you cannot pass it"
            if o.ahead_of_me
            else ("crosses your path" if o.crosses_me else "does not cross your path")
        )
        lines.append(f"- {o.description}: {rel}")
    if not view.history:
        lines.append("No proposals yet.")
    for past in view.history[-2:]:
        lines.append(f"Round {past.round} proposals:")
        lines.extend(f"- {p.text()}" for p in past.proposals)
        lines.append(f"Round {past.round} schedule (entry times): {past.schedule.text()}")
    prev = view.previous
    if prev is not None:
        lines.append(f"Your last proposal: {_plan_json(prev, prev.accept)}")
    if view.feedback is not None and prev is not None:
        lines.append(f"Critic on round {view.feedback.round}: {view.feedback.summary}")
        advice = view.feedback.for_vehicle(me.id)
        if advice:
            yields = set(prev.yield_to)
            entry = prev.entry_time
            for d in advice:
                entry = d.apply(yields, entry)
            lines.append("Critic's advice to you: " + "; ".join(d.text() for d in advice) + ".")
            lines.append(f"That is: {_plan_json(prev, False, tuple(sorted(yields)), entry)}")
        else:
            lines.append(f"Critic's advice to you: no change. That is: {_plan_json(prev, True)}")
    lines.append("Your proposal (JSON only):")
    return (
        ChatMessage(role="system", content=SYSTEM.format(id=me.id)),
        ChatMessage(role="user", content="\n".join(lines)),
    )


def proposal_schema(view: PlannerView) -> dict[str, Any]:
    """The OpenAI-style JSON schema of a reply (vehicle ids limited to the other vehicles)."""
    ids = [o.id for o in view.others]
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "proposal",
            "schema": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "maxLength": 100},
                    "action": {"type": "string", "enum": ["go", "yield"]},
                    "yield_to": {"type": "array", "items": {"type": "string", "enum": ids}, "maxItems": len(ids)},
                    "entry_time": {"type": "number"},
                    "urgency": {"type": "string", "enum": list(URGENCIES)},
                    "accept": {"type": "boolean"},
                },
                "required": ["reason", "action", "yield_to", "entry_time", "urgency", "accept"],
                "additionalProperties": False,
            },
        },
    }


def _json_object(text: str) -> dict[str, Any]:
    cleaned = _FENCE.sub("", text)
    start = cleaned.find("{")
    if start < 0:
        raise ProposalParseError('the reply has no JSON object; reply with one object like {"action": "go", ...}')
    try:
        obj, _end = json.JSONDecoder().raw_decode(cleaned, start)
    except json.JSONDecodeError as exc:
        raise ProposalParseError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise ProposalParseError("the reply must be a JSON object")
    return obj


def _flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise ProposalParseError(f"{field} must be true or false, not {value!r}")


def _ids(value: Any, view: PlannerView) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [x for x in re.split(r"[,\s]+", value) if x]
    if not isinstance(value, list):
        raise ProposalParseError(f"yield_to must be a list of vehicle ids, not {value!r}")
    known = {o.id.lower(): o.id for o in view.others}
    out: list[str] = []
    for item in value:
        key = str(item).strip().lower()
        if key not in known:
            ids = ", ".join(o.id for o in view.others)
            raise ProposalParseError(f"yield_to names {item!r}, which is not one of the other vehicles ({ids})")
        if known[key] not in out:
            out.append(known[key])
    return tuple(out)


def parse_proposal(text: str, view: PlannerView) -> Proposal:
    """A proposal from a model reply, or :class:`ProposalParseError` saying what to fix."""
    obj = _json_object(text)
    me = view.me
    reason = " ".join(str(obj.get("reason", "")).split())[:200]
    prev = view.previous
    accept = _flag(obj.get("accept", False), "accept")
    if accept and prev is not None and not _PLAN_KEYS & set(obj):  # {"accept": true}: the last plan, accepted
        return prev.model_copy(update={"accept": True, "reason": reason or "I accept", "source": "llm", "error": ""})
    yields = _ids(obj.get("yield_to"), view)
    action = str(obj.get("action", "yield" if yields else "go")).strip().lower()
    if action not in ("go", "yield"):
        raise ProposalParseError(f'action must be "go" or "yield", not {obj.get("action")!r}')
    if action == "yield" and not yields:
        raise ProposalParseError('action "yield" needs yield_to: the ids of the vehicles you let cross first')
    if action == "go":
        yields = ()
    raw_time = obj.get("entry_time")
    try:
        entry = me.earliest if raw_time is None else float(raw_time)
    except (TypeError, ValueError):
        raise ProposalParseError(f"entry_time must be a number of seconds, not {raw_time!r}") from None
    if not math.isfinite(entry) or not 0 <= entry <= 600:
        raise ProposalParseError(f"entry_time must be between 0 and 600 seconds, not {raw_time!r}")
    urgency = str(obj.get("urgency", me.urgency)).strip().lower()
    if urgency not in URGENCIES:
        raise ProposalParseError(f"urgency must be one of {', '.join(URGENCIES)}, not {obj.get('urgency')!r}")
    proposal = Proposal(
        vehicle=me.id,
        yield_to=yields,
        entry_time=round(entry, 3),
        urgency_claim=urgency,  # type: ignore[arg-type]
        reason=reason,
        source="llm",
    )
    # "accept" counts only for the plan it accepts: a changed plan is a new proposal, whatever the flag says
    if accept and prev is not None and proposal.same_plan(prev):
        return proposal.model_copy(update={"accept": True})
    return proposal


class LLMPlanner:
    """A model proposes for each vehicle (see the module docstring).  ``note(text)`` receives a line for the
    trace whenever a reply is unusable or a fallback is used."""

    name = "llm"

    def __init__(
        self,
        model: Any,
        *,
        max_tokens: int = 160,
        temperature: float = 0.0,
        retries: int = 1,
        fallback: Planner | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be ≥ 0, not {retries}")
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retries = retries
        self.fallback = fallback if fallback is not None else RulePlanner()
        self.note = note
        self.schema = "json_schema" in capabilities_of(model)

    def _say(self, text: str) -> None:
        if self.note is not None:
            self.note(text)

    async def propose(self, view: PlannerView) -> Proposal:
        messages = render_prompt(view)
        errors: list[str] = []
        vid = view.me.id
        for attempt in range(self.retries + 1):
            request = ChatRequest(
                messages=messages,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                response_format=proposal_schema(view) if self.schema else None,
            )
            try:
                response = await self.model.chat(request)
            except ModelUnavailable:
                raise  # a model that cannot start is a set-up failure, not a driver's bad reply
            except ModelError as exc:
                errors.append(f"model error: {type(exc).__name__}: {exc}")
                self._say(f"{vid}: the model call failed ({type(exc).__name__}); using the rule planner")
                break
            text = response.texts[0] if response.texts else ""
            try:
                proposal = parse_proposal(text, view)
            except ProposalParseError as exc:
                errors.append(str(exc))
                again = attempt < self.retries
                self._say(f"{vid}: unusable reply ({exc}); " + ("asking again" if again else "using the rule planner"))
                messages = (
                    *messages,
                    ChatMessage(role="assistant", content=text[:800]),
                    ChatMessage(
                        role="user", content=f"That reply could not be used: {exc}. Reply with only the JSON object."
                    ),
                )
                continue
            return proposal.model_copy(update={"error": "; ".join(errors)[:500]}) if errors else proposal
        fb = await self.fallback.propose(view)
        return fb.model_copy(
            update={"source": "fallback", "error": "; ".join(errors)[:500], "reason": f"fallback: {fb.reason}"}
        )


__all__ = ["SYSTEM", "LLMPlanner", "ProposalParseError", "parse_proposal", "proposal_schema", "render_prompt"]
