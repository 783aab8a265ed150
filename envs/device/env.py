"""``agentrl/Device-v0``: a phone in headless Chromium, with AitW actions and AndroidWorld-style tasks.

The phone is a 360×640 page (:mod:`apps <agentrl.envs.device.apps>`: a home screen and
five apps, Settings, Contacts, Messages, Calendar and Shop, written for agentrl, whose
state lives in the page). Each reset loads a seeded starting state and one of the 31
tasks of :mod:`~agentrl.envs.device.tasks`; the agent acts with the Android-in-the-Wild
action space written as text (:mod:`~agentrl.envs.device.actions`), and ends the episode
with ``STATUS_TASK_COMPLETE`` or ``STATUS_TASK_IMPOSSIBLE``. The task's checker then
reads the apps' state: reward 1 and ``won`` when it passes (for an infeasible task: when
the agent declared it impossible and changed nothing), else 0.

Observation: the UI element list as text (``[3] Button "Save" id=contacts/save
[0.05,0.80,0.13,0.97]``: class, text, resource id, normalised ``[y0,x0,y1,x1]`` bounds,
state), and ``info["image"]`` the PNG screenshot. ``info["aitw_action"]`` is the last
action in AitW's record layout (a ``TAP(i)`` resolved to its point).

The task of a reset is ``tasks[seed % len(tasks)]`` unless ``options={"task": name}``
names one; the parameters are drawn from the seed.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.base import TextEnv
from agentrl.envs.browser import BrowserPage, find_chromium, require_playwright
from agentrl.envs.device.actions import GRAMMAR, Action, ActionError, parse_action
from agentrl.envs.device.browser_device import BrowserDevice
from agentrl.envs.device.data import initial_state
from agentrl.envs.device.device import Element, format_elements, perform, resolve
from agentrl.envs.device.tasks import TASK_NAMES, TASKS, Task
from agentrl.envs.device.view import View

APPS_DIR = Path(__file__).parent / "apps"
APP_SCRIPTS = ("shell.js", "settings.js", "contacts.js", "messages.js", "calendar.js", "shop.js")
APP_NAMES = {"home": "Home screen", "settings": "Settings", "contacts": "Contacts", "messages": "Messages",
             "calendar": "Calendar", "shop": "Shop"}  # fmt: skip
SCREEN = (360, 640)


def phone_html() -> str:
    """The phone page: the shell and the apps' scripts inlined into one document."""
    scripts = "\n".join(f"<script>\n{(APPS_DIR / name).read_text()}\n</script>" for name in APP_SCRIPTS)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>agentrl phone</title>"
        f"<style>{(APPS_DIR / 'phone.css').read_text()}</style></head><body>"
        "<div id='status'><span>12:00</span><span>LTE 87%</span></div><div id='screen'></div>"
        f"{scripts}</body></html>"
    )


