"""``agentrl/MiniWoB-v0``: MiniWoB++'s own HTML tasks (PyPI ``miniwob``) in headless Chromium.

Only the ``miniwob`` package's bundled HTML and JavaScript are used (its Selenium driver
is not): the page is opened from the package's folder, seeded with ``Math.seedrandom``
and started with ``core.startEpisodeReal()``, as MiniWoB's own ``SeleniumInstance`` does,
and the reward is MiniWoB's own: ``WOB_REWARD_GLOBAL``, set by the task's JavaScript
through ``core.endEpisode`` (in [-1, 1], a success scaled down by the time it took;
``info["raw_reward"]`` is ``WOB_RAW_REWARD_GLOBAL``, without the time factor).

Time: the page runs on Playwright's virtual clock, and each step advances it by
``step_ms`` (default 1000 ms), so rewards and the tasks' own timers (the 10-second
episode limit, delayed buttons) do not depend on how long the agent takes to answer,
and the same seed and actions give the same reward.

The agent sees the task's instruction and the page's UI element list (the Device env's
format), acts with the same AitW actions (``TAP(i)``, ``TAP(y, x)``, ``TYPE("...")``,
``PRESS_ENTER``, swipes) over the 160×210 task area, and ``info["image"]`` is a
screenshot. The episode ends when MiniWoB says it is done (the task's answer was
submitted, or time ran out: -1). A few tasks have a scripted expert
(:data:`EXPERTS`); the others report ``info["expert_action"] = None``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.base import TextEnv
from agentrl.envs.browser import BrowserPage, find_chromium, require_playwright
from agentrl.envs.device.actions import GRAMMAR, Action, ActionError, parse_action
from agentrl.envs.device.browser_device import BrowserDevice
from agentrl.envs.device.device import Element, format_elements, perform, resolve

TASK_SIZE = (160, 210)
_METADATA_JS = (
    "() => ({done: WOB_DONE_GLOBAL, env_reward: WOB_REWARD_GLOBAL, raw_reward: WOB_RAW_REWARD_GLOBAL, "
    "reason: WOB_REWARD_REASON})"
)


def html_dir() -> Path:
    """The folder of MiniWoB++'s task pages inside the installed ``miniwob`` package."""
    try:
        import miniwob
    except ImportError as err:
        raise ImportError(
            "MiniWoB needs the miniwob package: pip install 'agentrl[device]' (or pip install miniwob)"
        ) from err
    return Path(miniwob.__file__).parent / "html" / "miniwob"


def offline_tasks() -> list[str]:
    """The bundled tasks whose pages load nothing from the network (all but a handful)."""
    out = []
    for page in sorted(html_dir().glob("*.html")):
        if not re.search(r"""(src|href)\s*=\s*["']https?://""", page.read_text(errors="replace")):
            out.append(page.stem)
    return out


def _centre_tap(e: Element, width: int, height: int) -> str:
    y, x = e.centre(width, height)
    return f"TAP({y:.3f}, {x:.3f})"


def _quoted(utterance: str) -> str:
    match = re.search(r'"([^"]*)"', utterance)
    return match.group(1) if match else ""


def _expert_click_test(env: MiniWoBEnv) -> str | None:
    button = next((e for e in env.elements if e.cls == "Button" and e.visible), None)
    return _centre_tap(button, *TASK_SIZE) if button else None


def _expert_click_button(env: MiniWoBEnv) -> str | None:
    label = _quoted(env.utterance) or env.utterance.rsplit(" ", 1)[-1].rstrip(".")
    button = next((e for e in env.elements if e.cls == "Button" and e.text == label), None)
    return _centre_tap(button, *TASK_SIZE) if button else None


def _expert_enter_text(env: MiniWoBEnv) -> str | None:
    target = re.search(r'Enter "(.*)" into the text field', env.utterance)
    field = next((e for e in env.elements if e.editable), None)
    submit = next((e for e in env.elements if e.cls == "Button" and e.text.lower() == "submit"), None)
    if not (target and field and submit):
        return None
    if field.text == target.group(1):
        return _centre_tap(submit, *TASK_SIZE)
    if not field.focused:
        return _centre_tap(field, *TASK_SIZE)
    return f'TYPE("{target.group(1)[len(field.text) :]}")'


def _expert_focus_text(env: MiniWoBEnv) -> str | None:
    field = next((e for e in env.elements if e.editable), None)
    return _centre_tap(field, *TASK_SIZE) if field else None


def _expert_click_link(env: MiniWoBEnv) -> str | None:
    # MiniWoB's links are spans with script handlers: they are listed as text, matched exactly (case too).
    label = _quoted(env.utterance)
    link = next((e for e in env.elements if e.text == label and e.visible), None)
    return _centre_tap(link, *TASK_SIZE) if link else None


EXPERTS = {
    "click-test": _expert_click_test,
    "click-test-2": _expert_click_button,
    "click-button": _expert_click_button,
    "enter-text": _expert_enter_text,
    "focus-text": _expert_focus_text,
    "click-link": _expert_click_link,
}
"""Scripted solutions, reading the instruction and the UI list, for the tasks that have one."""


