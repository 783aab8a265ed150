"""An exact Sokoban solver: breadth-first search over pushes, with dead-square pruning.

States are (boxes, the player's reachable region), the region represented by its
smallest cell, so that walking around without pushing never creates a new state. The
plan returned is optimal in the number of pushes; the walks between pushes are
shortest paths. Cells from which no box can ever reach a target (found by pulling a
box backwards from every target) are never pushed into.
"""

from __future__ import annotations

from collections import deque

from agentrl.envs.sokoban.engine import DIRECTIONS, Pos

_MOVES = tuple(DIRECTIONS.items())


def live_cells(walls: frozenset[Pos], targets: frozenset[Pos], floor: frozenset[Pos]) -> frozenset[Pos]:
    """Cells from which a lone box can be pushed onto some target."""
    live = set(targets)
    frontier = deque(targets)
    while frontier:
        r, c = frontier.popleft()
        for dr, dc in DIRECTIONS.values():
            # Pulling the box from (r, c) to (r+dr, c+dc) needs the player at (r+2dr, c+2dc).
            box, player = (r + dr, c + dc), (r + 2 * dr, c + 2 * dc)
            if box in floor and player in floor and box not in live:
                live.add(box)
                frontier.append(box)
    return frozenset(live)


def reachable(player: Pos, walls: frozenset[Pos], boxes: frozenset[Pos]) -> dict[Pos, tuple[Pos, str] | None]:
    """Cells the player reaches without pushing, each with the step it came from."""
    parent: dict[Pos, tuple[Pos, str] | None] = {player: None}
    frontier = deque([player])
    while frontier:
        r, c = frontier.popleft()
        for name, (dr, dc) in _MOVES:
            nxt = (r + dr, c + dc)
            if nxt not in parent and nxt not in walls and nxt not in boxes:
                parent[nxt] = ((r, c), name)
                frontier.append(nxt)
    return parent


def _walk(parent: dict[Pos, tuple[Pos, str] | None], goal: Pos) -> list[str]:
    moves: list[str] = []
    step = parent[goal]
    while step is not None:
        previous, name = step
        moves.append(name)
        step = parent[previous]
    return moves[::-1]


def solve(
    walls: frozenset[Pos],
    targets: frozenset[Pos],
    boxes: frozenset[Pos],
    player: Pos,
    *,
    max_states: int = 200_000,
) -> list[str] | None:
    """Moves (``"up"``, ``"down"``, ``"left"``, ``"right"``) that solve the room.

    Returns:
        The moves, ``[]`` when already solved, or None when the room is unsolvable or
        the search visited ``max_states`` states without an answer.
    """
    boxes = frozenset(boxes)
    if boxes == targets:
        return []
    live = live_cells(walls, targets, frozenset(reachable(player, walls, frozenset())))
    if any(box not in live for box in boxes):
        return None
    start_region = reachable(player, walls, boxes)
    start_key = (boxes, min(start_region))
    # state key -> (previous key, moves from the previous state's player to here)
    came_from: dict[tuple[frozenset[Pos], Pos], tuple[tuple[frozenset[Pos], Pos], list[str]] | None] = {start_key: None}
    frontier = deque([(boxes, player, start_region, start_key)])
    while frontier:
        boxes, player, region, key = frontier.popleft()
        for box in boxes:
            r, c = box
            for name, (dr, dc) in _MOVES:
                stand, dest = (r - dr, c - dc), (r + dr, c + dc)
                if stand not in region or dest in walls or dest in boxes or dest not in live:
                    continue
                new_boxes = (boxes - {box}) | {dest}
                new_region = reachable(box, walls, new_boxes)
                new_key = (new_boxes, min(new_region))
                if new_key in came_from:
                    continue
                came_from[new_key] = (key, [*_walk(region, stand), name])
                if new_boxes == targets:
                    return _unwind(came_from, new_key)
                if len(came_from) >= max_states:
                    return None
                frontier.append((new_boxes, box, new_region, new_key))
    return None


def _unwind(came_from: dict, key: tuple) -> list[str]:
    segments = []
    link = came_from[key]
    while link is not None:
        key, moves = link
        segments.append(moves)
        link = came_from[key]
    return [move for segment in reversed(segments) for move in segment]
