"""Search throughput with an instant scripted policy, and seeded game matches.

Node expansions per second (one ``propose`` call and its children created, on one core) of MCTS, step-level
beam search and particle filtering over a synthetic world (branching 4, depth 12) whose policy and scores
are instant: the cost measured is the search itself.  MCTS is also measured with the policy drawn from a
:class:`~thinkgraph.testing.ScriptedModel` (a ``ChatRequest`` per expansion, ``n`` samples in one request) and
with every tree event sent to a tracer.  Target: MCTS ≥ 5,000 expansions/s.

Then tic-tac-toe and Connect Four matches with fixed seeds: MCTS with a model as prior vs the model's greedy
move vs random play, win/draw/loss from the first-named side.  The "model" is a scripted heuristic that reads
the board from the prompt (win if it can, else block, else the centre, a corner or the most central column),
so the numbers are reproducible without a real model; ``python -m thinkgraph.search.arena --model SPEC`` plays
a real one.

    python benchmarks/mcts.py [--seconds 2] [--games 10]

Last line: JSON with ``mcts_expansions_per_s``, ``mcts_model_expansions_per_s``, ``mcts_traced_expansions_per_s``,
``beam_expansions_per_s``, ``particles_expansions_per_s``, ``mcts_target_ratio`` (MCTS / 5,000; ≥ 1 meets the
target), ``traced_overhead_ratio`` and the match tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from thinkgraph.llm.base import ChatRequest
from thinkgraph.runtime import Tracer
from thinkgraph.search import (
    BeamParams,
    MCTSParams,
    ParticleParams,
    Proposal,
    SearchResult,
    beam_search,
    mcts,
    metered_chat,
    particle_filter,
)
from thinkgraph.search.arena import standard_players, tournament
from thinkgraph.search.games import SYMBOLS, ConnectFour, Game, GameState, TicTacToe
from thinkgraph.testing import ScriptedModel

TARGET = 5000.0
State = tuple[int, ...]


class World:
    def __init__(self, depth: int = 12) -> None:
        self.depth = depth

    def init_state(self, problem: Any) -> State:
        return ()

    def step(self, state: State, action: int) -> State:
        return (*state, action)

    def is_terminal(self, state: State) -> bool:
        return len(state) >= self.depth


ACTIONS = [Proposal(a, 1.0 / (a + 1), str(a)) for a in range(4)]


class Instant:
    """Four actions with fixed priors; a state's score is a cheap hash of it."""

    async def propose(self, problem: Any, state: State, n: int) -> list[Proposal[int]]:
        return ACTIONS[:n]

    async def evaluate(self, problem: Any, state: State) -> float:
        return ((hash(state) >> 4) % 1000) / 1000


class FromModel(Instant):
    """The same actions, read from a scripted model's ``n`` samples (one request per expansion)."""

    def __init__(self) -> None:
        self.model = ScriptedModel(lambda r, i: str(i % 4))

    async def propose(self, problem: Any, state: State, n: int) -> list[Proposal[int]]:
        request = ChatRequest.of([("user", "next")], n=n, temperature=0.7, max_tokens=4)
        texts = (await metered_chat(self.model, request)).texts
        return [Proposal(int(t), 1.0, t) for t in texts]


Run = Callable[[], Coroutine[Any, Any, SearchResult[Any, Any]]]


def rate(run: Run, seconds: float) -> tuple[float, int]:
    """Expansions per second over repeated searches for about ``seconds``."""
    expansions, spent = 0, 0.0
    while spent < seconds:
        t = time.perf_counter()
        res = asyncio.run(run())
        spent += time.perf_counter() - t
        expansions += res.expansions
    return expansions / spent, expansions


# ----------------------------------------------------------------------------- a scripted heuristic "model"


