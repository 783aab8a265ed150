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
import types
from pathlib import Path

import pytest

from agentrl.testing import check_text_env

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_package() -> str:
    """The package the README's "Registering your own env" section shows (its first Python block)."""
    section = README.read_text().split("## Registering your own env", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


PACKAGE = readme_package()


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


def readme_env_class(source: str) -> type:
    module = types.ModuleType("coinpkg")
    exec(compile(source, "README.md", "exec"), module.__dict__)
    return module.CoinEnv


def test_readme_env_passes_the_checker_and_the_checker_catches_what_it_must_set():
    check_text_env(readme_env_class(PACKAGE)())
    assert "self.task = " in PACKAGE and "self.won = " in PACKAGE
    # The README's old skeleton left the task and `won` unset: `agentrl play` showed a blank task and "lost".
    no_task = PACKAGE.replace("self.task = ", "_ = ")
    with pytest.raises(AssertionError, match=r"info\['task'\] is empty after every reset"):
        check_text_env(readme_env_class(no_task)())
    never_won = PACKAGE.replace("self.won = ", "won = ").replace("float(self.won)", "float(won)")
    never_won = never_won.replace("return self.score, self.won, False", "return self.score, won, False")
    with pytest.raises(AssertionError, match=r"info\['won'\] was never true"):
        check_text_env(readme_env_class(never_won)())


def test_eval_and_collect_take_a_registered_id(user_site, tmp_path):
    evaluated = run(
        ["eval", "env=coinpkg/Coin-v0", "agent=expert", "eval.episodes=3", f"eval.output_dir={tmp_path / 'eval'}"],
        user_site,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "coinpkg/Coin-v0" in evaluated.stdout and "success 1.000" in evaluated.stdout
    data = tmp_path / "data"
    collected = run(
        ["collect", "env=coinpkg/Coin-v0", "agent=expert", "model=tiny", "collect.episodes=2",
         f"collect.output={data}"],
        user_site,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    assert "coinpkg/Coin-v0 | expert | 2 episodes kept" in collected.stdout


@pytest.mark.slow
def test_train_takes_a_registered_id(user_site, tmp_path):
    out = tmp_path / "run"
    trained = run(
        ["train", "env=coinpkg/Coin-v0", "model=tiny", "train.iterations=1", "train.tasks_per_iteration=2",
         "rollout.group_size=2", "rollout.max_turns=2", "eval.episodes=2", "train.tensorboard=false",
         f"train.output_dir={out}"],
        user_site,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith("coinpkg/Coin-v0 | grpo | tiny | 1 iterations")
    results = json.loads((out / "results.json").read_text())
    assert results["env"]["id"] == "coinpkg/Coin-v0" and results["env"]["config"]["kwargs"] == {}
