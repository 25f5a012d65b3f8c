"""Prompt strategies any reasoning node may take as its ``strategy`` parameter (``none|re2|far|cop|reverse``).

Prompts are data: each strategy is a pure function from the prompt a node would send to the prompt it sends
(both visible in the trace as ``ModelRequest`` events), plus, for two of them, extra model calls:

* ``re2`` — re-reading, "Re-Reading Improves Reasoning in Large Language Models" (Xu et al., 2024): the question
  is repeated after ``Read the question again:``.
* ``far`` — Foresee and Reflect, "How FaR Are Large Language Models From Agents with Theory-of-Mind?"
  (Zhou et al., 2023): the model first foresees what could happen next (which facts and consequences matter,
  what may go wrong), then reflects on which of them settle the question, then answers.
* ``cop`` — concise and organized perception, "Concise and Organized Perception Facilitates Reasoning in Large
  Language Models" (Yan et al., 2024): one call selects the premises the question needs and orders them as a
  chain from the facts to the question; the reasoning prompt then holds only those, in that order.  An unusable
  selection falls back to every premise (and says so in the trace).
* ``reverse`` — a reverse check: after the reasoning, one call derives the question back from the reasoning and
  its answer alone (no premises, no question); the reconstruction is compared with the original by word overlap
  (:func:`overlap`).  A reasoning that fails the check does not count: a sampling node lowers its answer to
  ``abstained`` and names the withheld value and the reconstruction in its evidence; ``cot.reason`` replaces the
  failing sample by a line saying so (no answer), so ``cot.vote`` counts it as a failed sample.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, get_args

from thinkgraph.evals.items import Question
from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.logic.records import Problem
from thinkgraph.messages import ChatMessage, Note, Record

Strategy = Literal["none", "re2", "far", "cop", "reverse"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
Item = Problem | Question
Renderer = Callable[[Any], list[ChatMessage]]
A = TypeVar("A")

RE2_LEAD = "Read the question again: "

FAR_INSTRUCTIONS = (
    "Work in two stages before you answer.\n"
    "Foresee: list what could follow from the given information — the facts and consequences that are likely to "
    "matter for the question, and the challenges that may arise (a missing link, a negation, a distractor).\n"
    "Reflect: for each foreseen item, say whether it helps settle the question and which given facts support it; "
    "keep only what does.\n"
    "Then reason from what you kept and give the final answer in the form asked for."
)

COP_SYSTEM = (
    "You prepare a reasoning task. Do not answer the question. Select only the premises needed to answer it and "
    "organize them as a chain from the given facts to the question, for example '3 -> 1 -> 5'. "
    "End with one line 'Relevant: ' followed by the premise numbers in that order, separated by commas."
)

REVERSE_SYSTEM_PROBLEM = (
    "You see a piece of reasoning and its final answer, but not the task. The reasoning decides whether one "
    "statement is True, False or Uncertain. Write that statement, as one sentence, and nothing else."
)
REVERSE_SYSTEM_QUESTION = (
    "You see a worked solution and its final answer, but not the question. Write the question it answers, "
    "in one or two sentences, and nothing else."
)

REVERSE_THRESHOLD = 0.6


class SelectionError(ValueError):
    """A COP selection reply named no usable premise (the message says what was wrong)."""


class CopSelection(Record):
    """What a COP selection call chose: 1-based premise numbers in chain order (empty: every premise, because
    the reply was unusable — ``error`` says why) and the reply itself."""

    chosen: tuple[int, ...] = ()
    reply: str = ""
    error: str = ""


class ReverseCheck(Record):
    """A reverse check: the question reconstructed from the reasoning and its answer, its word overlap with
    the original (:func:`overlap`), the threshold, and whether it passed."""

    original: str
    reconstructed: str
    similarity: float
    threshold: float = REVERSE_THRESHOLD
    passed: bool

    def describe(self) -> str:
        verdict = "passed" if self.passed else "failed"
        return (
            f"reverse check {verdict}: reconstructed {self.reconstructed!r} vs {self.original!r} "
            f"(overlap {self.similarity:.2f}, threshold {self.threshold:.2f})"
        )


# ----------------------------------------------------------------------------- pure prompt transforms


def _last_user(messages: Sequence[ChatMessage]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            return i
    raise ValueError("a prompt strategy needs a prompt with a user turn")


def _replace(messages: Sequence[ChatMessage], index: int, content: str) -> list[ChatMessage]:
    out = list(messages)
    out[index] = ChatMessage(role=out[index].role, content=content)
    return out


def re2(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """RE2 (Xu et al., 2024): the last user turn, then ``Read the question again:`` and the same turn again."""
    i = _last_user(messages)
    question = messages[i].content
    return _replace(messages, i, f"{question}\n\n{RE2_LEAD}{question}")


def far(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """FaR (Zhou et al., 2023): the Foresee / Reflect structure after the last user turn."""
    i = _last_user(messages)
    return _replace(messages, i, f"{messages[i].content}\n\n{FAR_INSTRUCTIONS}")


def transform(messages: Sequence[ChatMessage], strategy: Strategy) -> list[ChatMessage]:
    """The prompt a one-call strategy sends (``re2``, ``far``); the others leave the prompt as it is."""
    if strategy == "re2":
        return re2(messages)
    if strategy == "far":
        return far(messages)
    return list(messages)


# ----------------------------------------------------------------------------- COP: select, then reason

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def premises_of(item: Item) -> tuple[str, ...]:
    """What COP selects from: a problem's premises; a question's context sentences, or (without a context) the
    sentences of its text before the last one (the question itself)."""
    if isinstance(item, Problem):
        return item.premises
    if item.context.strip():
        return tuple(_sentences(item.context))
    return tuple(_sentences(item.text)[:-1])


def _ask(item: Item) -> str:
    if isinstance(item, Problem):
        return f"Is the statement '{item.conclusion}' True, False or Uncertain?"
    asked = _sentences(item.text)
    return item.text if item.context.strip() or not asked else asked[-1]


def render_cop_selection(item: Item) -> list[ChatMessage]:
    """The selection prompt of COP (Yan et al., 2024): numbered premises and the question."""
    listed = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(premises_of(item)))
    user = f"Premises:\n{listed}\n\nQuestion: {_ask(item)}\n\nWhich premises are needed, in which order?"
    return [ChatMessage(role="system", content=COP_SYSTEM), ChatMessage(role="user", content=user)]


_RELEVANT = re.compile(r"relevant\s*(?:premises)?\s*[:\-]\s*(.*)", re.IGNORECASE)


def parse_cop_selection(text: str, count: int) -> tuple[int, ...]:
    """The 1-based premise numbers on the last ``Relevant:`` line, in order, each once; numbers outside
    ``1..count`` are dropped.  :class:`SelectionError` when no line or no usable number is there."""
    found = _RELEVANT.findall(text)
    if not found:
        raise SelectionError("no 'Relevant:' line")
    chosen: list[int] = []
    for raw in re.findall(r"\d+", found[-1]):
        k = int(raw)
        if 1 <= k <= count and k not in chosen:
            chosen.append(k)
    if not chosen:
        raise SelectionError(f"the 'Relevant:' line {found[-1].strip()!r} names no premise between 1 and {count}")
    return tuple(chosen)


def with_premises(item: A, chosen: Sequence[int]) -> A:
    """``item`` with only the chosen premises (1-based, in the given order); an empty choice keeps them all."""
    if not chosen:
        return item
    if isinstance(item, Problem):
        return item.model_copy(update={"premises": tuple(item.premises[k - 1] for k in chosen)})  # type: ignore[return-value]
    if isinstance(item, Question):
        picked = " ".join(premises_of(item)[k - 1] for k in chosen)
        if item.context.strip():
            return item.model_copy(update={"context": picked})  # type: ignore[return-value]
        return item.model_copy(update={"text": f"{picked} {_ask(item)}"})  # type: ignore[return-value]
    raise TypeError(f"COP needs a Problem or a Question, not {type(item).__name__}")


async def cop_select(model: ChatModel, item: Item, *, max_tokens: int = 256, tracer: Any = None) -> CopSelection:
    """COP's first call: which premises, in which order.  An unusable reply selects every premise."""
    count = len(premises_of(item))
    if count == 0:
        return CopSelection(error="no premises to select from")
    request = ChatRequest(messages=tuple(render_cop_selection(item)), max_tokens=max_tokens, temperature=0.0)
    reply = (await model.chat(request)).texts[0]
    try:
        selection = CopSelection(chosen=parse_cop_selection(reply, count), reply=reply)
    except SelectionError as exc:
        selection = CopSelection(reply=reply, error=str(exc))
    if tracer is not None:
        if selection.error:
            text = f"COP selection unusable ({selection.error}): reasoning over all {count} premises"
        else:
            text = f"COP selected premises {', '.join(map(str, selection.chosen))} of {count}"
        tracer.emit(Note(text=text))
    return selection


