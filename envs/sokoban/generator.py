"""Solvable Sokoban rooms by reverse play (the gym-sokoban / RAGEN recipe).

1. Carve a room: a random walk inside the border stamps small floor patterns.
2. Put the boxes on their targets and the player on a free floor cell.
3. Play backwards: the player walks and *pulls* boxes off their targets. Every state
   reached this way can be pushed back to the solved one, so every room generated is
   solvable. The state whose boxes moved farthest (times how often the pulled box
   changed) is kept, and the player starts anywhere it can walk to from there.
4. The solver confirms the room and yields the expert's plan; a room it cannot
   confirm within its budget is discarded.

Everything is drawn from one ``numpy.random.Generator``, so a seed fixes the room.
"""

from __future__ import annotations

import numpy as np

from agentrl.envs.sokoban.engine import DIRECTIONS, Pos, Room
from agentrl.envs.sokoban.solver import reachable, solve

_DIRS = tuple(DIRECTIONS.values())
# 3x3 floor stamps of the topology walk (corridors, corners, blocks).
_STAMPS = (
    ((0, 0, 0), (1, 1, 1), (0, 0, 0)),
    ((0, 1, 0), (0, 1, 0), (0, 1, 0)),
    ((0, 0, 0), (1, 1, 0), (0, 1, 0)),
    ((0, 0, 0), (1, 1, 0), (1, 1, 0)),
    ((0, 0, 0), (0, 1, 1), (0, 1, 0)),
)
MAX_ATTEMPTS = 200


def _topology(rng: np.random.Generator, rows: int, cols: int, walk_steps: int) -> np.ndarray:
    floor = np.zeros((rows, cols), dtype=bool)
    direction = _DIRS[rng.integers(4)]
    r, c = int(rng.integers(1, rows - 1)), int(rng.integers(1, cols - 1))
    for _ in range(walk_steps):
        if rng.random() < 0.35:
            direction = _DIRS[rng.integers(4)]
        r = min(max(r + direction[0], 1), rows - 2)
        c = min(max(c + direction[1], 1), cols - 2)
        stamp = np.array(_STAMPS[rng.integers(len(_STAMPS))], dtype=bool)
        floor[r - 1 : r + 2, c - 1 : c + 2] |= stamp
    floor[[0, -1], :] = False
    floor[:, [0, -1]] = False
    return floor


def _reverse_play(
    rng: np.random.Generator, floor: frozenset[Pos], targets: list[Pos], player: Pos, steps: int
) -> tuple[tuple[Pos, ...], Pos, float]:
    """Pull boxes away from the targets; return the best (boxes, player, score) seen."""
    boxes = list(targets)
    best: tuple[tuple[Pos, ...], Pos, float] = (tuple(boxes), player, 0.0)
    swaps, last_pulled = 0, -1
    for _ in range(steps):
        dr, dc = _DIRS[rng.integers(4)]
        r, c = player
        ahead = (r + dr, c + dc)
        if ahead not in floor or ahead in boxes:
            continue
        behind = (r - dr, c - dc)
        if behind in boxes and rng.random() < 0.75:
            index = boxes.index(behind)
            boxes[index] = player
            if index != last_pulled:
                swaps, last_pulled = swaps + 1, index
        player = ahead
        displacement = sum(abs(b[0] - t[0]) + abs(b[1] - t[1]) for b, t in zip(boxes, targets, strict=True))
        score = float(swaps * displacement)
        if score > best[2] and not set(boxes) & set(targets):
            best = (tuple(boxes), player, score)
    return best


def generate_room(
    seed: int | np.random.Generator,
    dim_room: tuple[int, int] = (6, 6),
    num_boxes: int = 1,
    num_gen_steps: int | None = None,
    *,
    max_solver_states: int = 200_000,
) -> tuple[Room, list[str]]:
    """A solvable room and a solution for it.

    Args:
        seed: Seed (or generator) fixing the room.
        dim_room: Rows and columns, outer walls included (at least 5x5).
        num_boxes: Boxes (and targets).
        num_gen_steps: Steps of reverse play (default: ``5 * (rows + cols)``).
        max_solver_states: Search budget for confirming a room.

    Returns:
        ``(room, moves)``: no box starts on a target, and ``moves`` solves the room.

    Raises:
        ValueError: The configuration cannot fit, or no room was found in
            ``MAX_ATTEMPTS`` attempts (too many boxes for the room).
    """
    rows, cols = (int(d) for d in dim_room)
    if rows < 5 or cols < 5:
        raise ValueError(f"dim_room must be at least (5, 5), got {dim_room}")
    if num_boxes < 1 or num_boxes > (rows - 2) * (cols - 2) // 4:
        raise ValueError(f"num_boxes must be between 1 and {(rows - 2) * (cols - 2) // 4} for a {rows}x{cols} room")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    steps = num_gen_steps if num_gen_steps is not None else 5 * (rows + cols)
    for _ in range(MAX_ATTEMPTS):
        grid = _topology(rng, rows, cols, walk_steps=int(1.7 * (rows + cols)))
        cells = [(int(r), int(c)) for r, c in zip(*np.nonzero(grid), strict=True)]
        if len(cells) < num_boxes + 3:
            continue
        picks = rng.choice(len(cells), size=num_boxes + 1, replace=False)
        targets = [cells[i] for i in picks[:-1]]
        player = cells[picks[-1]]
        floor = frozenset(cells)
        best_boxes, best_player, score = max(
            (_reverse_play(rng, floor, targets, player, steps) for _ in range(4)), key=lambda result: result[2]
        )
        if score <= 0:
            continue
        # Any cell the player can walk to from there keeps the room solvable (walking is
        # reversible): start it anywhere in that region, not glued to the last box pulled.
        walls = frozenset((r, c) for r in range(rows) for c in range(cols) if not grid[r, c])
        region = sorted(reachable(best_player, walls, frozenset(best_boxes)))
        best_player = region[int(rng.integers(len(region)))]
        room = Room(walls, frozenset(targets), frozenset(best_boxes), best_player, (rows, cols))
        plan = solve(room.walls, room.targets, room.boxes, room.player, max_states=max_solver_states)
        if plan:
            return room, plan
    raise ValueError(
        f"no solvable {rows}x{cols} room with {num_boxes} boxes found in {MAX_ATTEMPTS} attempts; "
        "use fewer boxes or a larger room"
    )
