"""Scorers of whole-answer samples, and the model's probability of "yes" that self-evaluation rests on.

A :data:`Scorer` is any ``fn(sample) -> float`` (sync or async): :func:`logprob_scorer` (the sample's own mean
token log-probability), :func:`verifier_scorer` (1 when a checker accepts it), :func:`self_eval_scorer` (the
model's probability that the sample is correct) or a reward function of your own.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from thinkgraph.llm.base import ChatModel, ChatRequest, capabilities_of
from thinkgraph.messages import ChatMessage
from thinkgraph.search.base import metered_chat

if TYPE_CHECKING:
    from thinkgraph.search.sampling import Sample

Scorer = Callable[["Sample"], float | Awaitable[float]]


async def maybe_call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, awaited when it returns an awaitable."""
    out = fn(*args)
    return await out if inspect.isawaitable(out) else out


def logprob_scorer(sample: Sample) -> float:
    """A sample's mean token log-probability (draw with ``logprobs=True``); -inf when unknown."""
    m = sample.mean_logprob
    return m if m is not None else -math.inf


def verifier_scorer(check: Callable[[Sample], bool | Awaitable[bool]]) -> Scorer:
    """A scorer from a verifier: 1.0 when it accepts the sample, 0.0 otherwise."""

    async def score(sample: Sample) -> float:
        return 1.0 if await maybe_call(check, sample) else 0.0

    return score


async def yes_probability(model: ChatModel, messages: Sequence[ChatMessage], votes: int = 3) -> float:
    """The model's probability that the answer to a yes/no question is "yes": from the first token's top
    log-probabilities when the backend gives them, else the share of ``votes`` sampled replies that say yes."""
    if "logprobs" in capabilities_of(model):
        request = ChatRequest(messages=tuple(messages), max_tokens=3, logprobs=True, top_logprobs=5)
        response = await metered_chat(model, request)
        choice = response.choices[0]
        if choice.logprobs:
            yes = no = 0.0
            for token, lp in (choice.logprobs[0].top or {choice.logprobs[0].token: choice.logprobs[0].logprob}).items():
                word = token.strip().lower()
                if word.startswith("yes"):
                    yes += math.exp(lp)
                elif word.startswith("no"):
                    no += math.exp(lp)
            if yes + no > 0:
                return yes / (yes + no)
        return 1.0 if choice.text.strip().lower().startswith("yes") else 0.0
    n = max(1, votes)
    request = ChatRequest(messages=tuple(messages), n=n, temperature=0.7 if n > 1 else 0.0, max_tokens=3)
    texts = (await metered_chat(model, request)).texts
    return sum(t.strip().lower().startswith("yes") for t in texts) / len(texts)


def self_eval_scorer(model: ChatModel, question: str, votes: int = 3) -> Scorer:
    """A scorer that asks ``model`` whether a sampled solution to ``question`` is correct (P(yes))."""

    async def score(sample: Sample) -> float:
        prompt = (
            f"Question:\n{question}\n\nProposed solution:\n{sample.text}\n\n"
            "Is the proposed solution correct? Reply with Yes or No only."
        )
        return await yes_probability(model, [ChatMessage(role="user", content=prompt)], votes)

    return score


__all__ = ["Scorer", "logprob_scorer", "maybe_call", "self_eval_scorer", "verifier_scorer", "yes_probability"]
