"""What the experts see of the phone, and the moves they are made of.

A :class:`View` is one moment of the device: where the shell is (app, screen, its
parameters), the UI element list and the app state. Its helpers return the AitW action
(as text) that makes progress toward a sub-goal, or None when the sub-goal already holds,
so an expert is a chain ``v.open("contacts") or v.tap("contacts/add") or ...``. Taps are
written as normalised points (AitW's form), and an element out of sight is first scrolled
to with a swipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentrl.envs.device.device import Element


@dataclass
class View:
    """The device now, as the experts read it."""

    app: str
    screen: str
    params: dict[str, Any]
    elements: list[Element]
    state: dict[str, Any]
    width: int
    height: int

    def find(self, rid: str, text: str | None = None) -> Element | None:
        """The first element with resource id ``rid`` (and, when given, text starting with ``text``)."""
        for e in self.elements:
            if e.rid == rid and (text is None or e.text.lower().startswith(text.lower())):
                return e
        return None

    def has(self, rid: str, text: str | None = None) -> bool:
        return self.find(rid, text) is not None

    def tap(self, rid: str, text: str | None = None) -> str:
        """Tap the element (scrolling to it first); PRESS_BACK when it is not on this screen at all."""
        e = self.find(rid, text)
        if e is None:
            return "PRESS_BACK"
        if not e.full:
            return "SWIPE(UP)" if e.below else "SWIPE(DOWN)"
        y, x = e.centre(self.width, self.height)
        return f"TAP({y:.3f}, {x:.3f})"

    def open(self, app: str) -> str | None:
        """Go to ``app`` (home, then its icon); None when already in it."""
        if self.app == app:
            return None
        return self.tap(f"home/{app}") if self.app == "home" else "PRESS_HOME"

    def fill(self, rid: str, text: str) -> str | None:
        """Make the field hold ``text``: clear a wrong value, focus it, type the rest; None when it holds it."""
        e = self.find(rid)
        if e is None:
            return "PRESS_BACK"
        if e.text == text:
            return None
        if e.text and not text.startswith(e.text):
            return self.tap(rid + "_clear")
        if not e.focused:
            return self.tap(rid)
        rest = text[len(e.text) :].replace("\\", "\\\\").replace('"', '\\"')
        return f'TYPE("{rest}")'
