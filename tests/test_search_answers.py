"""A step search answers only from a path that states its final answer; unfinished reasoning abstains."""

from __future__ import annotations

import asyncio
from typing import Any

from thinkgraph.search.answers import search_evidence
from thinkgraph.search.base import Proposal
from thinkgraph.search.extract import extract_number
from thinkgraph.search.mcts import MCTSParams, mcts
from thinkgraph.search.reasoning import ReasoningState, ReasoningStep, StepWorld


class Steps:
    """Proposes scripted steps; ``answer_at`` is the depth whose step states the answer (None: never)."""

    def __init__(self, answer_at: int | None) -> None:
        self.answer_at = answer_at

    async def propose(self, problem: Any, state: ReasoningState, n: int) -> list[Proposal[ReasoningStep]]:
        depth = len(state.steps)
        text = "Answer: 7" if depth == self.answer_at else f"so far 3 + {depth + 1}"
        return [Proposal(ReasoningStep(text), 1.0, text)]

    async def evaluate(self, problem: Any, state: ReasoningState) -> float:
        return 1.0


def _run(answer_at: int | None) -> tuple[str | None, Any]:
    res = asyncio.run(mcts("q", StepWorld(max_steps=3), Steps(answer_at), MCTSParams(iterations=12, children=1)))
    return search_evidence("mcts", res, extract_number)


def test_a_path_that_states_its_answer_gives_the_answer() -> None:
    value, evidence = _run(answer_at=1)
    assert value == "7" and evidence.votes == {"7": 1}


def test_reasoning_that_never_states_an_answer_abstains_instead_of_taking_a_stray_number() -> None:
    value, evidence = _run(answer_at=None)  # paths end at max_steps with "so far 3 + 3": no answer line
    assert value is None and evidence.votes == {}
    assert "no path reached a final answer" in evidence.reason