class MiniWoBEnv(TextEnv[Action]):
    """A MiniWoB++ task in a real headless browser, with MiniWoB's own reward.

    Args:
        task: The task (the name of a page of the ``miniwob`` package, e.g. ``click-button``).
        step_ms: Virtual time each step takes (MiniWoB's episode limit is 10,000 ms, and a success's reward
            is scaled by ``1 - elapsed / limit``).
        data_mode: MiniWoB's data mode (``core.setDataMode``), e.g. ``train`` or ``test`` in the tasks that
            split their problems.
        screenshot: Put a PNG screenshot of the task area in ``info["image"]`` after every reset and step.
        chromium_path: The browser to launch (default: ``chromium`` on PATH).
        expert: Put the scripted solution's next action (where the task has one) in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You operate a small web page (MiniWoB++). Each turn you see the instruction and the page's UI elements, "
        "numbered, with their class, text and bounds as normalised [top, left, bottom, right]. Reply with one "
        "action: TAP(i) taps element [i]; TAP(y, x) taps a normalised point; SWIPE(y1, x1, y2, x2) drags; "
        'TYPE("text") types into the focused field; PRESS_ENTER. The episode ends when the page scores you.'
    )

    def __init__(
        self,
        task: str = "click-test",
        step_ms: int = 1000,
        data_mode: str = "default",
        screenshot: bool = True,
        chromium_path: str | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        page_file = html_dir() / f"{task}.html"
        if not page_file.is_file() or task not in offline_tasks():
            raise ValueError(f"unknown or online-only MiniWoB task {task!r}; choose from: {', '.join(offline_tasks())}")
        if step_ms < 0:
            raise ValueError(f"step_ms must be at least 0, got {step_ms}")
        self.task_name, self.step_ms, self.data_mode = task, step_ms, data_mode
        self.screenshot = screenshot
        require_playwright("MiniWoB")
        self._tab = BrowserPage(find_chromium(chromium_path, who="MiniWoB"), TASK_SIZE)
        self.page = self._tab.page
        try:
            self.page.clock.install(time=0)
        except Exception:
            self._tab.close()
            raise
        self._url = page_file.as_uri()
        self.device = BrowserDevice(self.page)
        self._clock = 0
        self.utterance = ""
        self.elements: list[Element] = []
        self.metadata: dict[str, Any] = {}
        self._image: bytes | None = None
        self._error = ""

    def _observe(self) -> None:
        self.metadata = dict(self.page.evaluate(_METADATA_JS))
        self.elements = [e for e in self.device.elements() if e.rid not in ("query", "reward-display")]
        self._image = self.device.screenshot() if self.screenshot else None

    # ------------------------------------------------------------------ hooks
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        # A fresh page on the paused virtual clock each episode: the page's timers only run when a step advances
        # it (each episode starts at a later virtual time: pause_at only moves forward).
        self.page.goto(self._url, wait_until="load")
        self._clock += 10_000_000
        self.page.clock.pause_at(self._clock)
        self.page.evaluate(
            "([seed, mode]) => { Math.seedrandom(seed); core.setDataMode(mode); core.startEpisodeReal(); }",
            [seed, self.data_mode],
        )
        self.utterance = str(self.page.evaluate("() => core.getUtterance()"))
        self.task = self.utterance
        self._observe()

    def _engine_step(self, action: Action) -> tuple[SupportsFloat, bool, bool]:
        perform(self.device, action)
        self.page.clock.run_for(self.step_ms)
        self._observe()
        if not self.metadata["done"]:
            return 0.0, False, False
        reward = float(self.metadata["env_reward"])
        self.won = float(self.metadata["raw_reward"]) == 1.0
        self.score = reward
        return reward, True, False

    def parse_action(self, action: str) -> Action | None:
        self._error = ""
        if self.metadata.get("done"):
            self._error = "The episode is over: reset to start another."
            return None
        try:
            parsed = resolve(parse_action(action), self.elements, *TASK_SIZE)
        except ActionError as err:
            self._error = str(err)
            return None
        if parsed.kind in ("back", "home", "complete", "impossible"):
            self._error = f"{parsed.to_text()} does nothing here: MiniWoB ends the episode when it scores the page."
            return None
        return parsed

    def invalid_feedback(self, action: object) -> str:
        return f"Invalid action: {self._error or 'not a string'}\nActions: {GRAMMAR}."

    def _render(self) -> str:
        head = f"Instruction: {self.utterance}"
        if self.metadata.get("done"):
            head += f"\nEpisode over: reward {float(self.metadata['env_reward']):g}."
        return head + "\n" + format_elements(self.elements, *TASK_SIZE)

    def _admissible(self) -> list[str]:
        if self.metadata.get("done"):
            return []
        shown = [e for e in self.elements if e.visible]
        actions = [f"TAP({i})" for i, e in enumerate(shown) if e.clickable]
        if any(e.focused and e.editable for e in shown):
            actions += ['TYPE("<text>")', "PRESS_ENTER"]
        return actions or ["TAP(0.5, 0.5)"]

    def _compute_expert(self) -> str | None:
        solve = EXPERTS.get(self.task_name)
        if solve is None or self.metadata.get("done"):
            return None
        return solve(self)

    def _info(self, invalid: bool) -> dict[str, Any]:
        info = super()._info(invalid)
        if self._image is not None:
            info["image"] = self._image
        info["raw_reward"] = float(self.metadata.get("raw_reward", 0.0))
        info["reward_reason"] = self.metadata.get("reason")
        return info

    def close(self) -> None:
        """Close this env's page and context; the browser closes with the last env of the thread (idempotent)."""
        if self._tab.closed:
            return
        self._tab.close()
        super().close()
