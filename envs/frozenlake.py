"""Gymnasium's FrozenLake as a text grid (RAGEN / verl-agent style).

Each reset draws a random map with Gymnasium's own generator, seeded from the reset
seed (so every seed is a new, reproducible lake with a path to the goal) and runs
Gymnasium's ``FrozenLakeEnv`` on it. The grid is shown with ``P`` player, ``_`` ice,
``O`` hole, ``G`` goal, ``X`` player in a hole, ``√`` player on the goal.

Differences from Gymnasium's default: the lake is not slippery unless
``is_slippery=True`` (LLM-agent work uses the deterministic lake), and maps are random
per seed instead of the fixed 4x4 layout (``map_name`` restores a fixed one).
"""

from __future__ import annotations

from typing import Any, ClassVar, SupportsFloat

import numpy as np
from gymnasium.envs.toy_text.frozen_lake import MAPS, FrozenLakeEnv, generate_random_map

from agentrl.envs.actions import ActionTable
from agentrl.envs.base import TextEnv

_ACTIONS = ActionTable(
    {"left": 0, "down": 1, "right": 2, "up": 3},
    aliases={"move left": "left", "move down": "down", "move right": "right", "move up": "up"},
)
_CELL: dict[bytes, str] = {b"S": "_", b"F": "_", b"H": "O", b"G": "G"}
_PLAYER = {"_": "P", "O": "X", "G": "√"}


def optimal_policy(engine: FrozenLakeEnv, gamma: float = 0.99, tol: float = 1e-8) -> np.ndarray:
    """Greedy policy of value iteration on the engine's transition table.

    Returns, for every state, the action that maximises the probability-weighted
    discounted chance of reaching the goal (exact for a slippery lake too).
    """
    n_states, n_actions = len(engine.P), len(engine.P[0])
    q = np.zeros((n_states, n_actions))
    values = np.zeros(n_states)
    while True:
        for s in range(n_states):
            for a in range(n_actions):
                q[s, a] = sum(p * (r + gamma * values[s2] * (not done)) for p, s2, r, done in engine.P[s][a])
        new_values = q.max(axis=1)
        if np.abs(new_values - values).max() < tol:
            return q.argmax(axis=1)
        values = new_values


class FrozenLakeTextEnv(TextEnv[int]):
    """FrozenLake on a seeded random map, as text.

    Args:
        size: Side of the square lake.
        p: Probability that a cell is ice rather than a hole.
        is_slippery: Gymnasium's slippery dynamics (the move goes sideways 2/3 of the time).
        map_name: A fixed Gymnasium map (``"4x4"`` or ``"8x8"``) instead of random ones.
        expert: Put the value-iteration action in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You are crossing a frozen lake, shown as a grid with one row per line, the top row first. "
        "Reply with one move: left, down, right or up."
    )

    def __init__(
        self,
        size: int = 4,
        p: float = 0.8,
        is_slippery: bool = False,
        map_name: str | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        if map_name is not None and map_name not in MAPS:
            raise ValueError(f"map_name must be one of {sorted(MAPS)} or None, got {map_name!r}")
        if size < 2:
            raise ValueError(f"size must be at least 2, got {size}")
        self.size, self.p, self.is_slippery, self.map_name = size, p, is_slippery, map_name
        self.task = (
            "You are on a frozen lake. Walk from your position (P) to the goal (G) without falling "
            "into a hole (O); _ is safe ice."
            + (" The ice is slippery: you may slide sideways." if is_slippery else "")
            + " Actions: left, down, right, up."
        )
        self._engine: FrozenLakeEnv | None = None
        self._policy: np.ndarray | None = None
        self._last_map: tuple[str, ...] | None = None

    @property
    def engine(self) -> FrozenLakeEnv:
        """The underlying Gymnasium env (valid after ``reset``)."""
        if self._engine is None:
            raise RuntimeError("call reset() before using the env")
        return self._engine

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        map_seed = int(options.get("task_id", seed))
        desc = MAPS[self.map_name] if self.map_name else generate_random_map(self.size, self.p, seed=map_seed)
        if tuple(desc) != self._last_map:
            self._engine = FrozenLakeEnv(desc=desc, is_slippery=self.is_slippery)
            self._last_map = tuple(desc)
            self._policy = None
        self.engine.reset(seed=seed)
        rows = ["".join(_CELL[c] for c in row) for row in np.asarray(self.engine.desc).tolist()]
        self._text = "\n".join(rows)

    def _engine_step(self, command: int) -> tuple[SupportsFloat, bool, bool]:
        _, reward, terminated, truncated, _ = self._engine.step(command)  # type: ignore[union-attr]
        self.score += float(reward)
        self.won = bool(reward > 0)
        return reward, terminated, truncated

    def _render(self) -> str:
        # The lake never changes: splice the player into the cached text (+1 per newline).
        state = int(self.engine.s)
        i = state + state // self.engine.ncol
        text = self._text
        return text[:i] + _PLAYER[text[i]] + text[i + 1 :]

    def parse_action(self, action: str) -> int | None:
        return _ACTIONS.match(action)

    def _admissible(self) -> list[str]:
        return list(_ACTIONS.names)

    def _compute_expert(self) -> str | None:
        state = int(self.engine.s)
        if self._text[state + state // self.engine.ncol] in ("O", "G"):
            return None
        if self._policy is None:
            self._policy = optimal_policy(self.engine)
        return _ACTIONS.names[int(self._policy[int(self.engine.s)])]
