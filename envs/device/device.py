"""The device interface the envs act through, and what it reports.

A :class:`Device` is a screen of ``width`` × ``height`` pixels that can be tapped, swiped
and typed into, has back/home/enter keys, and can give a screenshot and its UI element
list. Two implementations share it: :class:`~agentrl.envs.device.browser_device.BrowserDevice`
(a phone-sized page in headless Chromium) and :class:`~agentrl.envs.device.adb.AdbDevice`
(a real Android device or emulator through ``adb``). :func:`perform` carries out an
AitW :class:`~agentrl.envs.device.actions.Action` on any of them, so one agent and one
recorded dataset work on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agentrl.envs.device.actions import Action, ActionError


@dataclass(frozen=True)
class Element:
    """One entry of the UI element list (as an Android ``uiautomator`` dump gives it)."""

    cls: str
    """Widget class without package: ``Button``, ``TextView``, ``EditText``, ``Switch``, ``CheckBox``..."""
    text: str
    """Its text (an edit field's current value)."""
    bounds: tuple[float, float, float, float]
    """``(left, top, right, bottom)`` in pixels."""
    rid: str = ""
    """The resource id (``contacts/save``; the HTML id in MiniWoB)."""
    hint: str = ""
    """The hint text an empty edit field shows (the HTML ``placeholder`` attribute)."""
    clickable: bool = False
    editable: bool = False
    checked: bool | None = None
    """For switches and check boxes; None for the others."""
    focused: bool = False
    visible: bool = True
    """Whether it lies (at least partly) on screen."""
    scrollable: bool = False
    full: bool = True
    """Whether all of it is on screen (not cut by the screen's edge or a scrolling container)."""
    below: bool = False
    """Whether (part of) it lies below the visible area (scroll down to reach it)."""

    def centre(self, width: int, height: int) -> tuple[float, float]:
        """The normalised ``(y, x)`` of its centre, clipped to the screen."""
        left, top, right, bottom = self.bounds
        y = (max(top, 0) + min(bottom, height)) / 2 / height
        x = (max(left, 0) + min(right, width)) / 2 / width
        return min(max(y, 0.0), 1.0), min(max(x, 0.0), 1.0)


class Device(Protocol):
    """What the envs need of a device; pixel coordinates, origin at the top left."""

    width: int
    height: int

    def screenshot(self) -> bytes:
        """The screen as PNG bytes."""
        ...

    def elements(self) -> list[Element]:
        """The UI element list (visible or not; see :attr:`Element.visible`)."""
        ...

    def tap(self, x: float, y: float) -> None: ...

    def swipe(self, x1: float, y1: float, x2: float, y2: float) -> None: ...

    def type_text(self, text: str) -> None:
        """Type into the focused field (nothing happens when none is focused, as on a phone)."""
        ...

    def press(self, key: str) -> None:
        """Press ``back``, ``home`` or ``enter``."""
        ...


def resolve(action: Action, elements: list[Element], width: int, height: int) -> Action:
    """``TAP(i)`` as a tap at element ``i``'s centre (indices count the visible elements as listed)."""
    if action.kind != "tap" or action.element is None:
        return action
    shown = [e for e in elements if e.visible]
    if not 0 <= action.element < len(shown):
        raise ActionError(
            f"TAP({action.element}): there is no element [{action.element}] on screen (they are 0..{len(shown) - 1})"
        )
    point = shown[action.element].centre(width, height)
    return Action("tap", touch=point, lift=point)


def perform(device: Device, action: Action) -> None:
    """Carry out a resolved action (statuses do nothing on the device)."""
    w, h = device.width, device.height
    if action.kind in ("tap", "swipe"):
        assert action.touch is not None, "resolve TAP(i) first"
        (y1, x1), (y2, x2) = action.touch, action.lift or action.touch
        px = (min(x1 * w, w - 1), min(y1 * h, h - 1), min(x2 * w, w - 1), min(y2 * h, h - 1))
        if action.kind == "tap":
            device.tap(px[0], px[1])
        else:
            device.swipe(*px)
    elif action.kind == "type":
        device.type_text(action.text)
    elif action.kind in ("back", "home", "enter"):
        device.press(action.kind)


def format_elements(elements: list[Element], width: int, height: int) -> str:
    """The visible elements as numbered lines: ``[3] Button "Save" id=contacts/save [y0,x0,y1,x1]``."""
    lines = []
    for i, e in enumerate(x for x in elements if x.visible):
        left, top, right, bottom = e.bounds
        box = f"[{top / height:.2f},{left / width:.2f},{bottom / height:.2f},{right / width:.2f}]"
        parts = [f"[{i}]", e.cls]
        if e.text or not e.editable:
            parts.append(f'"{e.text}"')
        if e.editable and not e.text and e.hint:
            parts.append(f'hint="{e.hint}"')
        if e.rid:
            parts.append(f"id={e.rid}")
        parts.append(box)
        if e.checked is not None:
            parts.append("checked" if e.checked else "unchecked")
        if e.focused:
            parts.append("focused")
        if e.scrollable:
            parts.append("scrollable")
        lines.append(" ".join(parts))
    return "\n".join(lines)
