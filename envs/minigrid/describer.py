"""An egocentric language describer for MiniGrid/BabyAI views, in BabyAI-Text's style.

MiniGrid gives the agent a partial, egocentric view: an encoded ``view x view`` image
(object, colour, state per cell) with the agent at the bottom centre facing "up". This
module turns it into the sentences of BabyAI-Text (Carta et al., 2023, "Grounding
Large Language Models in Interactive Environments with Online RL"):

* the nearest wall straight ahead, straight left and straight right, if nothing stands
  between it and the agent: "You see a wall 2 steps forward";
* every visible object, with its offset: "You see a red key 2 steps left and 1 step
  forward", "You see a locked blue door 3 steps forward";
* what the agent carries: "You carry a purple box".

Differences from BabyAI-Text: goals and lava (which BabyAI levels never contain) are
described too ("You see a goal ...", "You see lava ..."), and objects are listed
nearest first rather than in scan order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from minigrid.core.constants import IDX_TO_COLOR, IDX_TO_OBJECT, OBJECT_TO_IDX, STATE_TO_IDX

_UNSEEN, _EMPTY, _WALL, _FLOOR = (OBJECT_TO_IDX[k] for k in ("unseen", "empty", "wall", "floor"))
_DOOR, _GOAL, _LAVA = OBJECT_TO_IDX["door"], OBJECT_TO_IDX["goal"], OBJECT_TO_IDX["lava"]
_NOT_OBJECTS = frozenset({_UNSEEN, _EMPTY, _WALL, _FLOOR, OBJECT_TO_IDX["agent"]})
_FREE = frozenset({_EMPTY, _FLOOR})
_DOOR_STATE = {index: name for name, index in STATE_TO_IDX.items()}


def _steps(n: int, direction: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {direction}"


def _offset(dx: int, dy: int) -> str:
    """``dx`` cells right (negative: left) and ``dy`` cells forward, in words."""
    side = _steps(abs(dx), "left" if dx < 0 else "right") if dx else ""
    ahead = _steps(dy, "forward") if dy else ""
    return " and ".join(part for part in (side, ahead) if part)


def _name(obj: int, color: int, state: int) -> str:
    if obj == _DOOR:
        return f"a {_DOOR_STATE[state]} {IDX_TO_COLOR[color]} door"
    if obj == _GOAL:
        return "a goal"
    if obj == _LAVA:
        return "lava"
    return f"a {IDX_TO_COLOR[color]} {IDX_TO_OBJECT[obj]}"


def _first_wall(ray: list[int]) -> int | None:
    """Distance (1-based) to the first wall along a ray, or None if something else comes first."""
    for distance, obj in enumerate(ray, start=1):
        if obj == _WALL:
            return distance
        if obj not in _FREE:
            return None
    return None


def describe(image: np.ndarray, carrying: Any = None) -> list[str]:
    """Describe an egocentric MiniGrid view.

    Args:
        image: The encoded ``(view, view, 3)`` view, indexed ``[x, y]``, agent at
            ``(view // 2, view - 1)`` facing towards ``y = 0``.
        carrying: The object the agent holds (a ``WorldObj`` with ``color`` and
            ``type``), or None.

    Returns:
        The sentences, walls first, then objects nearest first, then what is carried.
    """
    # Plain lists: on a 7x7 view, Python loops beat numpy's per-call overhead.
    cells: list[list[list[int]]] = image.tolist()
    width, height = len(cells), len(cells[0])
    ax, ay = width // 2, height - 1
    column = [cell[0] for cell in cells[ax]]
    row = [cells[x][ay][0] for x in range(width)]
    sentences = []
    for distance, direction in (
        (_first_wall(column[ay - 1 :: -1]), "forward"),
        (_first_wall(row[ax - 1 :: -1]), "left"),
        (_first_wall(row[ax + 1 :]), "right"),
    ):
        if distance is not None:
            sentences.append(f"You see a wall {_steps(distance, direction)}")
    found = []
    for x in range(width):
        for y, (obj, color, state) in enumerate(cells[x]):
            if obj not in _NOT_OBJECTS and (x != ax or y != ay):  # skip the cell under the agent
                found.append((abs(x - ax) + ay - y, ay - y, x - ax, obj, color, state))
    for _, dy, dx, obj, color, state in sorted(found):
        sentences.append(f"You see {_name(obj, color, state)} {_offset(dx, dy)}")
    if carrying is not None:
        sentences.append(f"You carry a {carrying.color} {carrying.type}")
    return sentences
