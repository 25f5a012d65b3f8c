"""The Natural Program format of "Deductive Verification of Chain-of-Thought Reasoning" (Ling et al., NeurIPS
2023): premises numbered ``#1 .. #n``, every reasoning step continuing the numbering and naming the premises and
earlier steps it uses (``#5. (by #1, #4) Max is a dumpus.``), and a last line naming the answer (``Answer: False``).

Here: the prompt (a pure function), the parser (a malformed reply raises :class:`ChainParseError`, whose
``feedback`` goes back to the model as a repair turn) and the sampling of chains.  The checks are in
:mod:`thinkgraph.agents.deductive`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from thinkgraph.agents.strategies import Strategy, reverse_filter, strategy_prompt
from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.logic.records import Label, Problem
from thinkgraph.messages import ChatMessage, Record

NP_SYSTEM = (
    "You are a careful logician. You reason in the Natural Program format: the premises are numbered #1, #2, ...; "
    "every reasoning step takes the next number and starts with the numbers of the premises and earlier steps it "
    "uses, like '#4. (by #1, #3) Tom is a feline.'. Each step states one new fact that follows from the facts it "
    "cites alone. Use only the premises. After the steps, end with one line 'Answer: True' if the steps prove the "
    "statement, 'Answer: False' if they prove its negation, or 'Answer: Uncertain' if neither."
)
_EXAMPLE_USER = (
    "Premises:\n#1. Every cat is a feline.\n#2. Felines are not cold-blooded.\n#3. Tom is a cat.\n\n"
    "Statement: Tom is cold-blooded.\nIs the statement True, False or Uncertain? Reason in numbered steps from #4."
)
_EXAMPLE_ASSISTANT = "#4. (by #3, #1) Tom is a feline.\n#5. (by #4, #2) Tom is not cold-blooded.\nAnswer: False"


class ChainParseError(ValueError):
    """A reply that is not a Natural Program; ``line`` (1-based, 0 when it concerns the whole reply) says where.
    What the model got wrong: :meth:`feedback` is the repair turn sent back to it."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line

    def feedback(self, first_step: int) -> str:
        where = f"Line {self.line}: " if self.line else ""
        return (
            f"Your reply is not in the required format. {where}{self.message}. Rewrite the whole reasoning: one step "
            f"per line as '#k. (by #i, #j) statement', numbered from #{first_step}, citing only premises and earlier "
            "steps, then a last line 'Answer: True', 'Answer: False' or 'Answer: Uncertain'."
        )


class NPStep(Record):
    """One step: its number, the numbers it cites, its statement (and the reply line it came from)."""

    number: int
    cites: tuple[int, ...]
    text: str
    line: int = 0

    def render(self) -> str:
        cited = ", ".join(f"#{k}" for k in self.cites)
        return f"#{self.number}. (by {cited}) {self.text}" if self.cites else f"#{self.number}. {self.text}"


class NaturalProgram(Record):
    """A parsed chain: the premises it is numbered against, its steps, the answer and what the answer cites."""

    premises: tuple[str, ...]
    steps: tuple[NPStep, ...]
    answer: Label | None
    answer_cites: tuple[int, ...] = ()


# ----------------------------------------------------------------------------- the format


def render_np_prompt(problem: Problem) -> list[ChatMessage]:
    """The Natural Program prompt: the format, one worked example, then the numbered premises and the statement."""
    listed = "\n".join(f"#{i + 1}. {p}" for i, p in enumerate(problem.premises))
    user = (
        f"Premises:\n{listed}\n\nStatement: {problem.conclusion}\nIs the statement True, False or Uncertain? "
        f"Reason in numbered steps from #{len(problem.premises) + 1}."
    )
    return [
        ChatMessage(role="system", content=NP_SYSTEM),
        ChatMessage(role="user", content=_EXAMPLE_USER),
        ChatMessage(role="assistant", content=_EXAMPLE_ASSISTANT),
        ChatMessage(role="user", content=user),
    ]


def format_natural_program(steps: Sequence[NPStep], answer: Label | None) -> str:
    """The reply text of a chain (the inverse of :func:`parse_natural_program`)."""
    lines = [s.render() for s in steps]
    if answer is not None:
        lines.append(f"Answer: {answer}")
    return "\n".join(lines)


_STEP = re.compile(r"^[\s*>-]*#\s*(\d+)\s*[.:)]?\s*\**\s*(.*)$")
_BY = re.compile(
    r"^(?:[(\[]\s*by\b([^)\]]*)[)\]]|by\s+((?:#\s*\d+(?:\s*(?:,|;|&|and)\s*)?)+))\s*[:,-]?\s*(.*)$", re.IGNORECASE
)
_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:\-]?\s*\**\s*(true|false|uncertain|unknown)\b(.*)$", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip("*").strip()).rstrip(".").lower()


