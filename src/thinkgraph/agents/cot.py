"""Chain-of-thought baseline: the model reasons in prose and names an answer; samples are voted.

Its answers carry only the vote behind them (status ``voted``), never a certificate; a reply with no
recognisable answer counts as a failed sample.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from thinkgraph.agents.strategies import Strategy, reverse_filter, strategy_prompt
from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.messages import Answer, ChatMessage, Evidence, Label, Problem

COT_SYSTEM = (
    "You are a careful logician. Decide whether the conclusion follows from the premises. "
    "Answer True if the premises prove it, False if they prove its negation, and Uncertain if neither. "
    "Use only the premises. Reason step by step, briefly, then end with a line 'Answer: True', "
    "'Answer: False' or 'Answer: Uncertain'."
)

_ANSWER = re.compile(r"answer\s*(?:is)?\s*[:\-]?\s*\**\s*(true|false|uncertain|unknown)", re.IGNORECASE)
_CLOSING = re.compile(
    r"(?:conclusion|statement)\b[^.\n]{0,100}?\b(?:is|must be|would be)\s+\**(true|false|uncertain|unknown)\b",
    re.IGNORECASE,
)


def render_cot_prompt(problem: Problem) -> list[ChatMessage]:
    premises = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(problem.premises))
    user = f"Premises:\n{premises}\n\nConclusion: {problem.conclusion}\n\nIs the conclusion True, False or Uncertain?"
    return [ChatMessage(role="system", content=COT_SYSTEM), ChatMessage(role="user", content=user)]


def parse_cot_answer(text: str) -> Label | None:
    """The label after the last 'Answer:'; failing that, the last 'the conclusion is X'."""
    found = _ANSWER.findall(text) or _CLOSING.findall(text)
    if not found:
        return None
    word = found[-1].lower()
    return "Uncertain" if word in ("uncertain", "unknown") else ("True" if word == "true" else "False")


async def cot_samples(
    model: ChatModel,
    problem: Problem,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 1024,
    strategy: Strategy = "none",
    tracer: Any = None,
) -> list[str]:
    """``samples`` chain-of-thought replies (one request), prompted under ``strategy``
    (:mod:`thinkgraph.agents.strategies`; ``reverse`` withholds the replies that fail the reverse check)."""
    messages = await strategy_prompt(model, problem, render_cot_prompt, strategy, tracer=tracer)
    request = ChatRequest(
        messages=tuple(messages),
        n=samples,
        temperature=temperature if samples > 1 else 0.0,
        max_tokens=max_tokens,
        seed=0,
    )
    texts = (await model.chat(request)).texts
    if strategy == "reverse":
        texts = await reverse_filter(model, problem, texts, tracer=tracer)
    return texts


def cot_vote(problem: Problem, texts: Sequence[str]) -> Answer:
    labels = [parse_cot_answer(t) for t in texts]
    counts: Counter[Label] = Counter(label for label in labels if label is not None)
    failed = sum(label is None for label in labels)
    if not counts:
        return Answer(
            problem_id=problem.id,
            value=None,
            status="abstained",
            evidence=Evidence(
                samples=len(texts), failed_samples=failed, reason="no sample named an answer", rationales=tuple(texts)
            ),
        )
    label, n = counts.most_common(1)[0]
    return Answer(
        problem_id=problem.id,
        value=label,
        status="voted",
        evidence=Evidence(
            votes={str(k): v for k, v in counts.items()},
            samples=len(texts),
            failed_samples=failed,
            agreement=n / len(texts),
            reason="chain-of-thought: no formal check",
            rationales=tuple(texts),
        ),
    )
