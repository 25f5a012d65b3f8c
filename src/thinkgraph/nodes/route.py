"""``route.classify``: what kind of problem is this — deductive entailment, an arithmetic word problem,
or something else — decided by rules or by a JSON-schema-constrained model call.  The choice and its
reason go into the trace (and into the :class:`Route` message a workflow routes on)."""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.llm.base import ChatRequest, ModelError, ModelUnavailable
from thinkgraph.logic.records import Problem
from thinkgraph.messages import ChatMessage, Message

Category = Literal["deductive", "arithmetic", "other"]


class Route(Message):
    """A routing decision: the category, why, and how it was decided."""

    kind: Literal["route"] = "route"
    category: Category
    reason: str = ""
    method: Literal["rules", "model"] = "rules"


class ClassifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["rules", "model"] = Field(
        default="rules", description="rules (no model call) or a JSON-schema-constrained model call"
    )


_NUMBER = re.compile(r"(?<![A-Za-z])\$?\d+(?:[.,]\d+)?%?")
_ARITH = re.compile(
    r"\b(how many|how much|total|sum|cost|costs|price|each|per|percent|times|twice|half|left|remain|more than|"
    r"less than|average|altogether|dollars?|hours?|minutes?|miles?)\b",
    re.IGNORECASE,
)
_RULE_WORDS = re.compile(r"\b(all|every|each|no|none|some|if|then|not|only|either|or|is|are|can|does)\b", re.IGNORECASE)


def classify_by_rules(problem: Problem) -> Route:
    """Numbers and quantity words → arithmetic; premises and a declarative conclusion → deductive."""
    text = " ".join([*problem.premises, problem.conclusion])
    numbers = len(_NUMBER.findall(text))
    arith = len(_ARITH.findall(text))
    question = problem.conclusion.strip().endswith("?")
    if numbers >= 2 and (arith >= 1 or question):
        return Route(category="arithmetic", reason=f"{numbers} numbers and {arith} quantity words", method="rules")
    if problem.premises and not question:
        ruled = sum(bool(_RULE_WORDS.search(p)) for p in problem.premises)
        if ruled:
            return Route(
                category="deductive",
                reason=f"{len(problem.premises)} premises ({ruled} with logical words) and a statement to decide",
                method="rules",
            )
    why = "a question without premises" if not problem.premises else "no logical premises or arithmetic found"
    return Route(category="other", reason=why, method="rules")


_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["deductive", "arithmetic", "other"]},
        "reason": {"type": "string", "maxLength": 200},
    },
    "required": ["category", "reason"],
}

_SYSTEM = (
    "Classify the problem. deductive: premises and a statement whose truth follows (or not) from them by logic. "
    "arithmetic: a word problem asking for a number. other: anything else. "
    'Reply with JSON: {"category": ..., "reason": ...}.'
)


@node("route.classify", params=ClassifyParams)
async def classify(ctx: NodeContext, problem: Problem, params: ClassifyParams) -> Route:
    """Decide the kind of problem (deductive / arithmetic / other) by rules or by a model; routes on ``category``."""
    if params.method == "rules":
        return classify_by_rules(problem)
    premises = "\n".join(f"- {p}" for p in problem.premises) or "(none)"
    request = ChatRequest(
        messages=(
            ChatMessage(role="system", content=_SYSTEM),
            ChatMessage(role="user", content=f"Premises:\n{premises}\nQuestion or statement: {problem.conclusion}"),
        ),
        temperature=0.0,
        max_tokens=120,
        response_format={"type": "json_schema", "json_schema": {"name": "route", "schema": _SCHEMA}},
    )
    try:
        reply = await ctx.model.chat(request)
        data = json.loads(reply.texts[0])
        return Route(category=data["category"], reason=str(data.get("reason", ""))[:200], method="model")
    except ModelUnavailable:
        raise
    except (ModelError, ValueError, KeyError, TypeError, ValidationError, IndexError) as exc:
        fallback = classify_by_rules(problem)
        ctx.note(f"model classification unusable ({type(exc).__name__}: {exc}); fell back to rules")
        return fallback.model_copy(update={"reason": f"{fallback.reason} (model reply unusable)"})


__all__ = ["ClassifyParams", "Route", "classify", "classify_by_rules"]
