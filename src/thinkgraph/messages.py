"""Typed messages exchanged between nodes, and the trace events a run emits.

Every record is a frozen pydantic model with a ``kind`` tag, so a whole run (its messages and its
trace) serialises to JSON and loads back identical::

    event = TRACE_EVENT.validate_json(TRACE_EVENT.dump_json(event))

Formulas travel as strings in FOLIO's Unicode notation (see :mod:`thinkgraph.logic.fol`).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Label = Literal["True", "False", "Uncertain"]
AnswerStatus = Literal["verified", "voted", "abstained"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ----------------------------------------------------------------------------- problem and logic


class Problem(_Record):
    """Premises in English and a conclusion whose truth value is asked."""

    kind: Literal["problem"] = "problem"
    id: str = ""
    premises: tuple[str, ...]
    conclusion: str
    gold: Label | None = None


class Predicate(_Record):
    name: str
    arity: int
    description: str = ""


class SentenceFormula(_Record):
    """One formula and the sentence it came from (``index`` = -1 for the conclusion)."""

    index: int
    sentence: str
    formula: str


class Formalization(_Record):
    """Formulas for the premises and conclusion over one shared vocabulary."""

    kind: Literal["formalization"] = "formalization"
    premises: tuple[SentenceFormula, ...]
    conclusion: SentenceFormula
    predicates: tuple[Predicate, ...] = ()
    constants: tuple[str, ...] = ()
    sample: int = 0


class Countermodel(_Record):
    """A finite model: its domain, what each constant denotes, and the true atoms."""

    domain: tuple[str, ...]
    constants: dict[str, str] = Field(default_factory=dict)
    true_atoms: tuple[str, ...] = ()

    def render(self) -> str:
        consts = ", ".join(f"{k}={v}" for k, v in sorted(self.constants.items()))
        atoms = ", ".join(self.true_atoms) if self.true_atoms else "(none)"
        return f"domain {{{', '.join(self.domain)}}}; {consts or 'no constants'}; true: {atoms}"


class Certificate(_Record):
    """Why a verdict holds.

    For True/False: ``premises_used`` is an unsat core (indices into the premises).
    For Uncertain: ``model_goal_true`` and ``model_goal_false`` are countermodels each way.
    """

    premises_used: tuple[int, ...] = ()
    model_goal_true: Countermodel | None = None
    model_goal_false: Countermodel | None = None
    note: str = ""


class Verdict(_Record):
    kind: Literal["verdict"] = "verdict"
    label: Label
    solver: str
    certificate: Certificate = Certificate()
    timed_out: bool = False
    inconsistent_premises: bool = False
    seconds: float = 0.0


class Evidence(_Record):
    """What backs an answer: the solver certificate, the formalization it came from and the vote."""

    verdict: Verdict | None = None
    formalization: Formalization | None = None
    votes: dict[str, int] = Field(default_factory=dict)
    samples: int = 0
    failed_samples: int = 0
    agreement: float = 0.0
    reason: str = ""
    solver_agreement: dict[str, str] = Field(default_factory=dict)
    rationales: tuple[str, ...] = ()  # the model's own reasoning, when that is all there is (chain of thought)


class Answer(_Record):
    kind: Literal["answer"] = "answer"
    problem_id: str = ""
    value: Label | None
    status: AnswerStatus
    evidence: Evidence = Evidence()

    def render(self) -> str:
        head = f"{self.value if self.value is not None else '—'} [{self.status}]"
        ev = self.evidence
        lines = [head]
        if ev.votes:
            lines.append(
                f"votes {dict(sorted(ev.votes.items()))} over {ev.samples} samples"
                f" ({ev.failed_samples} failed), agreement {ev.agreement:.0%}"
            )
        if ev.reason:
            lines.append(f"reason: {ev.reason}")
        if ev.verdict is not None:
            cert = ev.verdict.certificate
            if ev.verdict.label in ("True", "False") and ev.formalization is not None:
                lines.append(f"proof by {ev.verdict.solver} from premises:")
                for i in cert.premises_used:
                    p = ev.formalization.premises[i]
                    lines.append(f"  [{i + 1}] {p.formula}    ({p.sentence})")
                c = ev.formalization.conclusion
                lines.append(f"  ⊢ {'' if ev.verdict.label == 'True' else '¬'}{c.formula}")
            elif ev.formalization is not None:
                lines.append(f"formalization checked by {ev.verdict.solver}:")
                for i, p in enumerate(ev.formalization.premises):
                    lines.append(f"  [{i + 1}] {p.formula}    ({p.sentence})")
                lines.append(f"  ? {ev.formalization.conclusion.formula}    ({ev.formalization.conclusion.sentence})")
            if cert.model_goal_true is not None:
                lines.append(f"a model where the conclusion holds: {cert.model_goal_true.render()}")
            if cert.model_goal_false is not None:
                lines.append(f"a model where it fails: {cert.model_goal_false.render()}")
            if cert.note:
                lines.append(cert.note)
        if ev.solver_agreement:
            lines.append(f"solvers: {ev.solver_agreement}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- chat


class ChatMessage(_Record):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(_Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0


# ----------------------------------------------------------------------------- trace events


def _now() -> float:
    return time.time()


class _Event(_Record):
    run_id: str = ""
    node: str = ""
    at: float = Field(default_factory=_now)


class RunStarted(_Event):
    kind: Literal["run_started"] = "run_started"
    workflow: str
    inputs: dict[str, Any] = Field(default_factory=dict)


class RunFinished(_Event):
    kind: Literal["run_finished"] = "run_finished"
    seconds: float
    output: dict[str, Any] = Field(default_factory=dict)


class NodeStarted(_Event):
    kind: Literal["node_started"] = "node_started"


class NodeFinished(_Event):
    kind: Literal["node_finished"] = "node_finished"
    seconds: float
    summary: str = ""


class ModelRequest(_Event):
    kind: Literal["model_request"] = "model_request"
    call_id: str
    model: str
    messages: tuple[ChatMessage, ...]
    params: dict[str, Any] = Field(default_factory=dict)


class ModelResponse(_Event):
    kind: Literal["model_response"] = "model_response"
    call_id: str
    model: str
    texts: tuple[str, ...] = ()
    usage: Usage = Usage()
    seconds: float = 0.0
    error: str = ""


class ToolCall(_Event):
    kind: Literal["tool_call"] = "tool_call"
    tool: str
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


class Note(_Event):
    kind: Literal["note"] = "note"
    text: str


TraceEvent = Annotated[
    RunStarted | RunFinished | NodeStarted | NodeFinished | ModelRequest | ModelResponse | ToolCall | Note,
    Field(discriminator="kind"),
]
TRACE_EVENT: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)

Message = Annotated[Problem | Formalization | Verdict | Answer, Field(discriminator="kind")]
MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)
