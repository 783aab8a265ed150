"""Viewer fixtures: run folders, an evaluation and a dataset written the way agentrl writes them, plus damage."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agentrl.agents.types import Trajectory, Turn, save_jsonl
from agentrl.viewer.index import TrajectoryIndex

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201ee7c2ae80000000049454e44ae426082"
)
"""A 1x1 PNG: a screenshot stand-in for the fast tests (the browser test takes real ones)."""


def make_trajectory(seed: int, *, won: bool, invalid: bool = False, image: bytes | None = None) -> Trajectory:
    turns = []
    for k in range(3):
        last = k == 2
        info = {
            "task": f"task {seed}",
            "won": won and last,
            "score": 1.0 if won and last else 0.0,
            "invalid_action": invalid and k == 1,
            "expert_action": f"go {k + 1}",
            "task_type": "pick" if seed % 2 else "place",
        }
        if image is not None:
            info["image"] = image
        turns.append(
            Turn(
                prompt_ids=[1, 2, 3],
                response_ids=[5, 6, 7, 8],
                response_logprobs=[-0.1, -2.5, -0.01, -5.0],
                action_text=f"go {k}",
                observation_text=f"you went {k}" if not (invalid and k == 1) else "Invalid action: go 1",
                reward=1.0 if won and last else 0.0,
                terminated=last,
                truncated=False,
                info=info,
                response_text=f"I go {k}",
                advantages=[0.5, 0.5, -0.25, 0.0],
            )
        )
    return Trajectory("agentrl/Toy-v0", seed, str(seed), seed, f"start {seed}", f"task {seed}", turns)


def write_run(folder: Path, seed: int, *, successes: list[float], episodes: int = 6) -> Path:
    folder.mkdir(parents=True)
    config = {"env": {"id": "agentrl/Toy-v0"}, "algo": {"name": "grpo"}, "model": {"name": "tiny"}}
    config["train"] = {"seed": seed, "iterations": len(successes), "output_dir": str(folder)}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "status.json").write_text(json.dumps({"status": "finished", "wall_seconds": 12.5}))
    rng = random.Random(seed)
    lines = []
    for i, s in enumerate(successes):
        lines.append(
            {
                "kind": "train",
                "iteration": i,
                "env_steps": 10 * (i + 1),
                "success": s,
                "return": s + rng.random() * 0.1,
                "invalid_action_rate": 0.5 - s / 2,
                "entropy": 1.0 - 0.1 * i,
                "kl": 0.01 * i,
                "rollout_tokens_per_s": 100.0 + i,
            }
        )
        lines.append(
            {
                "kind": "eval",
                "iteration": i + 1,
                "env_steps": 10 * (i + 1),
                "success": s,
                "success_ci95": [0, 1],
                "expert_agreement": 0.5 + s / 2,
            }
        )
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    trajectories = [make_trajectory(k, won=k % 3 == 0, invalid=k % 2 == 1) for k in range(episodes)]
    save_jsonl(trajectories, folder / "rollouts" / "iter-00000.jsonl")
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """runs/: two seeds of one setting, an evaluation with screenshots, a dataset, and a damaged run."""
    root = tmp_path / "runs"
    run = write_run(root / "train" / "toy-grpo-s0", 0, successes=[0.0, 0.25, 0.5])
    save_jsonl([make_trajectory(k, won=k == 0) for k in range(2)], run / "evals" / "iter-00003-train.jsonl")
    write_run(root / "train" / "toy-grpo-s1", 1, successes=[0.0, 0.5, 0.75])
    evaluation = root / "eval"
    trajectories = [make_trajectory(k, won=k % 2 == 0, image=PNG) for k in range(4)]
    save_jsonl(trajectories, evaluation / "Toy-v0-expert-0123abcd.trajectories.jsonl")
    results = {"complete": True, "success": {"mean": 0.5, "ci95": [0.15, 0.85]}, "episodes": 4}
    results["env"] = {"id": "agentrl/Toy-v0", "split": "test"}
    (evaluation / "Toy-v0-expert-0123abcd.json").write_text(json.dumps(results))
    broken = write_run(root / "train" / "broken", 0, successes=[0.0, 0.5])
    with (broken / "metrics.jsonl").open("a") as handle:
        handle.write('{"kind": "train", "iter')  # cut off mid-write
    rollouts = broken / "rollouts" / "iter-00000.jsonl"
    text = rollouts.read_text().splitlines(keepends=True)
    text.insert(2, "this is not JSON\n")
    rollouts.write_text("".join(text) + '{"env_id": "agentrl/Toy-v0", "turns": [')  # a partial last line
    return root


@pytest.fixture
def index(tmp_path: Path) -> TrajectoryIndex:
    return TrajectoryIndex(tmp_path / "index.sqlite")


@pytest.fixture(name="make_trajectory")
def make_trajectory_fixture():
    return make_trajectory


@pytest.fixture(name="png")
def png_fixture() -> bytes:
    return PNG


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A real one-iteration PPO run of the tiny model on GuessNumber that keeps its training batch."""
    from agentrl.cli import main

    out = tmp_path_factory.mktemp("trained") / "guess-ppo-tiny-s0"
    code = main(
        [
            "train",
            "algo=ppo",
            "env=guess",
            "model=tiny",
            "train.iterations=1",
            "train.tasks_per_iteration=2",
            "rollout.group_size=2",
            "rollout.max_turns=2",
            "agent.sampling.max_new_tokens=6",
            "eval.episodes=2",
            "train.tensorboard=false",
            "train.save_trajectories=true",
            f"train.output_dir={out}",
        ]
    )
    assert code == 0
    return out