def _board(game: Game, prompt: str) -> GameState:
    rows = prompt.split("Board:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    cells = [r.split() for r in rows if r.strip() and not r.strip()[0].isdigit()]
    if isinstance(game, ConnectFour):
        cells = list(reversed(cells))  # rendered top row first
    code = {v: k for k, v in SYMBOLS.items()}
    board = tuple(code[c] for row in cells for c in row)
    plies = sum(1 for v in board if v)
    side = prompt.split("You play ", 1)[1][0]
    return GameState(board=board, to_move=code[side], plies=plies)


TTT_PREFERENCE = [4, 0, 2, 6, 8, 1, 3, 5, 7]  # centre, corners, edges


def heuristic_reply(game: Game) -> Callable[[ChatRequest, int], str]:
    """Win if possible, else block, else the centre / a corner / the most central column (1-based names)."""

    def reply(request: ChatRequest, index: int) -> str:
        state = _board(game, request.messages[-1].content)
        moves = game.legal_moves(state)
        for player in (state.to_move, 3 - state.to_move):
            probe = GameState(state.board, player, None, None, state.plies)
            for m in moves:
                if game.play(probe, m).winner == player:
                    return game.move_name(m)
        if isinstance(game, TicTacToe):
            return game.move_name(min(moves, key=TTT_PREFERENCE.index))
        return game.move_name(min(moves, key=lambda m: (abs(m - 3), m)))

    return reply


def matches(game: Game, games: int, iterations: int) -> dict[str, dict[str, int]]:
    model = ScriptedModel(heuristic_reply(game), name=f"heuristic-{game.name}")
    players = standard_players(model, iterations, prior_samples=2)
    pairings = [("mcts-model-prior", "model-greedy"), ("mcts-model-prior", "random"), ("model-greedy", "random")]
    return asyncio.run(tournament(game, players, pairings, games, seed=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per throughput figure")
    ap.add_argument("--games", type=int, default=10, help="games per pairing (tic-tac-toe; Connect Four: half)")
    ap.add_argument("--iterations", type=int, default=200, help="MCTS simulations per game move")
    ap.add_argument("--mcts-iterations", type=int, default=2000, help="MCTS simulations per throughput search")
    args = ap.parse_args()

    world = World()
    mp = MCTSParams(iterations=args.mcts_iterations, children=4, max_depth=12, c=1.0)
    figures: dict[str, Any] = {}
    figures["mcts_expansions_per_s"], _ = rate(lambda: mcts(None, world, Instant(), mp), args.seconds)
    figures["mcts_model_expansions_per_s"], _ = rate(lambda: mcts(None, world, FromModel(), mp), args.seconds)
    figures["mcts_traced_expansions_per_s"], _ = rate(
        lambda: mcts(None, world, Instant(), mp, tracer=Tracer()), args.seconds
    )
    bp = BeamParams(beam_width=8, expand=4, max_depth=12)
    figures["beam_expansions_per_s"], _ = rate(lambda: beam_search(None, world, Instant(), bp), args.seconds)
    pp = ParticleParams(particles=32, max_steps=12, seed=0)
    figures["particles_expansions_per_s"], _ = rate(lambda: particle_filter(None, world, Instant(), pp), args.seconds)
    for k in list(figures):
        figures[k] = round(figures[k])
    figures["mcts_target_ratio"] = round(figures["mcts_expansions_per_s"] / TARGET, 3)
    traced = figures["mcts_traced_expansions_per_s"]
    figures["traced_overhead_ratio"] = round(figures["mcts_expansions_per_s"] / traced, 3)
    print(
        f"expansions/s: MCTS {figures['mcts_expansions_per_s']} (policy from a scripted model "
        f"{figures['mcts_model_expansions_per_s']}, traced {traced}), beam {figures['beam_expansions_per_s']}, "
        f"particles {figures['particles_expansions_per_s']}"
    )
    t = time.perf_counter()
    figures["tictactoe"] = matches(TicTacToe(), args.games, args.iterations)
    figures["connect4"] = matches(ConnectFour(), max(2, args.games // 2), args.iterations)
    figures["match_seconds"] = round(time.perf_counter() - t, 2)
    for name in ("tictactoe", "connect4"):
        for pairing, tally in figures[name].items():
            print(f"{name}: {pairing}: {tally}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
