"""The Sokoban game itself: positions, moves, pushes and the reward of a move.

Kept free of text and of the gymnasium API so that a benchmark can time the raw
engine step on its own. Coordinates are ``(row, col)``; the room is fully enclosed
by walls.
"""

from __future__ import annotations

from dataclasses import dataclass

Pos = tuple[int, int]

DIRECTIONS: dict[str, Pos] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}

STEP_PENALTY = -0.1
BOX_ON_TARGET = 1.0
BOX_OFF_TARGET = -1.0
SOLVED_BONUS = 10.0


@dataclass(frozen=True)
class Room:
    """A Sokoban level: the static layout and the starting positions."""

    walls: frozenset[Pos]
    targets: frozenset[Pos]
    boxes: frozenset[Pos]
    player: Pos
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        if len(self.boxes) != len(self.targets):
            raise ValueError(f"a room needs as many boxes as targets, got {len(self.boxes)} and {len(self.targets)}")
        if self.player in self.walls or self.player in self.boxes:
            raise ValueError(f"the player at {self.player} stands on a wall or a box")


class SokobanGame:
    """A room in play: move the player, push boxes, report the reward of each move.

    Attributes:
        room: The room this game started from.
        boxes: Where the boxes are now (mutated by :meth:`step`).
        player: Where the player is now.
        solved: Whether every box is on a target.
    """

    def __init__(self, room: Room):
        self.room = room
        self.walls = room.walls
        self.targets = room.targets
        self.boxes = set(room.boxes)
        self.player = room.player
        # Kept up to date by ``step`` (only a push can change it), so reading it is free.
        self.solved = self.boxes == self.targets

    def state(self) -> tuple[Pos, frozenset[Pos]]:
        """The player's position and the boxes, hashable."""
        return self.player, frozenset(self.boxes)

    def step(self, direction: str) -> float:
        """Move (and push) towards ``direction``; return the move's reward.

        Walking into a wall, or pushing a box into a wall or another box, is a legal
        move that changes nothing and costs the step penalty, as in gym-sokoban.
        """
        dr, dc = DIRECTIONS[direction]
        r, c = self.player
        ahead = (r + dr, c + dc)
        reward = STEP_PENALTY
        if ahead in self.walls:
            return reward
        if ahead in self.boxes:
            beyond = (r + 2 * dr, c + 2 * dc)
            if beyond in self.walls or beyond in self.boxes:
                return reward
            self.boxes.remove(ahead)
            self.boxes.add(beyond)
            if beyond in self.targets:
                reward += BOX_ON_TARGET
            if ahead in self.targets:
                reward += BOX_OFF_TARGET
            self.solved = self.boxes == self.targets
            if self.solved:
                reward += SOLVED_BONUS
        self.player = ahead
        return reward
