"""A :class:`~agentrl.envs.device.device.Device` on a real Android device or emulator, through ``adb``.

The same interface as the browser phone, so an agent (and :func:`~agentrl.envs.device.device.perform`)
drives either: screenshots are ``adb exec-out screencap -p``; the UI element list is a
``uiautomator dump`` parsed by :func:`parse_uiautomator` into the same :class:`Element`
list; taps, swipes, text and keys are ``adb shell input`` commands.

It cannot run end to end in agentrl's CI (no emulator or device there): the tests check the
commands it builds and its parsing of ``uiautomator`` dumps written for them.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

from agentrl.envs.device.device import Element

KEYCODES = {"back": 4, "home": 3, "enter": 66}
"""Android ``KeyEvent`` codes of the keys the AitW actions press."""
DUMP_PATH = "/sdcard/window_dump.xml"
_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
# `input text` goes through the device's shell: these characters need a backslash there.
_SHELL_SPECIAL = set("\\\"'`$&|;<>()[]{}*?!~#")


def escape_input_text(text: str) -> str:
    """``text`` as ``adb shell input text`` needs it: spaces as ``%s``, shell characters escaped."""
    if any(ord(c) > 126 or ord(c) < 32 for c in text):
        raise ValueError("adb's `input text` types printable ASCII only; use an IME-based keyboard for other text")
    return "".join("%s" if c == " " else ("\\" + c if c in _SHELL_SPECIAL or c == "%" else c) for c in text)


def _run(command: Sequence[str]) -> bytes:
    try:
        return subprocess.run(list(command), check=True, capture_output=True, timeout=60).stdout
    except FileNotFoundError as err:
        raise RuntimeError("the adb backend needs `adb` on PATH (Android platform-tools)") from err
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{' '.join(command)} failed: {err.stderr.decode(errors='replace').strip()}") from err


def parse_uiautomator(xml: str | bytes) -> list[Element]:
    """The element list of a ``uiautomator dump``: nodes with text, a description, or that can be tapped,
    typed into or scrolled, in document order."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise ValueError(f"not a uiautomator dump: {err}") from err
    out = []
    for node in root.iter("node"):
        a = node.attrib
        match = _BOUNDS.fullmatch(a.get("bounds", ""))
        if match is None:
            continue
        left, top, right, bottom = (float(v) for v in match.groups())
        cls = a.get("class", "").rsplit(".", 1)[-1] or "View"
        editable = cls in ("EditText", "AutoCompleteTextView") or a.get("editable") == "true"
        clickable = a.get("clickable") == "true" or a.get("long-clickable") == "true"
        scrollable = a.get("scrollable") == "true"
        text = a.get("text") or a.get("content-desc") or ""
        if not (text or clickable or editable or scrollable):
            continue
        rid = a.get("resource-id", "")
        out.append(
            Element(
                cls=cls,
                text=" ".join(text.split()),
                bounds=(left, top, right, bottom),
                rid=rid.split(":id/", 1)[-1] if ":id/" in rid else rid,
                clickable=clickable or editable,
                editable=editable,
                checked=(a.get("checked") == "true") if a.get("checkable") == "true" else None,
                focused=a.get("focused") == "true",
                visible=right > left and bottom > top,
                scrollable=scrollable,
            )
        )
    return out


def parse_wm_size(output: str) -> tuple[int, int]:
    """``(width, height)`` from ``adb shell wm size`` (an override size wins over the physical one)."""
    sizes = dict(re.findall(r"(Physical|Override) size:\s*(\d+x\d+)", output))
    size = sizes.get("Override") or sizes.get("Physical")
    if size is None:
        raise ValueError(f"cannot read the screen size from {output.strip()!r}")
    width, height = size.split("x")
    return int(width), int(height)


class AdbDevice:
    """An Android device or emulator seen through ``adb``.

    Args:
        serial: The device's serial (``adb devices``); None: the only one connected.
        adb: The adb executable.
        swipe_ms: Duration of a swipe.
        run: Runs a command and returns its stdout (tests pass a fake; the default runs it).
    """

    def __init__(
        self,
        serial: str | None = None,
        adb: str = "adb",
        swipe_ms: int = 400,
        run: Callable[[Sequence[str]], bytes] = _run,
    ):
        self.prefix = [adb, *(["-s", serial] if serial else [])]
        self.swipe_ms = swipe_ms
        self.run = run
        self.width, self.height = parse_wm_size(self._shell("wm", "size").decode())

    def _shell(self, *args: str) -> bytes:
        return self.run([*self.prefix, "shell", *args])

    def screenshot(self) -> bytes:
        data = self.run([*self.prefix, "exec-out", "screencap", "-p"])
        if not data.startswith(b"\x89PNG"):
            raise RuntimeError("adb screencap did not return a PNG (is the screen on and the device unlocked?)")
        return data

    def elements(self) -> list[Element]:
        self._shell("uiautomator", "dump", DUMP_PATH)
        return parse_uiautomator(self.run([*self.prefix, "exec-out", "cat", DUMP_PATH]))

    def tap(self, x: float, y: float) -> None:
        self._shell("input", "tap", str(round(x)), str(round(y)))

    def swipe(self, x1: float, y1: float, x2: float, y2: float) -> None:
        points = (str(round(v)) for v in (x1, y1, x2, y2))
        self._shell("input", "swipe", *points, str(self.swipe_ms))

    def type_text(self, text: str) -> None:
        self._shell("input", "text", escape_input_text(text))

    def press(self, key: str) -> None:
        self._shell("input", "keyevent", str(KEYCODES[key]))
