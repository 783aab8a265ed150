"""The fixed-seed evaluation protocol: same seeds, same settings, numbers with error bars.

An evaluation plays ``episodes`` episodes on the seeds ``seed, seed+1, ...`` (one copy
each, greedy decoding by default) and reports the success rate with a Wilson 95%
interval and the mean score and return with normal 95% intervals. The results file
records what produced the numbers: env id and arguments, model, sampling, seeds,
agentrl's version and git revision.
"""

from __future__ import annotations

import math
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrl.agents.types import Trajectory

Z95 = 1.959963984540054


@dataclass
class EvalConfig:
    """The evaluation protocol."""

    episodes: int = 20
    """Episodes to play, one per seed."""
    seed: int = 10_000
    """First seed; eval seeds are ``seed .. seed + episodes - 1`` (kept apart from training seeds)."""
    output_dir: str = "runs/eval"
    """Where the results JSON and the trajectories JSONL go."""


def eval_seeds(cfg: EvalConfig) -> list[int]:
    if cfg.episodes < 1:
        raise ValueError(f"eval.episodes must be at least 1, got {cfg.episodes}")
    return list(range(cfg.seed, cfg.seed + cfg.episodes))


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (well-behaved at 0 and 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def mean_interval(values: Sequence[float], z: float = Z95) -> dict[str, Any]:
    """Mean with a normal-approximation 95% interval (the interval is the mean alone for n < 2)."""
    mean = statistics.fmean(values) if values else 0.0
    if len(values) < 2:
        return {"mean": mean, "ci95": [mean, mean]}
    half = z * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": mean, "ci95": [mean - half, mean + half]}


def summarize(trajectories: Sequence[Trajectory]) -> dict[str, Any]:
    """Success, score, return, length and invalid-action rate over episodes."""
    wins = sum(t.won for t in trajectories)
    n = len(trajectories)
    turns = sum(len(t.turns) for t in trajectories)
    invalid = sum(bool(turn.info.get("invalid_action")) for t in trajectories for turn in t.turns)
    return {
        "episodes": n,
        "success": {"mean": wins / n if n else 0.0, "ci95": list(wilson_interval(wins, n))},
        "score": mean_interval([t.score for t in trajectories]),
        "return": mean_interval([t.total_reward for t in trajectories]),
        "mean_turns": turns / n if n else 0.0,
        "invalid_action_rate": invalid / turns if turns else 0.0,
    }


def git_revision(path: str | Path | None = None) -> str:
    """The commit of the checkout holding ``path`` (agentrl's own by default), or ``unknown``."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=where, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
