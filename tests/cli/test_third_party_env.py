"""A user registers an env from their own package and plays it through the CLI.

The package lives in a temporary folder on PYTHONPATH with a ``.dist-info`` that
declares an ``agentrl.envs`` entry point, exactly what ``pip install`` of a package
with that entry point leaves behind; agentrl itself is not touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PACKAGE = '''
"""A user's own env: flip a coin until it shows heads."""
from agentrl.envs import TextEnv, register
from agentrl.envs.actions import ActionTable

_ACTIONS = ActionTable({"flip": "flip"})


class CoinEnv(TextEnv[str]):
    def _engine_reset(self, seed, options):
        self.flips = [(seed >> i) & 1 for i in range(8)] + [1]
        self.i = 0
        self.task = "Flip the coin until it shows heads."

    def _engine_step(self, command):
        self.i += 1
        self.won = self.flips[self.i - 1] == 1
        self.score = float(self.won)
        return self.score, self.won, False

    def _render(self):
        return "The coin shows " + ("heads." if self.won else "tails.") if self.i else "You hold a coin."

    def parse_action(self, action):
        return _ACTIONS.match(action)

    def _admissible(self):
        return ["flip"]

    def _compute_expert(self):
        return None if self.won else "flip"


def register_envs():
    register("coinpkg/Coin-v0", "coinpkg:CoinEnv", description="Flip a coin until heads", max_episode_steps=20)
'''


@pytest.fixture
def user_site(tmp_path):
    (tmp_path / "coinpkg").mkdir()
    (tmp_path / "coinpkg" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    dist = tmp_path / "coinpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: coinpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[agentrl.envs]\ncoin = coinpkg:register_envs\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agentrl", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_plugin_env_is_listed_and_playable(user_site):
    listed = run(["envs", "--json"], user_site)
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows["coinpkg/Coin-v0"]["description"] == "Flip a coin until heads"
    played = run(["play", "coinpkg/Coin-v0", "--agent", "expert", "--seed", "4"], user_site)
    assert played.returncode == 0, played.stderr
    assert "The coin shows heads." in played.stdout and ": won," in played.stdout


def test_module_class_needs_no_plugin(user_site):
    played = run(["play", "coinpkg:CoinEnv", "--seed", "1"], user_site | {"PYTHONPATH": user_site["PYTHONPATH"]})
    assert played.returncode == 0, played.stderr
    assert "You hold a coin." in played.stdout


def test_checker_passes_on_the_user_env(user_site):
    code = "import agentrl; from agentrl.testing import check_text_env; check_text_env(agentrl.make('coinpkg/Coin-v0'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=user_site, timeout=120)
    assert out.returncode == 0, out.stderr
