"""The expert policy program of the GridPolicy env: route search over the richest cells.

This file is shown to the agent verbatim as the env's expert action, and run in the
sandbox like any program the agent writes, so it uses only the standard library and
defines ``plan(state) -> list[str]``. It computes shortest paths from the start and
between the most valuable energy cells (breadth-first search around obstacles), then
searches every ordered route over up to four of the seven best cells that collects, returns to
the start and drops within the step budget, and keeps the route with the best score
(energy delivered minus cost per step).
"""

from __future__ import annotations

import itertools
from collections import deque

MOVES = {(-1, 0): "up", (1, 0): "down", (0, -1): "left", (0, 1): "right"}


Cell = tuple[int, int]


def _paths_from(source: Cell, size: int, blocked: set[Cell]) -> dict[Cell, list[str]]:
    """Shortest move sequences from ``source`` to every reachable cell."""
    paths: dict[Cell, list[str]] = {source: []}
    queue = deque([source])
    while queue:
        cell = queue.popleft()
        for (dr, dc), name in MOVES.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            if 0 <= nxt[0] < size and 0 <= nxt[1] < size and nxt not in blocked and nxt not in paths:
                paths[nxt] = [*paths[cell], name]
                queue.append(nxt)
    return paths


def plan(state: dict) -> list[str]:
    """The best single-trip route found; an empty plan when nothing pays for its steps."""
    size, budget, cost = state["size"], state["max_steps"], state["cost"]
    capacity = state["capacity"]
    start = tuple(state["start"])
    blocked = {tuple(cell) for cell in state["obstacles"]}
    home = _paths_from(start, size, blocked)
    cells = [
        (state["energy"][r][c], (r, c))
        for r in range(size)
        for c in range(size)
        if state["energy"][r][c] > 0 and (r, c) in home and 2 * len(home[(r, c)]) + 2 <= budget
    ]
    cells.sort(key=lambda item: (-item[0] / (1 + len(home[item[1]])), item[1]))
    chosen = [cell for _, cell in cells[:7]]
    value = {cell: state["energy"][cell[0]][cell[1]] for cell in chosen}
    paths = {cell: _paths_from(cell, size, blocked) for cell in chosen}
    paths[start] = home
    best: list[str] = []
    best_score = 0.0
    for k in range(1, min(4, len(chosen)) + 1):
        for route in itertools.permutations(chosen, k):
            moves: list[str] = []
            here, carried = start, 0
            for cell in route:
                moves += paths[here][cell] + ["take"]
                taken = value[cell] if capacity is None else min(value[cell], capacity - carried)
                carried += taken
                here = cell
                if len(moves) > budget:
                    break
            moves += paths[here][start] + ["drop"]
            if len(moves) > budget or carried == 0:
                continue
            score = carried - cost * len(moves)
            if score > best_score + 1e-9:
                best, best_score = moves, score
    return best
