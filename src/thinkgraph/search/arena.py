"""Fixed, seeded matches between game players: MCTS with the model as prior, the model's greedy move alone, and
random play — win / draw / loss from the first-named player's side.

    python -m thinkgraph.search.arena --game tictactoe --model local --games 10 --seed 0

Each pairing plays ``games`` games, alternating who moves first; game ``i`` of a pairing is seeded with
``seed + i`` so a rerun replays the same games.  A model's illegal or unparsable moves are rejected by the
legal-move checker; the greedy player then falls back to a seeded random legal move (and the count is reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.search.games import (
    Game,
    GameConfig,
    GameState,
    GameWorld,
    ModelPrior,
    MovePrior,
    check_move,
    game_named,
    move_prompt,
)
from thinkgraph.search.mcts import MCTSParams, mcts, root_statistics


class Player(Protocol):
    name: str

    async def move(self, game: Game, state: GameState, rng: random.Random) -> int: ...


@dataclass
class RandomPlayer:
    name: str = "random"

    async def move(self, game: Game, state: GameState, rng: random.Random) -> int:
        return rng.choice(game.legal_moves(state))


@dataclass
class GreedyModelPlayer:
    """The model's single greedy reply (temperature 0), checked; an illegal reply gives a random legal move."""

    model: ChatModel
    name: str = "model-greedy"
    illegal: int = 0

    async def move(self, game: Game, state: GameState, rng: random.Random) -> int:
        request = ChatRequest(messages=tuple(move_prompt(game, state)), max_tokens=8)
        reply = (await self.model.chat(request)).texts[0]
        check = check_move(game, state, reply)
        if check.ok and check.move is not None:
            return check.move
        self.illegal += 1
        return rng.choice(game.legal_moves(state))


@dataclass
class MCTSPlayer:
    """MCTS with random rollouts; the prior (uniform, or the model's) guides PUCT selection."""

    prior: MovePrior | None = None
    params: MCTSParams = field(default_factory=lambda: MCTSParams(iterations=200, rule="uct"))
    name: str = "mcts"

    async def move(self, game: Game, state: GameState, rng: random.Random) -> int:
        params = MCTSParams(
            iterations=self.params.iterations,
            rule=self.params.rule,
            c=self.params.c,
            fpu=self.params.fpu,
            max_depth=64,
            value="rollout",
            rollout_depth=64,
            zero_sum=True,
            final="visits",
            seed=rng.randrange(1 << 30),
        )
        res = await mcts(state, GameWorld(game), GameConfig(game, self.prior), params, rollout=GameConfig(game))
        stats = root_statistics(res)
        return stats[0][0] if stats else rng.choice(game.legal_moves(state))


@dataclass(frozen=True)
class GameRecord:
    moves: tuple[int, ...]
    winner: int  # 1 (first player), 2 or 0 (draw)


async def play_game(game: Game, first: Player, second: Player, seed: int) -> GameRecord:
    rng = random.Random(seed)
    state = game.initial()
    moves: list[int] = []
    while state.winner is None:
        player = first if state.to_move == 1 else second
        move = await player.move(game, state, rng)
        state = game.play(state, move)
        moves.append(move)
    return GameRecord(tuple(moves), state.winner)


@dataclass
class Tally:
    win: int = 0
    draw: int = 0
    loss: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"win": self.win, "draw": self.draw, "loss": self.loss}


async def play_match(game: Game, a: Player, b: Player, games: int, seed: int = 0) -> Tally:
    """``games`` games of ``a`` against ``b`` (``a`` moves first in the even-numbered ones), from ``a``'s side."""
    tally = Tally()
    for i in range(games):
        a_first = i % 2 == 0
        rec = await play_game(game, a if a_first else b, b if a_first else a, seed + i)
        a_side = 1 if a_first else 2
        if rec.winner == 0:
            tally.draw += 1
        elif rec.winner == a_side:
            tally.win += 1
        else:
            tally.loss += 1
    return tally


async def tournament(
    game: Game,
    players: Sequence[Player],
    pairings: Sequence[tuple[str, str]],
    games: int,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Play each ``(a, b)`` pairing (player names); returns ``{"a vs b": {"win", "draw", "loss"}}``."""
    by_name = {p.name: p for p in players}
    out: dict[str, dict[str, int]] = {}
    for a, b in pairings:
        t = await play_match(game, by_name[a], by_name[b], games, seed)
        out[f"{a} vs {b}"] = t.as_dict()
        if progress is not None:
            progress(f"{game.name}: {a} vs {b}: {t.as_dict()}")
    return out


def standard_players(model: ChatModel | None, iterations: int, prior_samples: int = 4) -> list[Player]:
    """random, MCTS with a uniform prior, and — given a model — model-greedy and MCTS with the model as prior."""
    players: list[Player] = [RandomPlayer(), MCTSPlayer(None, MCTSParams(iterations=iterations), "mcts-uniform")]
    if model is not None:
        players.append(GreedyModelPlayer(model))
        prior = ModelPrior(model, samples=prior_samples)
        params = MCTSParams(iterations=iterations, rule="puct", c=1.5)
        players.append(MCTSPlayer(prior, params, "mcts-model-prior"))
    return players


STANDARD_PAIRINGS = (
    ("mcts-model-prior", "model-greedy"),
    ("mcts-model-prior", "random"),
    ("model-greedy", "random"),
    ("mcts-uniform", "random"),
)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m thinkgraph.search.arena", description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", default="tictactoe", help="tictactoe or connect4")
    ap.add_argument("--model", default=None, help="model spec (e.g. local, openai:NAME@URL); none: no model players")
    ap.add_argument("--games", type=int, default=10, help="games per pairing")
    ap.add_argument("--iterations", type=int, default=200, help="MCTS simulations per move")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    game = game_named(args.game)
    model = None
    if args.model:
        from thinkgraph.llm import load_model

        model = load_model(args.model)
    players = standard_players(model, args.iterations)
    names = {p.name for p in players}
    pairings = [pair for pair in STANDARD_PAIRINGS if set(pair) <= names]
    results = asyncio.run(tournament(game, players, pairings, args.games, args.seed, print))
    print(json.dumps({"game": game.name, "games": args.games, "seed": args.seed, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
