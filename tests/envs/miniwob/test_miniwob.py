"""MiniWoB-v0 in real headless Chromium: scripted solutions get MiniWoB's own reward.

The reward is compared with what MiniWoB's own code computes: the ``miniwob`` package's
``get_original_reward`` on the episode metadata its ``SeleniumInstance.get_metadata`` reads
(``WOB_REWARD_GLOBAL`` and friends, set by the task's ``core.endEpisode``), and with the
time factor worked by hand (``1 - elapsed / 10 s`` on the virtual clock, ``step_ms`` per step: the scripted
solutions are at most three steps, so ``1 - 0.1 * (steps - 1)``).

Needs Playwright, the ``miniwob`` package and Debian's chromium; CI sets ``AGENTRL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import pytest

METADATA_JS = (
    "() => ({done: WOB_DONE_GLOBAL, env_reward: WOB_REWARD_GLOBAL, raw_reward: WOB_RAW_REWARD_GLOBAL, "
    "reason: WOB_REWARD_REASON})"
)


MINIWOB = ("miniwob", "miniwob (pip install 'agentrl[device]')")


@pytest.fixture(scope="module")
def make(require_browser):
    require_browser(MINIWOB)
    from agentrl.envs.miniwob.env import MiniWoBEnv

    envs = {}

    def get(task):
        if task not in envs:
            envs[task] = MiniWoBEnv(task=task)
        return envs[task]

    yield get
    for env in envs.values():
        env.close()


@pytest.mark.parametrize(
    "task", ["click-test", "click-test-2", "click-button", "enter-text", "focus-text", "click-link"]
)
def test_scripted_solution_gets_miniwobs_own_reward(make, task):
    from miniwob.reward import get_original_reward, get_raw_reward

    env = make(task)
    for seed in (0, 1):
        _, info = env.reset(seed=seed)
        steps, reward, terminated = 0, 0.0, False
        while not terminated and steps < 8:
            _, reward, terminated, _, info = env.step(info["expert_action"])
            steps += 1
        metadata = env.page.evaluate(METADATA_JS)
        assert terminated and metadata["done"]
        # Each of these tasks scales its success by time; the answer lands during the last step, before that
        # step's `step_ms` passes on the clock.
        assert reward == get_original_reward(metadata) == pytest.approx(1.0 - (steps - 1) * env.step_ms / 10_000)
        assert info["raw_reward"] == get_raw_reward(metadata) == 1.0 and info["won"]


def test_wrong_answer_gets_minus_one_and_timeout_ends_the_episode(make):
    from miniwob.reward import get_original_reward

    env = make("click-button")
    _, info = env.reset(seed=4)
    right = info["expert_action"]
    shown = [e for e in env.elements if e.visible]
    buttons = [i for i, e in enumerate(shown) if e.cls == "Button"]
    label = env.utterance.split('"')[1]
    wrong = next(f"TAP({i})" for i in buttons if shown[i].text != label)
    assert wrong != right
    _, reward, terminated, _, info = env.step(wrong)
    assert terminated and reward == -1.0 == get_original_reward(env.page.evaluate(METADATA_JS))
    assert not info["won"]
    # Ten seconds of the virtual clock without an answer: MiniWoB's own timer ends it with -1.
    env = make("focus-text")
    env.reset(seed=0)
    terminated, steps = False, 0
    while not terminated:
        _, reward, terminated, _, info = env.step("TAP(0.99, 0.99)")
        steps += 1
    assert steps == 10 and reward == -1.0 and info["reward_reason"] == "timed out"


def test_same_seed_same_problem_and_invalid_actions(make):
    env = make("enter-text")
    first = env.reset(seed=11)[0]
    assert env.reset(seed=11)[0] == first and env.reset(seed=12)[0] != first
    text, _, _, _, info = env.step("PRESS_HOME")
    assert info["invalid_action"] and "MiniWoB ends the episode when it scores the page" in text
    text, _, _, _, info = env.step("TAP(1.2, 0.5)")
    assert info["invalid_action"] and "normalised" in text


def test_task_names_are_checked(require_browser):
    require_browser(MINIWOB)
    from agentrl.envs.miniwob.env import MiniWoBEnv, offline_tasks

    tasks = offline_tasks()
    assert len(tasks) >= 125 and "click-test" in tasks and "book-flight" in tasks
    with pytest.raises(ValueError, match=r"choose from: .*click-test"):
        MiniWoBEnv(task="no-such-task")
