"""``benchmarks/learning.py`` end to end on a tiny model: zero-shot, SFT and SFT + RL rows, each start measured once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_learning_benchmark_writes_every_row_and_evaluates_each_start_once(tmp_path):
    small = ["rollout.max_turns=3", "train.tensorboard=false", "train.tasks_per_iteration=2", "rollout.group_size=2"]
    command = [sys.executable, str(ROOT / "benchmarks" / "learning.py"), "--envs", "guess", "--model", "tiny"]
    command += ["--seeds", "1", "--demos", "4", "--methods", "zero_shot,sft,grpo,dagger", "--eval-episodes", "2"]
    command += ["--env-steps", "8", "--out", str(tmp_path)]
    for override in [*small, "train.warmup.steps=2"]:
        command += ["--extra", override]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "learning.json").read_text())
    rows = report["envs"]["guess"]
    assert list(rows) == ["zero_shot", "sft_4", "sft_4+grpo", "sft_4+dagger"]
    assert all(row["seeds"] == 1 and 0 <= row["success"] <= 1 for row in rows.values())
    assert rows["sft_4+grpo"]["env_steps"] >= 8 and rows["zero_shot"]["env_steps"] == 0
    results = {name: json.loads((tmp_path / "guess" / f"{name}-s0" / "results.json").read_text()) for name in rows}
    phases = {name: [e["phase"] for e in r["evals"]] for name, r in results.items()}
    # the zero-shot weights are evaluated once, and the RL run does not re-measure the SFT run's final weights
    assert phases == {"zero_shot": ["start"], "sft_4": ["warm-up"], "sft_4+grpo": ["train"], "sft_4+dagger": ["train"]}
    assert "| guess | sft_4+grpo |" in (tmp_path / "learning.md").read_text()

    # the same command again reuses every finished run; a changed setting redoes only the runs it changes
    (tmp_path / "guess" / "sft_4+grpo-s0" / "results.json").unlink()  # as a run killed before it finished
    again = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("reusing the finished run") == 3
    rerun = json.loads((tmp_path / "learning.json").read_text())["envs"]["guess"]
    assert rerun["zero_shot"]["success"] == rows["zero_shot"]["success"] and list(rerun) == list(rows)
    # an RL row whose SFT start finished after it (the start was redone) is redone too
    # (the RL runs' results made older than the start's, not the start's newer: a start dated in the future stayed
    # newer than the redone runs too when they took under the 10 s it was moved by, and they were left out below)
    earlier = (tmp_path / "guess" / "sft_4-s0" / "results.json").stat().st_mtime - 10
    for rl in ("sft_4+grpo-s0", "sft_4+dagger-s0"):
        os.utime(tmp_path / "guess" / rl / "results.json", (earlier, earlier))
    redone = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert redone.returncode == 0, redone.stderr[-3000:]
    assert redone.stderr.count("reusing the finished run") == 2 and "sft_4+grpo-s0 (same config)" not in redone.stderr
    # --report-only trains nothing: seed 1 has no finished run, so the table is seed 0's
    seeds = command.index("--seeds") + 1
    report_only = [*command[:seeds], "2", *command[seeds + 1 :], "--report-only"]
    reported = subprocess.run(
        report_only, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert reported.returncode == 0, reported.stderr[-3000:]
    assert reported.stderr.count("not finished, left out of the table") == 3  # seed 1's SFT and RL runs
    assert not (tmp_path / "guess" / "sft_4-s1").exists()
    table = json.loads((tmp_path / "learning.json").read_text())["envs"]["guess"]
    assert list(table) == list(rows) and all(row["seeds"] == 1 for row in table.values())
    changed = [*command[: command.index("--eval-episodes") + 1], "3", *command[command.index("--eval-episodes") + 2 :]]
    changed_run = subprocess.run(
        changed, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert changed_run.returncode == 0 and "reusing" not in changed_run.stderr
