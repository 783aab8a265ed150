"""A :class:`~agentrl.envs.device.device.Device` that is a page in headless Chromium.

Taps are mouse clicks at the point, swipes a press, a move in steps and a release (the
phone's pages scroll what is under a drag, as a touch screen does), typing goes to the
focused element through the keyboard, and the UI list comes from ``apps/uitree.js``.
The back and home keys run the page's own handlers (``back_js``/``home_js``), as Android
hands them to the system; a page without them ignores those keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentrl.envs.device.device import Element

UITREE_JS = (Path(__file__).parent / "apps" / "uitree.js").read_text()
_FIELDS = ("rid", "hint", "clickable", "editable", "checked", "focused", "visible", "scrollable", "full", "below")


def elements_from_js(raw: dict[str, Any]) -> list[Element]:
    """:class:`Element` objects from ``uitree.js``'s result."""
    return [
        Element(cls=e["cls"], text=e["text"], bounds=tuple(e["bounds"]), **{k: e[k] for k in _FIELDS if k in e})
        for e in raw["elements"]
    ]


class BrowserDevice:
    """A Playwright page seen as a device screen.

    Args:
        page: The page (its viewport is the screen).
        back_js: JavaScript run for the back key (None: ignored).
        home_js: JavaScript run for the home key (None: ignored).
    """

    def __init__(self, page: Any, back_js: str | None = None, home_js: str | None = None):
        self.page = page
        viewport = page.viewport_size
        self.width, self.height = int(viewport["width"]), int(viewport["height"])
        self.back_js, self.home_js = back_js, home_js

    def screenshot(self) -> bytes:
        return bytes(self.page.screenshot())

    def elements(self) -> list[Element]:
        return elements_from_js(self.page.evaluate(UITREE_JS))

    def tap(self, x: float, y: float) -> None:
        self.page.mouse.click(x, y)

    def swipe(self, x1: float, y1: float, x2: float, y2: float) -> None:
        mouse = self.page.mouse
        mouse.move(x1, y1)
        mouse.down()
        mouse.move(x2, y2, steps=8)
        mouse.up()

    def type_text(self, text: str) -> None:
        self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        if key == "enter":
            self.page.keyboard.press("Enter")
            return
        script = {"back": self.back_js, "home": self.home_js}[key]
        if script:
            self.page.evaluate(script)
