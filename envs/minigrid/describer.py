"""An egocentric language describer for MiniGrid/BabyAI views, in BabyAI-Text's style.

MiniGrid gives the agent a partial, egocentric view: an encoded ``view x view`` image
(object, colour, state per cell, indexed ``[x, y]``) with the agent at the bottom centre,
``(view // 2, view - 1)``, facing towards ``y = 0``. This module turns it into the
sentences of BabyAI-Text (Carta et al., 2023, "Grounding Large Language Models in
Interactive Environments with Online Reinforcement Learning"):

* the nearest wall straight ahead, straight left and straight right, if nothing stands
  between it and the agent: "You see a wall 2 steps forward";
* every visible object, with its offset: "You see a red key 2 steps left and 1 step
  forward", "You see a locked blue door 3 steps forward";
* what the agent carries: "You carry a purple box".

Differences from BabyAI-Text: goals and lava (which BabyAI levels never contain) are
described too ("You see a green goal ...", "You see lava ..."), an open door is "an open
door" rather than "a open door", and objects are listed nearest first rather than in
scan order, carried object last.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from minigrid.core.constants import IDX_TO_COLOR, IDX_TO_OBJECT, OBJECT_TO_IDX, STATE_TO_IDX

_WALL, _DOOR, _LAVA = OBJECT_TO_IDX["wall"], OBJECT_TO_IDX["door"], OBJECT_TO_IDX["lava"]
# Lookup table over object indices: True for what gets its own "You see ..." sentence.
_IS_OBJECT = np.ones(256, dtype=bool)
_IS_OBJECT[[OBJECT_TO_IDX[name] for name in ("unseen", "empty", "wall", "floor", "agent")]] = False
# Cells a wall can be seen across; anything else (an object, an unseen cell) hides it.
_FREE = frozenset(OBJECT_TO_IDX[name] for name in ("empty", "floor"))
_DOOR_STATE = {index: name for name, index in STATE_TO_IDX.items()}


def steps(n: int, direction: str) -> str:
    """``"1 step left"``, ``"3 steps forward"``."""
    return f"{n} step{'' if n == 1 else 's'} {direction}"


@lru_cache(maxsize=1024)
def offset(dx: int, dy: int) -> str:
    """``dx`` cells right (negative: left) and ``dy`` cells forward, in words.

    Example: ``offset(-2, 1) == "2 steps left and 1 step forward"``.
    """
    side = steps(abs(dx), "left" if dx < 0 else "right") if dx else ""
    ahead = steps(dy, "forward") if dy else ""
    return " and ".join(part for part in (side, ahead) if part)


def object_name(obj: int, color: int, state: int) -> str:
    """The noun phrase of an encoded cell: ``"a red key"``, ``"a locked blue door"``, ``"lava"``."""
    colour = IDX_TO_COLOR.get(color, "")
    if obj == _DOOR:
        door_state = _DOOR_STATE.get(state, "closed")
        return f"{'an' if door_state == 'open' else 'a'} {door_state} {colour} door"
    if obj == _LAVA:
        return "lava"
    return f"a {colour} {IDX_TO_OBJECT.get(obj, 'object')}"


@lru_cache(maxsize=8192)
def _object_sentence(obj: int, color: int, state: int, dx: int, dy: int) -> str:
    # Views repeat a small set of (object, offset) pairs, so sentences are cached whole.
    return f"You see {object_name(obj, color, state)} {offset(dx, dy)}"


@lru_cache(maxsize=256)
def _wall_sentence(distance: int, direction: str) -> str:
    return f"You see a wall {steps(distance, direction)}"


def _first_wall(ray: list[int]) -> int | None:
    """Distance (1-based) to the first wall along a ray, or None if something else comes first."""
    for distance, obj in enumerate(ray, start=1):
        if obj not in _FREE:
            return distance if obj == _WALL else None
    return None


def describe(image: np.ndarray, carrying: Any = None) -> list[str]:
    """Describe an egocentric MiniGrid view in BabyAI-Text's sentences.

    Args:
        image: The encoded ``(view, view, 3)`` view (``obs["image"]``), indexed
            ``[x, y]``, the agent at ``(view // 2, view - 1)`` facing towards ``y = 0``.
        carrying: The object the agent holds (anything with ``color`` and ``type``,
            such as a MiniGrid ``WorldObj``), or None.

    Returns:
        The sentences: walls (forward, left, right), then objects nearest first (ties
        broken by fewer steps forward, then left before right), then what is carried.

    Example:
        A wall two cells ahead and a red key up and to the left::

            >>> describe(view)  # doctest: +SKIP
            ['You see a wall 2 steps forward', 'You see a red key 2 steps left and 1 step forward']
    """
    objects = image[:, :, 0]
    width, height = objects.shape
    ax, ay = width // 2, height - 1
    # The three rays are at most a few cells long: plain lists beat numpy's per-call cost.
    columns: list[list[int]] = objects.tolist()
    sentences = []
    for ray, direction in (
        (columns[ax][ay - 1 :: -1], "forward"),
        ([column[ay] for column in columns[ax - 1 :: -1]], "left"),
        ([column[ay] for column in columns[ax + 1 :]], "right"),
    ):
        distance = _first_wall(ray)
        if distance is not None:
            sentences.append(_wall_sentence(distance, direction))
    # The agent's own cell holds what it carries; that is reported as "You carry".
    mask = _IS_OBJECT[objects]
    mask[ax, ay] = False
    found = []
    for index in np.flatnonzero(mask).tolist():
        x, y = divmod(index, height)
        obj, color, state = image[x, y].tolist()
        found.append((abs(x - ax) + ay - y, ay - y, x - ax, obj, color, state))
    found.sort()
    sentences.extend(_object_sentence(obj, color, state, dx, dy) for _, dy, dx, obj, color, state in found)
    if carrying is not None:
        sentences.append(f"You carry a {carrying.color} {carrying.type}")
    return sentences
