"""Sokoban as a text env (RAGEN / verl-agent conventions).

The grid is drawn with ``#`` wall, ``_`` floor, ``O`` target, ``X`` box, ``√`` box on
target, ``P`` player and ``S`` player on target, one row per line. Actions are
``up``, ``down``, ``left`` and ``right``. Rewards: -0.1 per move, +1 for pushing a box
onto a target, -1 for pushing one off, +10 when every box is on a target (which ends
the episode). Rooms come from the reverse-play generator, so every room is solvable;
the expert follows the solver's plan and replans only when the agent leaves it.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

from agentrl.envs.actions import ActionTable
from agentrl.envs.base import TextEnv
from agentrl.envs.sokoban.engine import Room, SokobanGame
from agentrl.envs.sokoban.generator import generate_room
from agentrl.envs.sokoban.solver import solve

ACTIONS = ActionTable(
    {"up": "up", "down": "down", "left": "left", "right": "right"},
    aliases={
        **{f"move {d}": d for d in ("up", "down", "left", "right")},
        **{f"push {d}": d for d in ("up", "down", "left", "right")},
        "north": "up",
        "south": "down",
        "west": "left",
        "east": "right",
    },
)

TASK = (
    "Push every box (X) onto a target (O) by walking into it. You are P (S when on a target); "
    "# is a wall, _ is floor, √ is a box on a target. Actions: up, down, left, right."
)


def render_room(game: SokobanGame, base: list[list[str]] | None = None) -> str:
    """The grid text of a game's current state (``base``: its static rows, if cached)."""
    rows = [list(row) for row in (base or static_rows(game.room))]
    for r, c in game.boxes:
        rows[r][c] = "√" if (r, c) in game.targets else "X"
    r, c = game.player
    rows[r][c] = "S" if (r, c) in game.targets else "P"
    return "\n".join("".join(row) for row in rows)


def static_rows(room: Room) -> list[list[str]]:
    """Walls, floor and targets of a room, without boxes or player."""
    rows, cols = room.shape
    return [
        ["#" if (r, c) in room.walls else ("O" if (r, c) in room.targets else "_") for c in range(cols)]
        for r in range(rows)
    ]


class SokobanEnv(TextEnv[str]):
    """Seeded, always-solvable Sokoban rooms as text.

    Args:
        dim_room: Rows and columns, outer walls included.
        num_boxes: Boxes (and targets) per room.
        num_gen_steps: Reverse-play steps of the generator (None: its default).
        room: Play this fixed room instead of generated ones (for tests and curricula).
        expert: Put the solver's next move in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    def __init__(
        self,
        dim_room: tuple[int, int] | list[int] = (6, 6),
        num_boxes: int = 1,
        num_gen_steps: int | None = None,
        room: Room | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        self.dim_room = (int(dim_room[0]), int(dim_room[1]))
        self.num_boxes = num_boxes
        self.num_gen_steps = num_gen_steps
        self.fixed_room = room
        self.task = TASK
        self.engine: SokobanGame  # set by reset
        self._plan: list[str] = []
        self._before: Any = None

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        if self.fixed_room is not None:
            room, plan = self.fixed_room, None
        else:
            room, plan = generate_room(
                int(options.get("task_id", seed)), self.dim_room, self.num_boxes, self.num_gen_steps
            )
        self.engine = SokobanGame(room)
        self._static = static_rows(room)
        self._plan = list(plan) if plan is not None else self._solve()
        self._before = None
        self._last: str | None = None

    def _engine_step(self, command: str) -> tuple[SupportsFloat, bool, bool]:
        game = self.engine
        if self.expert:  # what the expert needs to tell "followed the plan" from "strayed"
            self._before, self._last = game.state(), command
        reward = game.step(command)
        self.score += reward
        self.won = game.solved
        return reward, self.won, False

    def _render(self) -> str:
        return render_room(self.engine, self._static)

    def parse_action(self, action: str) -> str | None:
        return ACTIONS.match(action)

    def _admissible(self) -> list[str]:
        return list(ACTIONS.names)

    def _solve(self) -> list[str]:
        game = self.engine
        return solve(game.walls, game.targets, frozenset(game.boxes), game.player) or []

    def _compute_expert(self) -> str | None:
        if self.won:
            return None
        if self._before is not None:
            if self._before == self.engine.state():
                pass  # a bump into a wall: the plan still holds
            elif self._plan and self._last == self._plan[0]:
                self._plan.pop(0)
            else:
                self._plan = self._solve()  # the agent left the plan
            self._before = None
        return self._plan[0] if self._plan else None
