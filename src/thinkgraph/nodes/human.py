"""``human.approve``: a person approves, rejects or edits an answer before it is returned.

The run pauses (a LangGraph interrupt; it needs a checkpoint to be resumed) and goes on with
``thinkgraph run --checkpoint DB --thread ID --resume '{"approve": true}'``.  Replies:
``{"approve": true}``, ``{"approve": false, "reason": "..."}`` (the answer becomes an abstention) or
``{"edit": {"value": "False", ...}}`` (fields of the answer to change).  The node makes no model call,
so re-running it on resume repeats nothing costly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from thinkgraph.graphs.node import NodeContext, node
from thinkgraph.logic.records import Answer
from thinkgraph.messages import Message


class Review(Message):
    """What a person decided about an answer."""

    kind: Literal["review"] = "review"
    approved: bool
    edited: bool = False
    reason: str = ""


class ApproveParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(default="Approve this answer?", description="what the person is asked")


@node("human.approve", params=ApproveParams, interrupts=True)
async def approve(ctx: NodeContext, answer: Answer, params: ApproveParams) -> tuple[Answer, Review]:
    """Pause for a person to approve, reject or edit the answer."""
    reply: Any = ctx.interrupt(
        {"question": params.question, "answer": answer.model_dump(mode="json"), "render": answer.render()}
    )
    if not isinstance(reply, dict):
        reply = {"approve": bool(reply)}
    if "edit" in reply and isinstance(reply["edit"], dict):
        fields = {k: v for k, v in reply["edit"].items() if k in ("value", "status")}
        try:
            edited = Answer.model_validate({**answer.model_dump(mode="json"), **fields})
        except ValidationError as exc:  # an edit that cannot be applied is not an approval
            reason = f"the person's edit is invalid ({exc.errors()[0]['msg']}), so the answer is withheld"
            evidence = answer.evidence.model_copy(update={"reason": reason})
            withheld = answer.model_copy(update={"value": None, "status": "abstained", "evidence": evidence})
            return withheld, Review(approved=False, reason=reason)
        note = str(reply.get("reason", "edited by a person"))
        evidence = edited.evidence.model_copy(update={"reason": f"{edited.evidence.reason}; {note}".strip("; ")})
        return edited.model_copy(update={"evidence": evidence}), Review(approved=True, edited=True, reason=note)
    if reply.get("approve", False):
        note = str(reply.get("reason", "")) or "approved by a person"
        evidence = answer.evidence.model_copy(update={"reason": f"{answer.evidence.reason}; {note}".strip("; ")})
        return answer.model_copy(update={"evidence": evidence}), Review(approved=True, reason=note)
    reason = str(reply.get("reason", "rejected by a person"))
    evidence = answer.evidence.model_copy(update={"reason": f"rejected by a person: {reason}"})
    rejected = answer.model_copy(update={"value": None, "status": "abstained", "evidence": evidence})
    return rejected, Review(approved=False, reason=reason)


__all__ = ["ApproveParams", "Review", "approve"]
