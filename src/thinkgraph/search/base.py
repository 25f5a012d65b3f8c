"""The search extension points, split the LLM-Reasoners way (Hao et al., 2024) but stateless.

* a :class:`WorldModel` says what a state is: ``init_state(problem)``, ``step(state, action)`` (a **new**
  state; nothing is mutated) and ``is_terminal(state)``;
* a :class:`SearchConfig` says what to try and how good it is: ``await propose(problem, state, n)`` returns
  up to ``n`` candidate actions (sampled from a model in one request, enumerated by a game, …) with their
  priors, and ``await evaluate(problem, state)`` scores a state (self-evaluation, a verifier, a reward
  function or log-probabilities) as a float or a :class:`Score` with a verdict;
* an algorithm (:func:`~thinkgraph.search.mcts.mcts`, :func:`~thinkgraph.search.beam.beam_search`,
  :func:`~thinkgraph.search.particles.particle_filter`, :func:`~thinkgraph.search.beam.best_first`) is a
  plain async function of ``(problem, world, config, params, budget)`` that returns a
  :class:`SearchResult`: the best path, its score and a named stop reason.

Lifecycle: build the world and config once (they hold a model and settings, never per-search state), call
an algorithm any number of times, concurrently if you like.  Budgets (:class:`SearchBudget`) count model
calls, tokens, seconds and node expansions; a search that runs out returns its best so far with
``stop_reason="budget_exhausted"``.  A config that calls a model should go through :func:`metered_chat`, so
its calls count against the search's budget; inside a workflow node the run's ledger is checked too (its
:class:`~thinkgraph.runtime.BudgetExceeded` ends the search the same way).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from thinkgraph.runtime import BudgetExceeded

if TYPE_CHECKING:
    from thinkgraph.llm.base import ChatModel, ChatRequest, ChatResponse
    from thinkgraph.messages import SearchNode
    from thinkgraph.search.tree import SearchTree

S = TypeVar("S")
A = TypeVar("A")
S_contra = TypeVar("S_contra", contravariant=True)
A_contra = TypeVar("A_contra", contravariant=True)
A_co = TypeVar("A_co", covariant=True)

#: Why a search stopped: ``done`` (it finished its plan: iterations, depth, every beam terminal),
#: ``budget_exhausted`` (calls, tokens, seconds or expansions ran out), ``no_actions`` (nothing to expand),
#: ``stopped_early`` (an adaptive rule decided more work would not change the answer).
StopReason = Literal["done", "budget_exhausted", "no_actions", "stopped_early"]


@dataclass(frozen=True)
class Proposal(Generic[A_co]):
    """A candidate action: the action itself, its prior (a policy probability or sample frequency; the
    algorithms normalise priors over siblings), how a viewer shows it, and its log-probability if known."""

    action: A_co
    prior: float = 1.0
    text: str = ""
    logprob: float | None = None

    @property
    def key(self) -> str:
        """What makes two proposals the same action (duplicates of a sampled step are merged)."""
        return self.text or repr(self.action)


@dataclass(frozen=True)
class Score:
    """A state's value (higher is better; MCTS over games uses [-1, 1], reasoning [0, 1]) and what a
    checker said of it (``"correct"``, ``"wrong"``, ``"illegal"``…; empty when unchecked)."""

    value: float
    verdict: str = ""


def as_score(x: float | Score) -> Score:
    return x if isinstance(x, Score) else Score(float(x))


class WorldModel(Protocol[S, A_contra]):
    """States and transitions.  Pure: ``step`` returns a new state and never changes its argument."""

    def init_state(self, problem: Any) -> S: ...

    def step(self, state: S, action: A_contra) -> S: ...

    def is_terminal(self, state: S) -> bool: ...


class SearchConfig(Protocol[S_contra, A_co]):
    """Proposals and scores.  ``propose`` may call a model (draw the ``n`` candidates in **one** request:
    ``ChatRequest(n=n, temperature>0)``) and may return fewer (a game has few legal moves) or duplicates
    (merged by :attr:`Proposal.key`).  ``evaluate`` scores a state: self-evaluation, a verifier, a reward
    function or log-probabilities."""

    async def propose(self, problem: Any, state: S_contra, n: int) -> Sequence[Proposal[A_co]]: ...

    async def evaluate(self, problem: Any, state: S_contra) -> float | Score: ...


# ----------------------------------------------------------------------------- budgets


@dataclass(frozen=True)
class SearchBudget:
    """Limits of one search: model calls, tokens (prompt + completion), wall seconds, node expansions."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None
    max_expansions: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_tokens", "max_seconds", "max_expansions"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise ValueError(f"SearchBudget.{name} must be a number >= 0 or None, not {value!r}")


