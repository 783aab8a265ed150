"""Device-v0 in real headless Chromium: every task's expert succeeds and its checker agrees, wrong actions fail
the checker, malformed actions are invalid with a clear message, swipes scroll, and observations carry the UI list,
a screenshot and the AitW action.

Needs Playwright and Debian's chromium; CI sets ``AGENTRL_REQUIRE_BROWSER=1`` so that a missing browser fails there.
"""

from __future__ import annotations

import pytest

import agentrl
from agentrl.envs.device.tasks import TASK_NAMES, TASKS


@pytest.fixture(scope="module")
def env(require_browser):
    require_browser()
    env = agentrl.make("agentrl/Device-v0", max_episode_steps=40)
    yield env.unwrapped
    env.close()


def _run_expert(env, seed, task):
    obs, info = env.reset(seed=seed, options={"task": task})
    reward, steps, terminated = 0.0, 0, False
    while info["expert_action"] and not terminated and steps < 40:
        obs, reward, terminated, _, info = env.step(info["expert_action"])
        assert not info["invalid_action"], (task, obs)
        steps += 1
    return obs, reward, terminated, info


def test_there_are_thirty_tasks_over_five_apps():
    assert len(TASK_NAMES) >= 30
    assert {t.app for t in TASKS.values()} == {"settings", "contacts", "messages", "calendar", "shop"}


@pytest.mark.slow
def test_every_task_expert_succeeds_and_its_checker_agrees(env):
    failed = []
    for seed, task in enumerate(TASK_NAMES):
        obs, reward, terminated, info = _run_expert(env, seed, task)
        spec = TASKS[task]
        final = env.read_state()
        agrees = spec.check(env.initial, final, env.params)
        if not (terminated and reward == 1.0 and info["won"] and agrees):
            failed.append((task, env.task, reward, agrees, obs[-600:]))
    assert not failed, failed


def test_expert_episode_carries_ui_list_screenshot_and_aitw_action(env):
    obs, info = env.reset(seed=3, options={"task": "contacts_add"})
    assert info["device_task"] == "contacts_add" and info["task"].startswith("Add a contact named")
    assert "app: Home screen" in obs and 'Button "C Contacts" id=home/contacts' in obs
    assert info["image"][:8] == b"\x89PNG\r\n\x1a\n"
    assert "STATUS_TASK_COMPLETE" in info["admissible_actions"] and "TAP(3)" in info["admissible_actions"]
    obs, _, _, _, info = env.step(info["expert_action"])
    assert "app: Contacts" in obs and "id=contacts/add" in obs
    assert (
        info["aitw_action"]["action_type"] == 4
        and info["aitw_action"]["touch_point"] == info["aitw_action"]["lift_point"]
    )
    _, reward, terminated, info = _run_expert(env, 3, "contacts_add")
    assert terminated and reward == 1.0 and info["won"] and info["aitw_action"]["action_type"] == 10
    assert info["admissible_actions"] == [] and info["expert_action"] is None


def test_wrong_action_sequences_fail_the_checker(env):
    # The contact is saved, but with a wrong number: the checker reads the app and says no.
    _, info = env.reset(seed=5, options={"task": "contacts_add"})
    name = env.params["name"]
    wrong = {**env.params, "phone": "555-000-0000"}
    spec = TASKS["contacts_add"]
    for _ in range(30):
        action = spec.plan(env.view(), wrong)
        if spec.check(env.initial, env._state, wrong):
            break
        env.step(action)
    saved = [c for c in env.read_state()["contacts"] if c["name"] == name]
    assert saved and saved[0]["phone"] == "555-000-0000"
    assert not spec.check(env.initial, env.read_state(), env.params)
    _, reward, terminated, _, info = env.step("STATUS_TASK_COMPLETE")
    assert terminated and reward == 0.0 and not info["won"]
    # Declaring success without doing anything, or giving up on a feasible task, fails.
    env.reset(seed=6, options={"task": "settings_wifi"})
    assert env.step("STATUS_TASK_COMPLETE")[1] == 0.0
    env.reset(seed=6, options={"task": "settings_wifi"})
    assert env.step("STATUS_TASK_IMPOSSIBLE")[1] == 0.0
    # An infeasible task is won only by saying so.
    env.reset(seed=7, options={"task": "shop_buy_missing"})
    assert env.step("STATUS_TASK_COMPLETE")[1] == 0.0
    env.reset(seed=7, options={"task": "shop_buy_missing"})
    assert env.step("STATUS_TASK_IMPOSSIBLE")[1] == 1.0


def test_malformed_actions_are_invalid_with_a_clear_message(env):
    env.reset(seed=1, options={"task": "settings_wifi"})
    before = env.read_state()
    for action, message in [
        ("TAP(2, 3)", "normalised [y, x] in [0, 1]"),
        ("TAP(99)", "no element [99] on screen"),
        ("SWIPE(0.1)", "SWIPE takes 4 numbers"),
        ("open the settings app", "Cannot read"),
        ("TYPE()", "TYPE needs the text"),
    ]:
        text, reward, terminated, _, step_info = env.step(action)
        assert step_info["invalid_action"] and reward == 0.0 and not terminated, action
        assert message in text and "Actions: TAP(y, x)" in text, text
    assert env.read_state() == before
    env.step("STATUS_TASK_IMPOSSIBLE")
    text, _, _, _, step_info = env.step("PRESS_HOME")
    assert step_info["invalid_action"] and "episode is over" in text


def test_swipe_scrolls_and_typing_needs_focus(env):
    env.reset(seed=2, options={"task": "calendar_delete"})
    env.page.evaluate("device.launch('calendar')")
    env._observe()
    first = [e.text for e in env._elements if e.rid == "calendar/event" and e.visible]
    env.step("SWIPE(UP)")
    after = [e.text for e in env._elements if e.rid == "calendar/event" and e.visible]
    assert first and after and first != after
    env.step("SWIPE(DOWN)")
    assert [e.text for e in env._elements if e.rid == "calendar/event" and e.visible] == first
    # TYPE with nothing focused types nowhere, as on a phone.
    before = env.read_state()
    env.step('TYPE("hello")')
    assert env.read_state() == before
