"""The Android-in-the-Wild action space, written as text, and its parser.

AitW's actions are a dual-point gesture (a touch point and a lift point, each a
normalised ``[y, x]`` in [0, 1]: equal points tap, distinct ones swipe), typing text and
four buttons/statuses. Agents write them as text; :func:`parse_action` reads them and
says exactly what is wrong with a malformed one:

==============================  ========================================================
``TAP(y, x)``                   tap at the normalised point (y down, x right, in [0, 1])
``TAP(i)``                      tap the centre of element ``[i]`` of the UI list
``SWIPE(y1, x1, y2, x2)``       touch at (y1, x1), move to and lift at (y2, x2)
``SWIPE(UP|DOWN|LEFT|RIGHT)``   swipe across the middle of the screen that way (UP scrolls to what is below)
``TYPE("text")``                type into the focused field (``\\"`` and ``\\\\`` escape)
``PRESS_BACK``                  the back button
``PRESS_HOME``                  the home button
``PRESS_ENTER``                 the enter key
``STATUS_TASK_COMPLETE``        declare the task done (ends the episode)
``STATUS_TASK_IMPOSSIBLE``      declare the task impossible (ends the episode)
==============================  ========================================================

Names are case-insensitive; ``PRESS_BACK()`` is accepted too. :meth:`Action.to_aitw`
gives the action in AitW's own record layout (``action_type`` codes, ``touch_point``,
``lift_point``, ``typed_text``) so recorded episodes carry over to AitW-style data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("tap", "swipe", "type", "back", "home", "enter", "complete", "impossible")
_BUTTONS = {
    "PRESS_BACK": "back",
    "PRESS_HOME": "home",
    "PRESS_ENTER": "enter",
    "STATUS_TASK_COMPLETE": "complete",
    "STATUS_TASK_IMPOSSIBLE": "impossible",
}
# AitW's action_type codes (android_env's ActionType).
AITW_CODES = {"type": 3, "dual_point": 4, "back": 5, "home": 6, "enter": 7, "complete": 10, "impossible": 11}
_DIRECTIONS = {
    "UP": ((0.75, 0.5), (0.25, 0.5)),
    "DOWN": ((0.25, 0.5), (0.75, 0.5)),
    "LEFT": ((0.5, 0.8), (0.5, 0.2)),
    "RIGHT": ((0.5, 0.2), (0.5, 0.8)),
}
_CALL = re.compile(r"\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*", re.DOTALL)
MAX_TYPED = 500
GRAMMAR = (
    'TAP(y, x), TAP(i), SWIPE(y1, x1, y2, x2), SWIPE(UP|DOWN|LEFT|RIGHT), TYPE("text"), PRESS_BACK, '
    "PRESS_HOME, PRESS_ENTER, STATUS_TASK_COMPLETE, STATUS_TASK_IMPOSSIBLE"
)


class ActionError(ValueError):
    """A malformed action; the message says what is wrong and how to write it."""


@dataclass(frozen=True)
class Action:
    """One parsed action."""

    kind: str
    """One of :data:`KINDS`."""
    touch: tuple[float, float] | None = None
    """Normalised ``(y, x)`` of the touch (tap and swipe)."""
    lift: tuple[float, float] | None = None
    """Normalised ``(y, x)`` of the lift (swipe; equal to ``touch`` for a tap)."""
    element: int | None = None
    """For ``TAP(i)``: the element index (resolved to a point against the current UI list)."""
    text: str = ""
    """For ``TYPE``: the text."""

    def to_text(self) -> str:
        """The action in the canonical text form :func:`parse_action` reads."""
        if self.kind == "tap":
            if self.element is not None:
                return f"TAP({self.element})"
            assert self.touch is not None
            return f"TAP({self.touch[0]:.3f}, {self.touch[1]:.3f})"
        if self.kind == "swipe":
            assert self.touch is not None and self.lift is not None
            return f"SWIPE({self.touch[0]:.3f}, {self.touch[1]:.3f}, {self.lift[0]:.3f}, {self.lift[1]:.3f})"
        if self.kind == "type":
            escaped = self.text.replace("\\", "\\\\").replace('"', '\\"')
            return f'TYPE("{escaped}")'
        return next(name for name, kind in _BUTTONS.items() if kind == self.kind)

    def to_aitw(self) -> dict[str, object]:
        """The action as an AitW record (a ``TAP(i)`` must be resolved to a point first)."""
        if self.kind in ("tap", "swipe"):
            touch = list(self.touch) if self.touch else None
            lift = list(self.lift or self.touch) if self.touch else None
            return {"action_type": AITW_CODES["dual_point"], "touch_point": touch, "lift_point": lift, "typed_text": ""}
        code = AITW_CODES["type" if self.kind == "type" else self.kind]
        return {"action_type": code, "touch_point": [-1.0, -1.0], "lift_point": [-1.0, -1.0], "typed_text": self.text}


def _numbers(args: str, name: str, count: int) -> list[float]:
    parts = [p.strip() for p in args.strip().strip("[]").split(",")]
    if len(parts) != count or not all(parts):
        raise ActionError(f"{name} takes {count} numbers separated by commas, got ({args.strip()})")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ActionError(f"{name} takes numbers, got ({args.strip()})") from None
    for value in values:
        if not 0.0 <= value <= 1.0:
            raise ActionError(f"{name}'s points are normalised [y, x] in [0, 1] (y down, x right), got {value:g}")
    return values


def _unquote(args: str) -> str:
    text = args.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        body, out, i = text[1:-1], [], 0
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                out.append(body[i + 1])
                i += 2
                continue
            out.append(body[i])
            i += 1
        return "".join(out)
    return text


def parse_action(text: str) -> Action:
    """Read one action written as text (see the module docstring).

    Raises:
        ActionError: the action is malformed; the message says why and lists the grammar.
    """
    if not isinstance(text, str) or not text.strip():
        raise ActionError(f"Empty action. Write one of: {GRAMMAR}.")
    match = _CALL.fullmatch(text)
    if match is None:
        raise ActionError(f"Cannot read {text.strip()[:60]!r} as an action. Write one of: {GRAMMAR}.")
    name, args = match.group(1).upper(), match.group(2)
    if name in _BUTTONS:
        if args is not None and args.strip():
            raise ActionError(f"{name} takes no arguments, got ({args.strip()[:40]})")
        return Action(_BUTTONS[name])
    if args is None:
        known = "TAP, SWIPE, TYPE, " + ", ".join(_BUTTONS)
        hint = f"{name} needs arguments in parentheses" if name in ("TAP", "SWIPE", "TYPE") else f"unknown {name!r}"
        raise ActionError(f"{hint}; actions: {known}. Grammar: {GRAMMAR}.")
    if name == "TAP":
        stripped = args.strip()
        if re.fullmatch(r"\[?\s*\d+\s*\]?", stripped):
            return Action("tap", element=int(stripped.strip("[] ")))
        y, x = _numbers(args, "TAP", 2)
        return Action("tap", touch=(y, x), lift=(y, x))
    if name == "SWIPE":
        direction = args.strip().strip("\"'").upper()
        if direction in _DIRECTIONS:
            touch, lift = _DIRECTIONS[direction]
            return Action("swipe", touch=touch, lift=lift)
        if direction.isalpha():
            raise ActionError(f"SWIPE takes UP, DOWN, LEFT, RIGHT or four numbers, got ({args.strip()[:40]})")
        y1, x1, y2, x2 = _numbers(args, "SWIPE", 4)
        return Action("swipe", touch=(y1, x1), lift=(y2, x2))
    if name == "TYPE":
        typed = _unquote(args)
        if not typed:
            raise ActionError('TYPE needs the text to type, e.g. TYPE("hello")')
        if len(typed) > MAX_TYPED:
            raise ActionError(f"TYPE takes at most {MAX_TYPED} characters, got {len(typed)}")
        if any(ord(c) < 32 and c not in "\t" for c in typed):
            raise ActionError("TYPE takes printable text; use PRESS_ENTER for a new line")
        return Action("type", text=typed)
    raise ActionError(f"Unknown action {name!r}. Write one of: {GRAMMAR}.")
