"""Tic-tac-toe as a two-player PettingZoo AEC text env.

The smallest multi-agent env of the gym: it exercises the AEC text conventions that
Werewolf and other multi-agent games follow (string observations per agent, the
``info`` keys of :mod:`agentrl.envs.info` per agent, invalid moves that never raise
and never pass the turn) and carries an exact minimax expert.

Cells are numbered 1-9 in reading order; the action is the number of an empty cell
(``"5"``, ``"place 5"`` or ``"cell 5"``). The winner gets +1, the loser -1, a draw 0.
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar

import numpy as np
from pettingzoo import AECEnv

from agentrl.envs.actions import describe_invalid
from agentrl.envs.spaces import TextSpace

_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_MOVE = re.compile(r"^\s*(?:place|cell|play|mark|move)?\s*\[?\s*([1-9])\s*\]?\s*[.!]?\s*$", re.IGNORECASE)


def winner(board: tuple[str, ...]) -> str | None:
    """The mark (``"X"``/``"O"``) with three in a line, or None."""
    for a, b, c in _LINES:
        if board[a] != " " and board[a] == board[b] == board[c]:
            return board[a]
    return None


@functools.cache
def _minimax(board: tuple[str, ...], mark: str) -> tuple[int, int]:
    """(value for ``mark`` to move, best cell index).

    A win is worth 1 + the empty cells left after it, so the expert wins as soon as it
    can and loses as late as it must; a draw is 0.
    """
    other = "O" if mark == "X" else "X"
    best_value, best_cell = -100, -1
    for cell in range(9):
        if board[cell] != " ":
            continue
        child = (*board[:cell], mark, *board[cell + 1 :])
        if winner(child) == mark:
            value = 1 + child.count(" ")
        elif " " not in child:
            value = 0
        else:
            value = -_minimax(child, other)[0]
        if value > best_value:
            best_value, best_cell = value, cell
    return best_value, best_cell


def best_move(board: tuple[str, ...], mark: str) -> int:
    """An optimal cell (0-8) for ``mark`` on a board with at least one empty cell."""
    return _minimax(board, mark)[1]


class TicTacToeEnv(AECEnv):
    """Two players, ``player_x`` (moves first) and ``player_o``.

    Args:
        expert: Put the minimax move in the mover's ``info["expert_action"]``.
        render_mode: ``"ansi"`` (``render()`` returns the board) or ``"human"`` (prints it).
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (PettingZoo declares it so)
        "name": "tictactoe_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": False,
    }
    instructions: ClassVar[str] = (
        "You are playing tic-tac-toe against another player on a 3x3 board. Cells are numbered 1-9 row by row from "
        "the top left; an empty cell shows its number, a taken one its mark (X or O). On your turn, reply with the "
        "number of an empty cell, e.g. 5."
    )
    """What each player must know to act: from ``reset`` until it first acts, an agent's info holds it as
    ``info["instructions"]`` (so each seat finds it whether it reads ``infos`` after reset or at its first turn)."""

    def __init__(self, *, expert: bool = True, render_mode: str | None = None):
        super().__init__()
        self.possible_agents = ["player_x", "player_o"]
        self.marks = {"player_x": "X", "player_o": "O"}
        self.expert = expert
        self.render_mode = render_mode
        self._spaces = {agent: TextSpace(8192) for agent in self.possible_agents}
        self.board: tuple[str, ...] = (" ",) * 9
        self._feedback: dict[str, str] = {}
        self._moved: set[str] = set()

    def observation_space(self, agent: str) -> TextSpace:
        return self._spaces[agent]

    def action_space(self, agent: str) -> TextSpace:
        return self._spaces[agent]

    def _board_text(self) -> str:
        cells = [mark if mark != " " else str(i + 1) for i, mark in enumerate(self.board)]
        rows = [f" {cells[r]} | {cells[r + 1]} | {cells[r + 2]}" for r in (0, 3, 6)]
        return "\n---+---+---\n".join(rows)

    def observe(self, agent: str) -> str:
        mark = self.marks[agent]
        if self.terminations.get(agent) or self.truncations.get(agent):
            result = winner(self.board)
            status = "The game is over: " + (
                "a draw." if result is None else ("you won." if result == mark else "you lost.")
            )
        elif self.agent_selection == agent:
            status = "It is your turn: name an empty cell (1-9)."
        else:
            status = "Wait for your opponent."
        feedback = self._feedback.get(agent)
        return (feedback + "\n\n" if feedback else "") + f"{self._board_text()}\nYou play {mark}. {status}"

    def _agent_info(self, agent: str, invalid: bool = False) -> dict[str, Any]:
        mark = self.marks[agent]
        done = winner(self.board) is not None or " " not in self.board
        to_move = not done and self.agent_selection == agent
        admissible = [str(i + 1) for i, m in enumerate(self.board) if m == " "] if to_move else []
        info = {
            "task": f"Win tic-tac-toe as {mark}: get three {mark} in a row, column or diagonal.",
            "admissible_actions": admissible,
            "won": winner(self.board) == mark,
            "score": float(self._cumulative_rewards.get(agent, 0.0)),
            "invalid_action": invalid,
            "expert_action": str(best_move(self.board, mark) + 1) if (self.expert and to_move) else None,
        }
        if agent not in self._moved:
            info["instructions"] = self.instructions
        return info

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        # The game has no randomness; the generator is kept for API symmetry.
        self.np_random = np.random.default_rng(seed)
        self.board = (" ",) * 9
        self._feedback = {}
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.agent_selection = self.agents[0]
        self._moved = set()
        self.infos = {agent: self._agent_info(agent) for agent in self.agents}

    def step(self, action: str | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self._feedback.pop(agent, None)
        self._moved.add(agent)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        match = _MOVE.match(action) if isinstance(action, str) and len(action) <= 200 else None
        cell = int(match.group(1)) - 1 if match else -1
        if cell < 0 or self.board[cell] != " ":
            # Invalid or occupied: feedback, no move, same player again.
            self.infos = {a: self._agent_info(a, invalid=(a == agent)) for a in self.agents}
            self._feedback[agent] = describe_invalid(action, self.infos[agent]["admissible_actions"])
            return
        mark = self.marks[agent]
        self.board = (*self.board[:cell], mark, *self.board[cell + 1 :])
        result = winner(self.board)
        if result is not None or " " not in self.board:
            for a in self.agents:
                self.rewards[a] = 0.0 if result is None else (1.0 if self.marks[a] == result else -1.0)
            self.terminations = dict.fromkeys(self.agents, True)
        else:
            self.agent_selection = self.agents[1 - self.agents.index(agent)]
        self._accumulate_rewards()
        self.infos = {a: self._agent_info(a) for a in self.agents}
        if self.render_mode == "human":
            self.render()

    def render(self) -> str | None:
        if self.render_mode == "human":
            print(self._board_text())
            return None
        return self._board_text()

    def close(self) -> None:
        """Nothing to release."""
