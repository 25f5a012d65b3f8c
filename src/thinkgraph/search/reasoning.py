"""Search over reasoning steps: a world model whose state is the steps written so far, and a search config that
samples next steps from a model and scores partial solutions.

* :class:`StepWorld` — a state (:class:`ReasoningState`) is the steps so far; an action (:class:`ReasoningStep`)
  appends one; a state is terminal once a step names the final answer (``Answer: …``) or after ``max_steps``;
* :class:`StepConfig` — ``propose`` asks the model for the next step, ``n`` samples in one request
  (``temperature > 0``), keeping each reply's first line; priors are the samples' frequencies or, with
  ``logprob_prior``, their probabilities; ``evaluate`` is a pluggable :class:`StateScorer`:

  * :class:`SelfEvaluation` — the model's P(yes) that the steps so far are correct (RAP / ToT style);
  * :class:`VerifierScore` — a checker of the state: True → 1 (``correct``), False → 0 (``wrong``), None → 0.5;
  * :class:`RewardScore` — any reward function of the state;
  * :class:`LogprobScore` — the steps' own probability, ``exp(mean step log-probability)``.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.messages import ChatMessage
from thinkgraph.search.base import Proposal, Score, metered_chat
from thinkgraph.search.scorers import yes_probability

STEP_SYSTEM = (
    "Solve the problem one step at a time. Each reply is exactly one short step of reasoning, on one line. "
    "When the final answer is known, reply with one line 'Answer: X'."
)
DONE = re.compile(r"\banswer\s*(?:is)?\s*[:\-]", re.IGNORECASE)


@dataclass(frozen=True)
class ReasoningStep:
    text: str
    logprob: float | None = None  # mean token log-probability of the reply it came from


@dataclass(frozen=True)
class ReasoningState:
    steps: tuple[str, ...] = ()
    logprobs: tuple[float | None, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(self.steps)


def problem_text(problem: Any) -> str:
    """A problem as text: a logic ``Problem`` (premises and conclusion), a ``Question`` (context, text, lettered
    options) or a string."""
    if isinstance(problem, str):
        return problem
    premises = getattr(problem, "premises", None)
    if premises is not None:
        listed = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(premises))
        return f"Premises:\n{listed}\n\nConclusion: {problem.conclusion}\n\nIs the conclusion True, False or Uncertain?"
    text = getattr(problem, "text", None)
    if text is not None:
        parts = [problem.context] if getattr(problem, "context", "") else []
        parts.append(text)
        options = getattr(problem, "options", ())
        if options:
            parts.append("\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options)))
        return "\n\n".join(parts)
    return str(problem)


def render_step_prompt(problem: Any, state: ReasoningState, system: str = STEP_SYSTEM) -> list[ChatMessage]:
    if state.steps:
        so_far = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(state.steps))
        ask = f"Steps so far:\n{so_far}\n\nWrite the next step."
    else:
        ask = "No steps yet. Write the first step."
    return [
        ChatMessage(role="system", content=system),
        ChatMessage(role="user", content=f"{problem_text(problem)}\n\n{ask}"),
    ]


def first_step(text: str) -> str:
    """The first non-empty line of a reply, without a leading step number."""
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:step\s*)?\d+[.):]\s*", "", line, flags=re.IGNORECASE).strip()
        if line:
            return line
    return ""


class StepWorld:
    """Reasoning steps as a world model (see the module docstring)."""

    def __init__(self, max_steps: int = 8, done: re.Pattern[str] = DONE) -> None:
        self.max_steps = max_steps
        self.done = done

    def init_state(self, problem: Any) -> ReasoningState:
        return ReasoningState()

    def step(self, state: ReasoningState, action: ReasoningStep) -> ReasoningState:
        return ReasoningState((*state.steps, action.text), (*state.logprobs, action.logprob))

    def is_terminal(self, state: ReasoningState) -> bool:
        return len(state.steps) >= self.max_steps or bool(state.steps and self.done.search(state.steps[-1]))


class StateScorer(Protocol):
    async def __call__(self, problem: Any, state: ReasoningState) -> float | Score: ...


async def _maybe_await(x: Any) -> Any:
    return await x if inspect.isawaitable(x) else x


class SelfEvaluation:
    """The model's probability that the reasoning so far is correct (one request; see
    :func:`~thinkgraph.search.sampling.yes_probability`)."""

    def __init__(self, model: ChatModel, votes: int = 3) -> None:
        self.model = model
        self.votes = votes

    async def __call__(self, problem: Any, state: ReasoningState) -> Score:
        steps = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(state.steps)) or "(none)"
        text = (
            f"{problem_text(problem)}\n\nReasoning so far:\n{steps}\n\n"
            "Is this reasoning correct so far and on the way to the right answer? Reply with Yes or No only."
        )
        p = await yes_probability(self.model, [ChatMessage(role="user", content=text)], self.votes)
        return Score(p)


class VerifierScore:
    """A checker of a state: True → 1.0 ``correct``, False → 0.0 ``wrong``, None → 0.5 (unchecked)."""

    def __init__(self, check: Callable[[Any, ReasoningState], bool | Awaitable[bool | None] | None]) -> None:
        self.check = check

    async def __call__(self, problem: Any, state: ReasoningState) -> Score:
        ok = await _maybe_await(self.check(problem, state))
        if ok is None:
            return Score(0.5)
        return Score(1.0, "correct") if ok else Score(0.0, "wrong")


class RewardScore:
    """Any reward function of a state (sync or async)."""

    def __init__(self, fn: Callable[[Any, ReasoningState], float | Awaitable[float]]) -> None:
        self.fn = fn

    async def __call__(self, problem: Any, state: ReasoningState) -> Score:
        return Score(float(await _maybe_await(self.fn(problem, state))))


class LogprobScore:
    """``exp(mean step log-probability)`` of the steps so far (draw steps with ``logprob_prior=True``); 1.0 for
    the empty state; steps without log-probabilities are skipped."""

    async def __call__(self, problem: Any, state: ReasoningState) -> Score:
        known = [lp for lp in state.logprobs if lp is not None]
        return Score(math.exp(sum(known) / len(known)) if known else 1.0)


class StepConfig:
    """Samples next steps from ``model`` and scores states with ``scorer`` (see the module docstring)."""

    def __init__(
        self,
        model: ChatModel,
        scorer: StateScorer,
        *,
        temperature: float = 0.7,
        max_tokens: int = 96,
        logprob_prior: bool = False,
        render: Callable[[Any, ReasoningState], list[ChatMessage]] = render_step_prompt,
    ) -> None:
        if temperature <= 0:
            raise ValueError("StepConfig samples several next steps: temperature must be > 0")
        self.model = model
        self.scorer = scorer
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.logprob_prior = logprob_prior
        self.render = render

    async def propose(self, problem: Any, state: ReasoningState, n: int) -> Sequence[Proposal[ReasoningStep]]:
        request = ChatRequest(
            messages=tuple(self.render(problem, state)),
            n=n,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            logprobs=self.logprob_prior,
        )
        response = await metered_chat(self.model, request)
        out = []
        for c in response.choices:
            text = first_step(c.text)
            if not text:
                continue
            lp = sum(t.logprob for t in c.logprobs) / len(c.logprobs) if c.logprobs else None
            prior = math.exp(lp) if self.logprob_prior and lp is not None else 1.0
            out.append(Proposal(ReasoningStep(text, lp), prior, text, lp))
        return out

    async def evaluate(self, problem: Any, state: ReasoningState) -> float | Score:
        return await self.scorer(problem, state)


__all__ = [
    "STEP_SYSTEM",
    "LogprobScore",
    "ReasoningState",
    "ReasoningStep",
    "RewardScore",
    "SelfEvaluation",
    "StateScorer",
    "StepConfig",
    "StepWorld",
    "VerifierScore",
    "first_step",
    "problem_text",
    "render_step_prompt",
]
