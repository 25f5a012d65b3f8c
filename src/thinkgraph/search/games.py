"""A small game environment for search: tic-tac-toe and Connect Four (pure Python), a legal-move checker that
serves as the verifier of a model's moves, and the world model / search config that let
:func:`~thinkgraph.search.mcts.mcts` play them.

* :class:`TicTacToe` (cells 1–9, row by row) and :class:`ConnectFour` (columns 1–7; 6 rows) share
  :class:`GameState` (an immutable board of 0 / 1 / 2, the player to move, the winner once decided: 1, 2 or 0
  for a draw);
* :func:`check_move` parses a model's reply and says whether the move is legal (``verdict``: ``legal``,
  ``illegal``, ``unparsable``, ``game_over``);
* :class:`GameWorld` and :class:`GameConfig` turn a game into a two-player zero-sum search: a state's value is
  from the side of the player who just moved (+1 won, 0 draw, -1 lost), scored exactly at the end of the game
  (use ``MCTSParams(zero_sum=True, value="rollout")``);
* move priors: :class:`UniformPrior`, or :class:`ModelPrior` — the model is asked for the best move (``samples``
  replies in one request), each reply is checked and illegal ones are rejected, the legal ones' frequencies
  (mixed with ``epsilon`` of uniform) are the prior.  :mod:`thinkgraph.search.arena` plays matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from thinkgraph.llm.base import ChatModel, ChatRequest
from thinkgraph.messages import ChatMessage
from thinkgraph.search.base import Proposal, Score, metered_chat

SYMBOLS = {0: ".", 1: "X", 2: "O"}


class IllegalMove(ValueError):
    """A move that is not legal in the position (a developer error when it reaches ``play``)."""


@dataclass(frozen=True)
class GameState:
    board: tuple[int, ...]
    to_move: int = 1
    winner: int | None = None  # 1 or 2 won, 0 draw, None: still playing
    last: int | None = None
    plies: int = 0

    @property
    def over(self) -> bool:
        return self.winner is not None

    @property
    def mover(self) -> int:
        """The player who made the last move."""
        return 3 - self.to_move


class Game(Protocol):
    name: str

    def initial(self) -> GameState: ...

    def legal_moves(self, state: GameState) -> list[int]: ...

    def play(self, state: GameState, move: int) -> GameState: ...

    def render(self, state: GameState) -> str: ...

    def move_name(self, move: int) -> str: ...

    def parse_move(self, text: str) -> int | None: ...


_FIRST_INT = re.compile(r"\d+")


def _parse_1_based(text: str, size: int) -> int | None:
    m = _FIRST_INT.search(text)
    if m is None:
        return None
    n = int(m.group())
    return n - 1 if 1 <= n <= size else None


_TTT_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_TTT_BY_CELL = tuple(tuple(line for line in _TTT_LINES if c in line) for c in range(9))


class TicTacToe:
    """Tic-tac-toe: moves are cells 0–8 (named 1–9, row by row)."""

    name = "tic-tac-toe"
    LINES = _TTT_LINES
    _BY_CELL = _TTT_BY_CELL

    def initial(self) -> GameState:
        return GameState(board=(0,) * 9)

    def legal_moves(self, state: GameState) -> list[int]:
        if state.winner is not None:
            return []
        return [i for i, v in enumerate(state.board) if v == 0]

    def play(self, state: GameState, move: int) -> GameState:
        if state.winner is not None or not 0 <= move < 9 or state.board[move]:
            raise IllegalMove(f"{self.name}: cell {move + 1} is not a legal move")
        board = list(state.board)
        p = state.to_move
        board[move] = p
        won = any(board[a] == board[b] == board[c] == p for a, b, c in self._BY_CELL[move])
        winner = p if won else (0 if state.plies + 1 == 9 else None)
        return GameState(tuple(board), 3 - p, winner, move, state.plies + 1)

    def render(self, state: GameState) -> str:
        b = state.board
        return "\n".join(" ".join(SYMBOLS[b[r * 3 + c]] for c in range(3)) for r in range(3))

    def move_name(self, move: int) -> str:
        return str(move + 1)

    def parse_move(self, text: str) -> int | None:
        return _parse_1_based(text, 9)


class ConnectFour:
    """Connect Four on 6 rows × 7 columns: a move is a column 0–6 (named 1–7); the disc drops to the lowest
    empty row (row 0 is the bottom; cell = row · 7 + column)."""

    name = "connect-four"
    ROWS, COLS = 6, 7

    def initial(self) -> GameState:
        return GameState(board=(0,) * (self.ROWS * self.COLS))

    def legal_moves(self, state: GameState) -> list[int]:
        if state.winner is not None:
            return []
        top = (self.ROWS - 1) * self.COLS
        return [c for c in range(self.COLS) if state.board[top + c] == 0]

    def _row(self, board: Sequence[int], col: int) -> int:
        for r in range(self.ROWS):
            if board[r * self.COLS + col] == 0:
                return r
        return -1

    def play(self, state: GameState, move: int) -> GameState:
        if state.winner is not None or not 0 <= move < self.COLS:
            raise IllegalMove(f"{self.name}: column {move + 1} is not a legal move")
        row = self._row(state.board, move)
        if row < 0:
            raise IllegalMove(f"{self.name}: column {move + 1} is full")
        board = list(state.board)
        p = state.to_move
        board[row * self.COLS + move] = p
        won = self._wins(board, row, move, p)
        winner = p if won else (0 if state.plies + 1 == self.ROWS * self.COLS else None)
        return GameState(tuple(board), 3 - p, winner, move, state.plies + 1)

    def _wins(self, board: Sequence[int], row: int, col: int, p: int) -> bool:
        rows, cols = self.ROWS, self.COLS
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            run = 1
            for sign in (1, -1):
                r, c = row + sign * dr, col + sign * dc
                while 0 <= r < rows and 0 <= c < cols and board[r * cols + c] == p:
                    run += 1
                    r, c = r + sign * dr, c + sign * dc
            if run >= 4:
                return True
        return False

    def render(self, state: GameState) -> str:
        b, cols = state.board, self.COLS
        lines = [" ".join(SYMBOLS[b[r * cols + c]] for c in range(cols)) for r in reversed(range(self.ROWS))]
        return "\n".join([*lines, " ".join(str(c + 1) for c in range(cols))])

    def move_name(self, move: int) -> str:
        return str(move + 1)

    def parse_move(self, text: str) -> int | None:
        return _parse_1_based(text, self.COLS)


GAMES: dict[str, Game] = {"tictactoe": TicTacToe(), "connect4": ConnectFour()}


def game_named(name: str) -> Game:
    key = name.lower().replace("-", "").replace("_", "")
    aliases = {"tictactoe": "tictactoe", "ttt": "tictactoe", "connect4": "connect4", "connectfour": "connect4"}
    if key not in aliases:
        raise ValueError(f"unknown game {name!r}; choose tictactoe or connect4")
    return GAMES[aliases[key]]


# ----------------------------------------------------------------------------- the verifier


@dataclass(frozen=True)
class MoveCheck:
    ok: bool
    move: int | None
    verdict: str  # legal, illegal, unparsable, game_over
    reason: str = ""


def check_move(game: Game, state: GameState, reply: str | int) -> MoveCheck:
    """Is ``reply`` (a model's text, or a move index) a legal move in ``state``?"""
    if state.winner is not None:
        return MoveCheck(False, None, "game_over", "the game is over")
    move = reply if isinstance(reply, int) else game.parse_move(reply)
    if move is None:
        return MoveCheck(False, None, "unparsable", f"no move in {str(reply)[:40]!r}")
    if move not in game.legal_moves(state):
        return MoveCheck(False, move, "illegal", f"{game.move_name(move)} is not a legal move here")
    return MoveCheck(True, move, "legal")


# ----------------------------------------------------------------------------- priors


class MovePrior(Protocol):
    async def __call__(self, game: Game, state: GameState, moves: Sequence[int]) -> dict[int, float]: ...


class UniformPrior:
    async def __call__(self, game: Game, state: GameState, moves: Sequence[int]) -> dict[int, float]:
        return {m: 1.0 / len(moves) for m in moves} if moves else {}


def move_prompt(game: Game, state: GameState) -> list[ChatMessage]:
    side = SYMBOLS[state.to_move]
    legal = ", ".join(game.move_name(m) for m in game.legal_moves(state))
    how = "a cell number (1-9, row by row)" if isinstance(game, TicTacToe) else "a column number (1-7)"
    text = (
        f"We are playing {game.name}. You play {side}. Board:\n{game.render(state)}\n\n"
        f"Legal moves: {legal}.\nWhat is your best move? Reply with {how} only."
    )
    return [ChatMessage(role="user", content=text)]


@dataclass
class PriorStats:
    """Diagnostics of a model prior (what the checker rejected); they never change a search."""

    asked: int = 0
    legal: int = 0
    rejected: int = 0


class ModelPrior:
    """A prior from the model: ``samples`` replies to :func:`move_prompt` in one request (``temperature > 0``),
    each checked by :func:`check_move` (illegal and unparsable replies are rejected), mixed with ``epsilon`` of
    uniform.  Only positions within ``plies`` of the search's root ask the model (deeper ones are uniform)."""

    def __init__(
        self,
        model: ChatModel,
        *,
        samples: int = 4,
        temperature: float = 0.7,
        epsilon: float = 0.1,
        plies: int = 1,
    ) -> None:
        self.model = model
        self.samples = samples
        self.temperature = temperature
        self.epsilon = epsilon
        self.plies = plies
        self.stats = PriorStats()

    async def __call__(self, game: Game, state: GameState, moves: Sequence[int]) -> dict[int, float]:
        uniform = {m: 1.0 / len(moves) for m in moves} if moves else {}
        if not moves:
            return uniform
        request = ChatRequest(
            messages=tuple(move_prompt(game, state)),
            n=self.samples,
            temperature=self.temperature if self.samples > 1 else 0.0,
            max_tokens=8,
        )
        texts = (await metered_chat(self.model, request)).texts
        counts: dict[int, int] = {}
        for t in texts:
            check = check_move(game, state, t)
            self.stats.asked += 1
            if check.ok and check.move is not None:
                counts[check.move] = counts.get(check.move, 0) + 1
                self.stats.legal += 1
            else:
                self.stats.rejected += 1
        total = sum(counts.values())
        if not total:
            return uniform
        return {m: (1 - self.epsilon) * counts.get(m, 0) / total + self.epsilon * uniform[m] for m in moves}


# ----------------------------------------------------------------------------- search adapters


class GameWorld:
    """A game as a world model; the problem is the position to search from (None: the initial position)."""

    def __init__(self, game: Game) -> None:
        self.game = game

    def init_state(self, problem: Any) -> GameState:
        return problem if isinstance(problem, GameState) else self.game.initial()

    def step(self, state: GameState, action: int) -> GameState:
        return self.game.play(state, action)

    def is_terminal(self, state: GameState) -> bool:
        return state.winner is not None


class GameConfig:
    """Every legal move, with the prior's probabilities (the model is asked only within the prior's ``plies``
    of the root position, which is the search's problem); a state's value from the side of the player who just
    moved: +1 won, 0 draw or undecided, -1 lost."""

    def __init__(self, game: Game, prior: MovePrior | None = None) -> None:
        self.game = game
        self.prior: MovePrior = prior or UniformPrior()
        self._uniform = UniformPrior()

    async def propose(self, problem: Any, state: GameState, n: int) -> Sequence[Proposal[int]]:
        moves = self.game.legal_moves(state)
        prior = self.prior
        root_plies = problem.plies if isinstance(problem, GameState) else 0
        if state.plies - root_plies >= getattr(prior, "plies", 1 << 30):
            prior = self._uniform
        p = await prior(self.game, state, moves)
        side = SYMBOLS[state.to_move]
        return [Proposal(m, p.get(m, 0.0), f"{side} {self.game.move_name(m)}") for m in moves]

    async def evaluate(self, problem: Any, state: GameState) -> Score:
        if state.winner is None:
            return Score(0.0)
        if state.winner == 0:
            return Score(0.0, "draw")
        return Score(1.0, "win") if state.winner == state.mover else Score(-1.0, "loss")


def after(state: GameState, **changes: Any) -> GameState:
    """A copy of ``state`` with ``changes`` (for tests and set positions)."""
    return replace(state, **changes)


__all__ = [
    "GAMES",
    "ConnectFour",
    "Game",
    "GameConfig",
    "GameState",
    "GameWorld",
    "IllegalMove",
    "ModelPrior",
    "MoveCheck",
    "MovePrior",
    "PriorStats",
    "TicTacToe",
    "UniformPrior",
    "after",
    "check_move",
    "game_named",
    "move_prompt",
]