class DeviceEnv(TextEnv[Action]):
    """Do a task on a phone's apps, in a real headless browser, with the AitW action space.

    Args:
        tasks: Task names to draw from (``seed % len(tasks)``), or ``all`` (the 31 tasks).
        screenshot: Put a PNG screenshot in ``info["image"]`` after every reset and step.
        chromium_path: The browser to launch (default: ``chromium`` on PATH).
        expert: Put the expert's next action in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You operate an Android phone. Each turn you see the screen's UI elements, numbered, with their class, "
        "text, id and bounds as normalised [top, left, bottom, right]. Reply with one action: TAP(i) taps element "
        "[i]; TAP(y, x) taps a normalised point (y down, x right, in [0, 1]); SWIPE(UP) or SWIPE(DOWN) scrolls "
        '(UP shows what is below); SWIPE(y1, x1, y2, x2) drags; TYPE("text") types into the focused field (tap it '
        "first); PRESS_BACK, PRESS_HOME, PRESS_ENTER. When the task is done reply STATUS_TASK_COMPLETE; if it cannot "
        "be done, STATUS_TASK_IMPOSSIBLE. Either ends the episode."
    )

    def __init__(
        self,
        tasks: str | list[str] = "all",
        screenshot: bool = True,
        chromium_path: str | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        names = list(TASK_NAMES) if tasks == "all" else ([tasks] if isinstance(tasks, str) else list(tasks))
        unknown = [n for n in names if n not in TASKS]
        if unknown or not names:
            raise ValueError(f"unknown Device tasks {unknown}; choose from: all, {', '.join(TASK_NAMES)}")
        self.task_names = names
        self.screenshot = screenshot
        require_playwright("Device")
        self._tab = BrowserPage(find_chromium(chromium_path, who="Device"), SCREEN, device_scale_factor=1)
        self.page = self._tab.page
        try:
            self.page.set_content(phone_html())
        except Exception:
            self._tab.close()
            raise
        self.device = BrowserDevice(self.page, back_js="device.back()", home_js="device.home()")
        self.current: Task | None = None
        self.params: dict[str, Any] = {}
        self.initial: dict[str, Any] = {}
        self.done = False
        self._elements: list[Element] = []
        self._where: dict[str, Any] = {}
        self._state: dict[str, Any] = {}
        self._image: bytes | None = None
        self._error = ""
        self._aitw: dict[str, Any] | None = None

    # ------------------------------------------------------------------ device
    def read_state(self) -> dict[str, Any]:
        """The apps' state now (what the checkers read)."""
        return dict(self.page.evaluate("() => JSON.parse(JSON.stringify(device.state))"))

    def _observe(self) -> None:
        self._where, self._state = self.page.evaluate("() => [device.where(), device.state]")
        self._elements = self.device.elements()
        self._image = self.device.screenshot() if self.screenshot else None

    def view(self) -> View:
        """The device as the experts read it."""
        where = self._where
        w, h = self.device.width, self.device.height
        return View(where["app"], where["screen"], where["params"], self._elements, self._state, w, h)

    # ------------------------------------------------------------------ hooks
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        name = str(options.get("task", self.task_names[seed % len(self.task_names)]))
        if name not in TASKS:
            raise ValueError(f"unknown Device task {name!r}; choose from: {', '.join(TASK_NAMES)}")
        rng = random.Random(seed)
        state = initial_state(rng)
        self.current = TASKS[name]
        self.task, self.params = self.current.setup(rng, state)
        self.initial = copy.deepcopy(state)
        self.page.evaluate("s => device.load(s)", state)
        self.done = False
        self._aitw = None
        self._observe()

    def _engine_step(self, action: Action) -> tuple[SupportsFloat, bool, bool]:
        assert self.current is not None
        self._aitw = action.to_aitw()
        if action.kind in ("complete", "impossible"):
            self.done = True
            final = self.read_state()
            ok = self.current.check(self.initial, final, self.params)
            self.won = ok and (action.kind == "complete") == self.current.feasible
            self.score = float(self.won)
            self._observe()
            return float(self.won), True, False
        perform(self.device, action)
        self._observe()
        return 0.0, False, False

    def parse_action(self, action: str) -> Action | None:
        self._error = ""
        if self.done:
            self._error = "The episode is over: reset to start another."
            return None
        try:
            parsed = resolve(parse_action(action), self._elements, self.device.width, self.device.height)
        except ActionError as err:
            self._error = str(err)
            return None
        return parsed

    def invalid_feedback(self, action: object) -> str:
        return f"Invalid action: {self._error or 'not a string'}\nActions: {GRAMMAR}."

    def _render(self) -> str:
        app = APP_NAMES.get(self._where.get("app", ""), "")
        head = f"Task: {self.task}\nScreen {self.device.width}x{self.device.height}, app: {app}"
        if self.done:
            head += f"\nEpisode over: {'success' if self.won else 'failure'}."
        return head + "\n" + format_elements(self._elements, self.device.width, self.device.height)

    def _admissible(self) -> list[str]:
        if self.done:
            return []
        shown = [e for e in self._elements if e.visible]
        actions = [f"TAP({i})" for i, e in enumerate(shown) if e.clickable]
        if any(e.scrollable for e in shown):
            actions += ["SWIPE(UP)", "SWIPE(DOWN)"]
        if any(e.focused and e.editable for e in shown):
            actions += ['TYPE("<text>")', "PRESS_ENTER"]
        return [*actions, "PRESS_BACK", "PRESS_HOME", "STATUS_TASK_COMPLETE", "STATUS_TASK_IMPOSSIBLE"]

    def _compute_expert(self) -> str | None:
        if self.done or self.current is None:
            return None
        if not self.current.feasible:
            return "STATUS_TASK_IMPOSSIBLE"
        if self.current.check(self.initial, self._state, self.params):
            return "STATUS_TASK_COMPLETE"
        return self.current.plan(self.view(), self.params)

    def _info(self, invalid: bool) -> dict[str, Any]:
        info = super()._info(invalid)
        if self._image is not None:
            info["image"] = self._image
        info["aitw_action"] = None if invalid else self._aitw
        info["device_task"] = self.current.name if self.current else ""
        return info

    def close(self) -> None:
        """Close this env's page and context; the browser closes with the last env of the thread (idempotent)."""
        if self._tab.closed:
            return
        self._tab.close()
        super().close()


def dump_state(env: DeviceEnv) -> str:
    """The apps' state as JSON (for debugging a checker)."""
    return json.dumps(env.read_state(), indent=1)