async def strategy_prompt(
    model: ChatModel, item: Item, render: Renderer, strategy: Strategy, *, tracer: Any = None
) -> list[ChatMessage]:
    """The prompt a reasoning node sends under ``strategy``: ``render(item)`` transformed (re2, far), or rendered
    over COP's selection (one selection call first), or as it is (none, reverse)."""
    if strategy == "cop":
        selection = await cop_select(model, item, tracer=tracer)
        return render(with_premises(item, selection.chosen))
    return transform(render(item), strategy)


# ----------------------------------------------------------------------------- reverse check

_STOP = frozenset(
    "a an the is are was were be been being am do does did of to in on at by for with from and or not no nor "
    "it its this that these those there their they them he she his her we you i as if then than so such "
    "what which who whom whose whether how why when where true false uncertain statement conclusion question "
    "answer following".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def content_words(text: str) -> frozenset[str]:
    """Lower-case content words with plural endings stripped (stop words, and true/false, left out)."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP)


def overlap(original: str, reconstructed: str) -> float:
    """The overlap coefficient of the two texts' content words: ``|A ∩ B| / min(|A|, |B|)`` (1.0 when one
    text's words all occur in the other; 0.0 when either has none)."""
    a, b = content_words(original), content_words(reconstructed)
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def original_question(item: Item) -> str:
    """What a reverse check compares with: a problem's conclusion, a question's text."""
    return item.conclusion if isinstance(item, Problem) else item.text


def render_reverse_prompt(item: Item, rationale: str) -> list[ChatMessage]:
    """The reverse prompt: only the reasoning and its answer (never the premises or the question)."""
    system = REVERSE_SYSTEM_PROBLEM if isinstance(item, Problem) else REVERSE_SYSTEM_QUESTION
    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=f"Reasoning:\n{rationale}")]


