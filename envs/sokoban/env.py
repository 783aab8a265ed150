"""Sokoban as a text env (RAGEN / verl-agent conventions).

The grid is drawn with ``#`` wall, ``_`` floor, ``O`` target, ``X`` box, ``√`` box on
target, ``P`` player and ``S`` player on target, one row per line. Actions are
``up``, ``down``, ``left`` and ``right``. Rewards: -0.1 per move, +1 for pushing a box
onto a target, -1 for pushing one off, +10 when every box is on a target (which ends
the episode). Rooms come from the reverse-play generator, so every room is solvable;
the expert follows the solver's plan and replans only when the agent leaves it.
"""

from __future__ import annotations

from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.actions import ActionTable
from agentrl.envs.base import TextEnv
from agentrl.envs.sokoban.engine import Pos, Room, SokobanGame
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


def render_room(game: SokobanGame, base: list[str] | None = None) -> str:
    """The grid text of a game's current state.

    Args:
        game: The game to draw.
        base: Its :func:`static_cells`, if already computed (saves redrawing the walls).
    """
    cells = (base or static_cells(game.room)).copy()
    width = game.room.shape[1] + 1  # a row and its newline
    targets = game.targets
    for r, c in game.boxes:
        cells[r * width + c] = "√" if (r, c) in targets else "X"
    r, c = game.player
    cells[r * width + c] = "S" if (r, c) in targets else "P"
    return "".join(cells)


def static_cells(room: Room) -> list[str]:
    """The characters of a room's walls, floor and targets, rows separated by ``"\\n"``.

    Rendering copies this flat list and overwrites the boxes and the player, which is
    cheaper than rebuilding every row each step.
    """
    rows, cols = room.shape
    cells: list[str] = []
    for r in range(rows):
        if r:
            cells.append("\n")
        cells.extend("#" if (r, c) in room.walls else ("O" if (r, c) in room.targets else "_") for c in range(cols))
    return cells


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

    instructions: ClassVar[str] = (
        "You are solving a Sokoban puzzle, shown as a grid with one row per line, the top row first. Reply with one "
        "move: up, down, left or right. Walking into a box pushes it one cell if the cell behind it is free; boxes "
        "cannot be pulled, so a box pushed into a corner that is not a target is stuck for good."
    )

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
        self._static: list[str] = []
        # The expert's plan (None: no solution from here), the index of its next move,
        # and what the last step needs to be judged against it.
        self._plan: list[str] | None = None
        self._next = 0
        self._moved_from: Pos | None = None
        self._command = ""
        self._dead_boxes: frozenset[Pos] | None = None

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        if self.fixed_room is not None:
            room, plan = self.fixed_room, None
        else:
            room, plan = generate_room(
                int(options.get("task_id", seed)), self.dim_room, self.num_boxes, self.num_gen_steps
            )
        self.engine = SokobanGame(room)
        self._static = static_cells(room)
        if plan is None and self.expert:
            plan = self._solve()
        self._plan, self._next, self._moved_from = plan, 0, None
        self._dead_boxes = frozenset(room.boxes) if plan is None and self.expert else None

    def _engine_step(self, command: str) -> tuple[SupportsFloat, bool, bool]:
        game = self.engine
        # Two references, no copies: enough for the expert to tell a bump, a step along
        # its plan and a step off it apart.
        self._moved_from, self._command = game.player, command
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

    def _solve(self) -> list[str] | None:
        game = self.engine
        return solve(game.walls, game.targets, frozenset(game.boxes), game.player)

    def _compute_expert(self) -> str | None:
        if self.won:
            return None
        game, plan = self.engine, self._plan
        moved_from, self._moved_from = self._moved_from, None
        # A bump into a wall or a stuck box changes nothing, so the plan still holds.
        if moved_from is not None and moved_from != game.player:
            if plan is not None and self._next < len(plan) and self._command == plan[self._next]:
                self._next += 1  # moves are deterministic: following the plan keeps it optimal
            elif plan is None and game.boxes == self._dead_boxes:
                pass  # walking without pushing cannot revive a dead room
            else:
                plan = self._solve()
                self._plan, self._next = plan, 0
                self._dead_boxes = frozenset(game.boxes) if plan is None else None
        return plan[self._next] if plan is not None and self._next < len(plan) else None
