"""The game environment: rules and win detection, the legal-move checker as a verifier of a model's moves,
MCTS over moves (with a uniform or a model prior) and seeded matches."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from thinkgraph.llm.base import ChatRequest
from thinkgraph.search import MCTSParams, mcts, root_statistics
from thinkgraph.search.arena import (
    GreedyModelPlayer,
    MCTSPlayer,
    RandomPlayer,
    play_game,
    play_match,
    standard_players,
    tournament,
)
from thinkgraph.search.games import (
    ConnectFour,
    GameConfig,
    GameState,
    GameWorld,
    IllegalMove,
    ModelPrior,
    TicTacToe,
    check_move,
    game_named,
)
from thinkgraph.testing import ScriptedModel

TTT, C4 = TicTacToe(), ConnectFour()


def ttt(cells: str, to_move: int = 1) -> GameState:
    """A tic-tac-toe position from 9 characters of X, O and '.'."""
    board = tuple({"X": 1, "O": 2, ".": 0}[c] for c in cells)
    return GameState(board=board, to_move=to_move, plies=sum(1 for c in cells if c != "."))


def play(game: Any, moves: list[int]) -> GameState:
    state = game.initial()
    for m in moves:
        state = game.play(state, m)
    return state


def test_tic_tac_toe_rules_and_win_detection() -> None:
    s = play(TTT, [0, 3, 1, 4, 2])  # X takes the top row
    assert s.winner == 1 and s.over and TTT.legal_moves(s) == []
    assert play(TTT, [2, 0, 4, 1, 6]).winner == 1  # anti-diagonal
    assert play(TTT, [0, 1, 3, 2, 6]).winner == 1  # first column
    draw = play(TTT, [0, 1, 2, 4, 3, 5, 7, 6, 8])
    assert draw.winner == 0 and draw.plies == 9
    s = play(TTT, [4])
    assert s.to_move == 2 and 4 not in TTT.legal_moves(s) and len(TTT.legal_moves(s)) == 8
    with pytest.raises(IllegalMove):
        TTT.play(s, 4)
    assert TTT.render(s) == ". . .\n. X .\n. . ."


def test_connect_four_rules_and_win_detection() -> None:
    assert play(C4, [0, 1, 0, 1, 0, 1, 0]).winner == 1  # vertical
    assert play(C4, [0, 0, 1, 1, 2, 2, 3]).winner == 1  # horizontal
    assert play(C4, [0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3]).winner == 1  # diagonal /
    assert play(C4, [6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3]).winner == 1  # diagonal \
    s = play(C4, [3, 3, 3, 3, 3, 3])
    assert 3 not in C4.legal_moves(s) and s.winner is None
    with pytest.raises(IllegalMove):
        C4.play(s, 3)
    assert s.board[3] == 1 and s.board[5 * 7 + 3] == 2  # drops stack from the bottom row
    assert C4.render(C4.initial()).splitlines()[-1] == "1 2 3 4 5 6 7"


def test_a_full_connect_four_board_is_a_draw() -> None:
    # columns filled in pairs so no four line up: 0,1 / 2,3 / 4,5 alternate patterns, then column 6
    order = [0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 2, 3, 2, 3, 3, 2, 3, 2, 2, 3, 2, 3]
    order += [4, 5, 4, 5, 5, 4, 5, 4, 4, 5, 4, 5, 6, 6, 6, 6, 6, 6]
    s = play(C4, order)
    assert s.plies == 42 and s.winner == 0


def test_the_legal_move_checker_is_the_verifier() -> None:
    s = play(TTT, [4])
    assert check_move(TTT, s, "I play 1") == check_move(TTT, s, 0) and check_move(TTT, s, "1").ok
    assert check_move(TTT, s, "5").verdict == "illegal"
    assert check_move(TTT, s, "the center!").verdict == "unparsable"
    assert check_move(TTT, s, "10").verdict == "unparsable"
    assert check_move(TTT, play(TTT, [0, 3, 1, 4, 2]), "9").verdict == "game_over"
    assert check_move(C4, C4.initial(), "7").move == 6 and game_named("connect-four") is game_named("connect4")


def search_move(state: GameState, prior: Any = None, iterations: int = 300) -> int:
    params = MCTSParams(iterations=iterations, value="rollout", rollout_depth=64, max_depth=64, zero_sum=True,
                        final="visits", seed=1)  # fmt: skip
    res = asyncio.run(mcts(state, GameWorld(TTT), GameConfig(TTT, prior), params, rollout=GameConfig(TTT)))
    return int(res.actions[0])


def test_mcts_takes_a_win_and_blocks_a_loss() -> None:
    assert search_move(ttt("XX.OO....", to_move=1)) == 2  # win at once
    assert search_move(ttt("OO.X.....", to_move=1)) == 2  # block O's row
    c4 = play(C4, [0, 6, 1, 6, 2])  # X threatens column 4
    params = MCTSParams(iterations=400, value="rollout", rollout_depth=64, max_depth=64, zero_sum=True,
                        final="visits", seed=0)  # fmt: skip
    res = asyncio.run(mcts(c4, GameWorld(C4), GameConfig(C4), params))
    assert res.actions[0] == 3  # O must block
    stats = root_statistics(res)
    assert stats[0][0] == 3 and stats[0][1] == max(v for _m, v, _q in stats)


def test_a_model_prior_rejects_illegal_moves_and_guides_puct() -> None:
    def reply(request: ChatRequest, i: int) -> str:
        return ["5", "3", "banana", "3"][i % 4]  # 5 is taken, 'banana' names no move

    model = ScriptedModel(reply)
    prior = ModelPrior(model, samples=4, epsilon=0.2)
    state = play(TTT, [4])
    probs = asyncio.run(prior(TTT, state, TTT.legal_moves(state)))
    assert probs[2] == pytest.approx(0.8 + 0.2 / 8) and probs[0] == pytest.approx(0.2 / 8)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert (prior.stats.asked, prior.stats.legal, prior.stats.rejected) == (4, 2, 2)
    assert [(r.n, r.temperature > 0) for r in model.requests] == [(4, True)]
    # PUCT follows the prior; the model is asked only at the root (plies=1)
    params = MCTSParams(iterations=30, rule="puct", c=2.0, value="rollout", rollout_depth=64, max_depth=64,
                        zero_sum=True, final="visits")  # fmt: skip
    res = asyncio.run(mcts(state, GameWorld(TTT), GameConfig(TTT, prior), params, rollout=GameConfig(TTT)))
    assert len(model.requests) == 2 and root_statistics(res)[0][0] == 2


def test_greedy_model_player_falls_back_on_illegal_replies() -> None:
    player = GreedyModelPlayer(ScriptedModel(lambda r, i: "5"))
    s = play(TTT, [4])
    move = asyncio.run(player.move(TTT, s, random.Random(0)))
    assert move in TTT.legal_moves(s) and player.illegal == 1


def test_seeded_matches_replay_exactly() -> None:
    one = asyncio.run(play_game(TTT, RandomPlayer(), RandomPlayer(), seed=7))
    two = asyncio.run(play_game(TTT, RandomPlayer(), RandomPlayer(), seed=7))
    assert one == two and one.winner in (0, 1, 2)
    mcts_player = MCTSPlayer(None, MCTSParams(iterations=100), "mcts")
    tally = asyncio.run(play_match(TTT, mcts_player, RandomPlayer(), games=4, seed=0))
    assert tally.win + tally.draw + tally.loss == 4 and tally.loss == 0 and tally.win >= 3


def test_a_tournament_of_the_standard_players() -> None:
    model = ScriptedModel(lambda r, i: r.messages[-1].content.split("Legal moves: ")[1].split(",")[0].rstrip("."))
    players = standard_players(model, iterations=30, prior_samples=2)
    assert [p.name for p in players] == ["random", "mcts-uniform", "model-greedy", "mcts-model-prior"]
    out = asyncio.run(tournament(TTT, players, [("mcts-model-prior", "model-greedy")], games=2, seed=0))
    assert sum(out["mcts-model-prior vs model-greedy"].values()) == 2


def test_the_mcts_benchmark_runs_and_prints_its_figures() -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "mcts.py"
    argv = [sys.executable, str(script), "--seconds", "0.05", "--games", "2", "--iterations", "20"]
    out = subprocess.run([*argv, "--mcts-iterations", "100"], capture_output=True, text=True, check=True, timeout=120)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("mcts", "mcts_model", "mcts_traced", "beam", "particles"):
        assert figures[f"{key}_expansions_per_s"] > 0
    assert figures["mcts_target_ratio"] > 0 and figures["traced_overhead_ratio"] > 0
    assert sum(figures["tictactoe"]["mcts-model-prior vs random"].values()) == 2