async def reverse_check(
    model: ChatModel,
    item: Item,
    rationale: str,
    *,
    threshold: float = REVERSE_THRESHOLD,
    max_tokens: int = 96,
    tracer: Any = None,
) -> ReverseCheck:
    """Derive the question back from ``rationale`` (one call) and compare it with the original (word overlap)."""
    request = ChatRequest(messages=tuple(render_reverse_prompt(item, rationale)), max_tokens=max_tokens)
    reconstructed = (await model.chat(request)).texts[0].strip()
    original = original_question(item)
    sim = overlap(original, reconstructed)
    check = ReverseCheck(
        original=original,
        reconstructed=reconstructed,
        similarity=round(sim, 4),
        threshold=threshold,
        passed=sim >= threshold,
    )
    if tracer is not None:
        tracer.emit(Note(text=check.describe()))
    return check


def withheld(check: ReverseCheck) -> str:
    """What replaces a reasoning sample that failed its reverse check (it names no answer, so votes skip it)."""
    return (
        f"[reverse check failed: overlap {check.similarity:.2f} below {check.threshold:.2f}; "
        "this sample is withheld, its reasoning and the reconstruction are in the trace]"
    )


async def reverse_filter(model: ChatModel, item: Item, texts: Sequence[str], *, tracer: Any = None) -> list[str]:
    """Every sample reverse-checked (concurrently); a failing one is replaced by :func:`withheld`."""
    checks = await asyncio.gather(*[reverse_check(model, item, t, tracer=tracer) for t in texts])
    return [t if c.passed else withheld(c) for t, c in zip(texts, checks, strict=True)]


def lower_answer(answer: Any, check: ReverseCheck) -> Any:
    """An answer whose reasoning failed its reverse check, lowered to ``abstained`` with the withheld value and
    the check in its evidence (an :class:`Answer` or a search answer); a passing check changes nothing."""
    if check.passed or answer.status == "abstained":
        return answer
    note = f"{check.describe()}; withheld answer {answer.value!r}"
    ev = answer.evidence  # Evidence or SearchEvidence: both carry a reason
    reason = f"{ev.reason}; {note}" if ev.reason else note
    return answer.model_copy(
        update={"value": None, "status": "abstained", "evidence": ev.model_copy(update={"reason": reason})}
    )


__all__ = [
    "COP_SYSTEM",
    "FAR_INSTRUCTIONS",
    "RE2_LEAD",
    "STRATEGIES",
    "CopSelection",
    "ReverseCheck",
    "SelectionError",
    "Strategy",
    "content_words",
    "cop_select",
    "far",
    "lower_answer",
    "original_question",
    "overlap",
    "parse_cop_selection",
    "premises_of",
    "re2",
    "render_cop_selection",
    "render_reverse_prompt",
    "reverse_check",
    "reverse_filter",
    "strategy_prompt",
    "transform",
    "with_premises",
    "withheld",
]