def _label(word: str) -> Label:
    w = word.lower()
    return "True" if w == "true" else "False" if w == "false" else "Uncertain"


def _answer_of(line: str) -> tuple[Label, tuple[int, ...]] | None:
    found = _ANSWER_LINE.search(line)
    if found is None:
        return None
    cites = tuple(int(k) for k in re.findall(r"#\s*(\d+)", found.group(2)))
    return _label(found.group(1)), cites


def parse_natural_program(text: str, premises: Sequence[str]) -> NaturalProgram:
    """Parse a reply against the premises it was numbered with.  Prose lines are skipped, and so are restated
    premises (``#2. Tom is a cat.``); :class:`ChainParseError` for a step numbered as a premise, a repeated or
    decreasing number, an empty step, no step, or no final ``Answer:`` line."""
    n = len(premises)
    known = {_norm(p) for p in premises}
    steps: list[NPStep] = []
    answer: tuple[Label, tuple[int, ...]] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = _STEP.match(line)
        if m is None:
            found = _answer_of(line)
            if found is not None:
                answer = found
            continue
        number, rest = int(m.group(1)), m.group(2).strip()
        by = _BY.match(rest)
        cites = tuple(int(k) for k in re.findall(r"\d+", by.group(1) or by.group(2))) if by else ()
        body = (by.group(3) if by else rest).strip()
        if not cites and number <= n and _norm(body) in known | {""}:
            continue  # a restated premise
        if number <= n:
            raise ChainParseError(f"step #{number} reuses a premise number; steps continue from #{n + 1}", lineno)
        if steps and number <= steps[-1].number:
            raise ChainParseError(f"step #{number} comes after step #{steps[-1].number}; numbers must increase", lineno)
        found = _answer_of(body)
        if found is not None and not _ANSWER_LINE.sub("", body).strip(" .:-*"):
            answer = (found[0], found[1] or cites)  # '#9. (by #8) Answer: False'
            continue
        if not body:
            raise ChainParseError(f"step #{number} states nothing", lineno)
        steps.append(NPStep(number=number, cites=cites, text=body, line=lineno))
    if not steps:
        raise ChainParseError(f"no reasoning step; write steps like '#{n + 1}. (by #1, #2) ...'")
    if answer is None:
        raise ChainParseError("no final line 'Answer: True', 'Answer: False' or 'Answer: Uncertain'")
    return NaturalProgram(premises=tuple(premises), steps=tuple(steps), answer=answer[0], answer_cites=answer[1])


# ----------------------------------------------------------------------------- reasoning


async def natural_program_samples(
    model: ChatModel,
    problem: Problem,
    *,
    chains: int = 1,
    temperature: float = 0.7,
    max_tokens: int = 512,
    repairs: int = 1,
    strategy: Strategy = "none",
    seed: int | None = 0,
    tracer: Any = None,
) -> list[str]:
    """``chains`` Natural Program replies (one request); a malformed one gets up to ``repairs`` repair turns with
    the parse error as feedback.  The replies are returned as they end (a still malformed one too: the verifier
    reports it)."""
    messages = await strategy_prompt(model, problem, render_np_prompt, strategy, tracer=tracer)
    request = ChatRequest(
        messages=tuple(messages),
        n=chains,
        temperature=temperature if chains > 1 else 0.0,
        max_tokens=max_tokens,
        seed=seed,
    )
    texts = (await model.chat(request)).texts
    texts = list(await asyncio.gather(*[_repaired(model, problem, messages, t, repairs, max_tokens) for t in texts]))
    if strategy == "reverse":
        texts = await reverse_filter(model, problem, texts, tracer=tracer)
    return texts


async def _repaired(
    model: ChatModel, problem: Problem, messages: Sequence[ChatMessage], text: str, repairs: int, max_tokens: int
) -> str:
    turns = list(messages)
    for _ in range(repairs):
        try:
            parse_natural_program(text, problem.premises)
            return text
        except ChainParseError as err:
            turns += [
                ChatMessage(role="assistant", content=text),
                ChatMessage(role="user", content=err.feedback(len(problem.premises) + 1)),
            ]
        text = (await model.chat(ChatRequest(messages=tuple(turns), max_tokens=max_tokens))).texts[0]
    return text


__all__ = [
    "NP_SYSTEM",
    "ChainParseError",
    "NPStep",
    "NaturalProgram",
    "format_natural_program",
    "natural_program_samples",
    "parse_natural_program",
    "render_np_prompt",
]
