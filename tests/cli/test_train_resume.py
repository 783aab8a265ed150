"""A resume with other settings is refused unless forced, and a forced one is recorded (issue 28, item 5)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from agentrl.cli import main
from agentrl.cli.train import load_train_config
from agentrl.trainer.resume import check_resume

SMALL = [
    "env=guess",
    "model=tiny",
    "algo=grpo",
    "train.iterations=1",
    "train.tasks_per_iteration=2",
    "rollout.group_size=2",
    "rollout.max_turns=2",
    "agent.sampling.max_new_tokens=2",
    "eval.episodes=2",
    "train.tensorboard=false",
]


@pytest.fixture
def run(tmp_path) -> Path:
    """A run folder as a finished ``agentrl train *SMALL`` leaves it (a stand-in checkpoint: nothing loads it)."""
    out = tmp_path / "run"
    out.mkdir()
    cfg = load_train_config([*SMALL, f"train.output_dir={out}"])
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2, default=str))
    (out / "ckpt-000001.pt").write_bytes(b"not loaded: the settings are compared first")
    return out


def test_other_settings_are_refused_with_the_differences_listed(run, capsys):
    before = (run / "config.json").read_text()
    argv = ["train", *SMALL, f"train.output_dir={run}", "algo.pg.lr=0.01", "env.kwargs.high=100"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a run with other settings" in err
    assert "algo.pg.lr: 0.003 -> 0.01" in err and "env.kwargs.high: 10 -> 100" in err
    assert "train.resume=force" in err
    assert (run / "config.json").read_text() == before  # the run's record is untouched


def test_another_algorithm_is_named(run, capsys):
    assert main(["train", *SMALL, f"train.output_dir={run}", "algo=ppo"]) == 2
    err = capsys.readouterr().err
    assert "holds a grpo run" in err and "algo=ppo cannot resume it" in err
    # Not even force: the checkpoint holds another algorithm's state.
    assert main(["train", *SMALL, f"train.output_dir={run}", "algo=ppo", "train.resume=force"]) == 2
    assert "holds a grpo run" in capsys.readouterr().err


def test_length_bookkeeping_and_devices_may_change(run):
    cfg = load_train_config([*SMALL, f"train.output_dir={run}", "train.iterations=5", "train.eval_every=2"])
    assert check_resume(run, cfg) == {"train.iterations": (1, 5), "train.eval_every": (10, 2)}
    cfg = load_train_config([*SMALL, f"train.output_dir={run}", "eval.episodes=3"])
    with pytest.raises(ValueError, match=r"eval.episodes: 2 -> 3"):
        check_resume(run, cfg)
    forced = load_train_config([*SMALL, f"train.output_dir={run}", "eval.episodes=3", "train.resume=force"])
    assert check_resume(run, forced) == {"eval.episodes": (2, 3), "train.resume": ("auto", "force")}


def test_a_forced_resume_continues_and_is_recorded(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, f"train.output_dir={out}"]) == 0
    capsys.readouterr()
    changed = ["train.iterations=2", "algo.pg.lr=0.01", "train.resume=force"]
    assert main(["train", *SMALL, f"train.output_dir={out}", *changed]) == 0
    assert "resuming" in capsys.readouterr().err.replace("\n", "")
    (record,) = [json.loads(line) for line in (out / "config_changes.jsonl").read_text().splitlines()]
    assert record["iteration"] == 1 and record["resume"] == "force"
    assert record["changes"]["algo.pg.lr"] == [0.003, 0.01] and record["changes"]["train.iterations"] == [1, 2]
    results = json.loads((out / "results.json").read_text())
    assert results["iterations"] == 2 and results["config_changes"] == [record]
    assert json.loads((out / "config.json").read_text())["algo"]["pg"]["lr"] == 0.01
