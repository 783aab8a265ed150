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
