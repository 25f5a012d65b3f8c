"""What an evaluation is made of: items loaded from a benchmark file, each with the workflow input it
becomes, its gold answer and the kind of answer it expects; and the generic question message for
benchmarks that are not True/False/Uncertain entailment (multiple choice, numbers, procedures, grids).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from thinkgraph.messages import Message

AnswerType = Literal["label", "choice", "number", "yesno", "steps", "grid", "program", "proof"]


class Question(Message):
    """A question for workflows that answer something other than entailment: free text with an optional
    context and options (multiple choice)."""

    kind: Literal["question"] = "question"
    id: str = ""
    text: str
    context: str = ""
    options: tuple[str, ...] = ()


class EvalItem(BaseModel):
    """One benchmark record, ready to run: ``input`` is the workflow's input message as JSON (a ``problem``
    for entailment benchmarks, a ``question`` otherwise), ``gold`` the reference answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    dataset: str
    line: int  # 1-based record number in the file (or the line of a JSONL file)
    input: dict[str, Any]
    gold: Any = None
    answer_type: AnswerType = "label"
    options: tuple[str, ...] = ()
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def input_kind(self) -> str:
        return str(self.input.get("kind", ""))


class Malformed(BaseModel):
    """A record a loader could not use, with where it is and why."""

    model_config = ConfigDict(frozen=True)

    line: int
    message: str


class LoadReport(BaseModel):
    """What a loader read: the usable items and the malformed records it skipped."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    path: str
    items: tuple[EvalItem, ...]
    malformed: tuple[Malformed, ...] = ()


__all__ = ["AnswerType", "EvalItem", "LoadReport", "Malformed", "Question"]
