"""``agentrl eval`` end to end with the tiny model: the results file records the protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_eval_writes_results_and_trajectories(tmp_path):
    out = subprocess.run(
        [
            sys.executable, "-m", "agentrl", "eval", "env=frozenlake", "model=tiny",
            "eval.episodes=3", "eval.seed=40", "rollout.max_turns=3", f"eval.output_dir={tmp_path}",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "agentrl/FrozenLake-v0 | tiny | 3 episodes | success" in out.stdout
    (result_file,) = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    assert results["seeds"] == [40, 41, 42]
    assert results["env"]["id"] == "agentrl/FrozenLake-v0" and results["model"]["name"] == "tiny"
    assert results["git_revision"] and results["agentrl_version"]
    low, high = results["success"]["ci95"]
    assert 0 <= low <= results["success"]["mean"] <= high <= 1
    assert len(results["per_episode"]) == 3 and results["agent"]["sampling"]["temperature"] == 0.0
    lines = Path(results["trajectories"]).read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["turns"][0]["prompt_ids"]


def test_eval_rejects_bad_settings(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "agentrl", "eval", "model=tiny", "eval.episodes=0", f"eval.output_dir={tmp_path}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2 and "eval.episodes must be at least 1" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "agentrl", "eval", "model=nonexistent"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 2 and "nonexistent" in out.stderr and "Traceback" not in out.stderr


def test_webshop_expert_is_evaluated_on_the_test_goals(tmp_path, capsys):
    from agentrl.cli import main

    assert main(["eval", "env=webshop", "agent=expert", "eval.episodes=6", f"eval.output_dir={tmp_path}"]) == 0
    printed = capsys.readouterr().out
    assert "agentrl/WebShop-v1 (test split) | expert | 6 episodes | success 1.000" in printed
    (result_file,) = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    assert results["env"]["split"] == "test" and results["env"]["kwargs"]["split"] == "test"
    assert results["agent"]["kind"] == "expert" and results["model"] is None
    # The same seeds, another split and a random agent: the protocol is the agent's only difference.
    assert main(["eval", "env=webshop", "agent=random", "eval.episodes=6", "eval.split=train",
                 f"eval.output_dir={tmp_path / 'r'}"]) == 0  # fmt: skip
    (random_file,) = (tmp_path / "r").glob("*.json")
    random = json.loads(random_file.read_text())
    assert random["seeds"] == results["seeds"] and random["env"]["split"] == "train"
    assert random["agent"]["kind"] == "random" and random["success"]["mean"] < 1


def test_expert_of_an_env_without_one_is_a_clear_error(tmp_path, capsys):
    from agentrl.cli import main

    code = main(["eval", "env=frozenlake", "agent=expert", "+env.kwargs.expert=false", f"eval.output_dir={tmp_path}"])
    assert code == 2 and "no expert action" in capsys.readouterr().err


def test_eval_split_overrides():
    from agentrl.envs.config import EnvConfig
    from agentrl.trainer.evaluate import EvalConfig, eval_env_overrides

    env = EnvConfig(id="agentrl/WebShop-v1", kwargs={"split": "train"}, held_out_split="test")
    assert eval_env_overrides(env, EvalConfig()) == ("test", {"split": "test"})
    assert eval_env_overrides(env, EvalConfig(split="eval")) == ("eval", {"split": "eval"})
    assert eval_env_overrides(env, EvalConfig(split="configured")) == ("train", {})
    kwargs = {"n_products": 50}
    assert eval_env_overrides(env, EvalConfig(env_kwargs=kwargs)) == ("test", {"n_products": 50, "split": "test"})
    # An env without splits is evaluated as configured (on seeds apart from training's).
    assert eval_env_overrides(EnvConfig(id="agentrl/Sokoban-v0"), EvalConfig()) == (None, {})