class SearchBudgetExceeded(BudgetExceeded):
    """The search's own budget (:class:`SearchBudget`) is spent; algorithms turn it into a result."""


class Meter:
    """What one search has spent.  Algorithms make it current (:meth:`active`) so that
    :func:`metered_chat` charges the calls a config makes to the right search."""

    __slots__ = ("budget", "calls", "expansions", "started", "tokens")

    def __init__(self, budget: SearchBudget | None = None) -> None:
        self.budget = budget or SearchBudget()
        self.calls = 0
        self.tokens = 0
        self.expansions = 0
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def exhausted(self) -> str | None:
        """The first limit reached (``"model calls limit 4"``…), or None."""
        b = self.budget
        if b.max_calls is not None and self.calls >= b.max_calls:
            return f"model calls limit {b.max_calls}"
        if b.max_tokens is not None and self.tokens >= b.max_tokens:
            return f"tokens limit {b.max_tokens}"
        if b.max_expansions is not None and self.expansions >= b.max_expansions:
            return f"expansions limit {b.max_expansions}"
        if b.max_seconds is not None and self.seconds >= b.max_seconds:
            return f"seconds limit {b.max_seconds:g}"
        return None

    def check_call(self) -> None:
        """Raise :class:`SearchBudgetExceeded` when no further model call is allowed."""
        b = self.budget
        if b.max_calls is not None and self.calls >= b.max_calls:
            raise SearchBudgetExceeded("search model calls", b.max_calls)
        if b.max_tokens is not None and self.tokens >= b.max_tokens:
            raise SearchBudgetExceeded("search tokens", b.max_tokens)
        if b.max_seconds is not None and self.seconds >= b.max_seconds:
            raise SearchBudgetExceeded("search seconds", b.max_seconds)

    def charge(self, calls: int, tokens: int) -> None:
        self.calls += calls
        self.tokens += tokens

    @contextlib.contextmanager
    def active(self) -> Iterator[Meter]:
        token = _current_meter.set(self)
        try:
            yield self
        finally:
            _current_meter.reset(token)


_current_meter: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("thinkgraph_search_meter", default=None)


def current_meter() -> Meter | None:
    """The meter of the search running in this task, if any."""
    return _current_meter.get()


async def metered_chat(model: ChatModel, request: ChatRequest) -> ChatResponse:
    """``model.chat(request)``, refused with :class:`SearchBudgetExceeded` when the current search's budget is
    spent and charged to it afterwards.  Outside a search it is a plain call."""
    meter = _current_meter.get()
    if meter is not None:
        meter.check_call()
    response = await model.chat(request)
    if meter is not None:
        meter.charge(1, response.usage.prompt_tokens + response.usage.completion_tokens)
    return response


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PathStep(Generic[S, A]):
    """One step of a result's path: the action taken (None at the root), the state it led to, its text."""

    action: A | None
    state: S
    text: str
    score: float | None
    node_id: int


@dataclass(frozen=True)
class SearchResult(Generic[S, A]):
    """What a search found: the best path (root first), its score, why it stopped, what it spent.

    ``tree`` holds every node it created (see :class:`~thinkgraph.search.tree.SearchTree`);
    :meth:`nodes` gives them as :class:`~thinkgraph.messages.SearchNode` records (their final state)."""

    algorithm: str
    search_id: str
    path: tuple[PathStep[S, A], ...]
    score: float | None
    stop_reason: StopReason
    stop_detail: str = ""
    expansions: int = 0
    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    tree: SearchTree | None = field(default=None, repr=False, compare=False)

    @property
    def actions(self) -> tuple[A, ...]:
        return tuple(s.action for s in self.path if s.action is not None)

    @property
    def texts(self) -> tuple[str, ...]:
        """The texts of the path's steps (the root excluded)."""
        return tuple(s.text for s in self.path[1:])

    @property
    def final_state(self) -> S | None:
        return self.path[-1].state if self.path else None

    def nodes(self) -> list[SearchNode]:
        return self.tree.to_events() if self.tree is not None else []


__all__ = [
    "Meter",
    "PathStep",
    "Proposal",
    "Score",
    "SearchBudget",
    "SearchBudgetExceeded",
    "SearchConfig",
    "SearchResult",
    "StopReason",
    "WorldModel",
    "as_score",
    "current_meter",
    "metered_chat",
]
