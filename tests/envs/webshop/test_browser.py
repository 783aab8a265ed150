"""WebShop-Browser in real headless Chromium: the oracle, the accessibility-tree text, screenshots, cleanup.

Needs Playwright and Debian's chromium; CI installs both and sets ``AGENTRL_REQUIRE_BROWSER=1`` so that
a missing browser fails there instead of skipping.
"""

from __future__ import annotations

import socket

import psutil
import pytest

import agentrl
from agentrl.envs.webshop.oracle import run_oracle


@pytest.fixture(scope="module")
def browser_env(require_browser):
    require_browser()
    env = agentrl.make("agentrl/WebShop-Browser-v1", split="test")
    yield env
    env.close()


def _chromium_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]


def test_oracle_in_the_browser(browser_env):
    figures = run_oracle(browser_env, range(12))
    assert figures["success"] == 1.0, figures["failed"]


def test_text_env_and_browser_agree_on_a_goal(browser_env):
    text_env = agentrl.make("agentrl/WebShop-v1", split="test")
    text_info = text_env.reset(seed=7)[1]
    obs, info = browser_env.reset(seed=7)
    assert info["task"] == text_info["task"] and info["admissible_actions"] == text_info["admissible_actions"]
    assert 'textbox "Search query"' in obs and info["task"] in obs
    assert info["image"][:8] == b"\x89PNG\r\n\x1a\n"
    while info["expert_action"] is not None:
        action = info["expert_action"]
        obs, reward, terminated, _, info = browser_env.step(action)
        _, text_reward, _, _, text_info = text_env.step(action)
        assert sorted(info["admissible_actions"]) == sorted(text_info["admissible_actions"]), action
        assert reward == text_reward
    assert terminated and info["won"] and "Thank you for shopping with us!" in obs


def test_actions_act_only_through_the_page(browser_env):
    obs, info = browser_env.reset(seed=1)
    for bad in ("click[buy now]", "click[search]", "click[nothing]", "press enter"):
        obs2, _, _, _, info2 = browser_env.step(bad)
        assert info2["invalid_action"] and obs2.endswith(obs), bad
    obs, _, _, _, info = browser_env.step("type[black]")  # type[...] fills the search box
    assert not info["invalid_action"] and 'button "Back to Search"' in obs and "Page 1 (Total results: 50)" in obs
    _, _, _, _, info = browser_env.step("search[shoes]")  # no search box on the results page
    assert info["invalid_action"]
    _, _, _, _, info = browser_env.step("click[next >]")
    assert not info["invalid_action"] and "click[< prev]" in info["admissible_actions"]


def test_close_stops_chromium_and_the_shared_server(require_browser):
    require_browser()
    before = {p.pid for p in _chromium_children()}
    first = agentrl.make("agentrl/WebShop-Browser-v1", split="eval", screenshot=False)
    second = agentrl.make("agentrl/WebShop-Browser-v1", split="eval", screenshot=False)
    server = first.unwrapped.server
    assert second.unwrapped.server is server
    _, info = first.reset(seed=0)
    assert "image" not in info
    first.close()
    first.close()  # idempotent
    second.reset(seed=0)  # the server lives on for the other env
    second.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass
    leftover = [p for p in _chromium_children() if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE]
    assert not leftover
