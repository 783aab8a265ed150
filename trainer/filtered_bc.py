"""Filtered behaviour cloning (``algo=filtered_bc``): imitate the best of the policy's own rollouts.

Online filtered BC, also called rejection-sampling fine-tuning or expert iteration:
each iteration plays fresh rollouts, keeps the top ``keep_fraction`` of them by return
(exactly ``ceil(keep_fraction * n)`` trajectories; ties go to the earlier one), and
takes supervised steps on their turns (:func:`agentrl.trainer.sft.supervised_step`).
It is ArCHer's strongest baseline (Zhou et al., 2024 keep the top 10% on WebShop) and
the expert-iteration step of proof search. With ``min_return`` set, kept trajectories
must also reach that return, so an iteration of failures teaches nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.types import Trajectory
from agentrl.trainer.algorithm import AlgoContext, Needs, register_algorithm
from agentrl.trainer.sft import OnlineSupervised, SupervisedConfig, demonstration_turns


@dataclass
class FilteredBCConfig:
    """Filtered behaviour cloning on the policy's own best rollouts."""

    name: str = "filtered_bc"
    """Algorithm name (``algo=NAME`` picks a file of ``configs/algo``)."""
    keep_fraction: float = 0.1
    """Share of each iteration's trajectories kept, by return (ArCHer's baseline: the top 10%)."""
    min_return: float | None = None
    """Keep only trajectories whose return reaches this (None: the top share whatever its return)."""
    epochs: int = 1
    """Passes over the kept turns per iteration."""
    update: SupervisedConfig = field(default_factory=SupervisedConfig)
    """Learning rate and batching (the schedule runs over the whole run)."""

    def needs(self) -> Needs:
        return Needs()


def top_share(trajectories: Sequence[Trajectory], keep_fraction: float, min_return: float | None = None) -> list[int]:
    """Indices of the ``ceil(keep_fraction * n)`` highest-return trajectories, in order.

    Ties go to one episode of each task (``group_id``) before a second of any, then to the earlier: with a 0/1
    return, "the earlier" alone kept the wins of the first tasks of the batch only (6 of 64 episodes: the copies of
    one or two tasks), so the policy was cloned on one task's path.
    """
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    count = math.ceil(keep_fraction * len(trajectories))
    seen: dict[int, int] = {}
    copy_index = []
    for trajectory in trajectories:
        copy_index.append(seen.get(trajectory.group_id, 0))
        seen[trajectory.group_id] = copy_index[-1] + 1
    ranked = sorted(range(len(trajectories)), key=lambda i: (-trajectories[i].total_reward, copy_index[i], i))[:count]
    if min_return is not None:
        ranked = [i for i in ranked if trajectories[i].total_reward >= min_return]
    return sorted(ranked)


@register_algorithm(
    "filtered_bc", FilteredBCConfig, summary="Filtered BC: fine-tune on the top share of fresh rollouts by return"
)
class FilteredBC:
    """See the module docstring.

    Args:
        cfg: The share kept and the supervised update.
        ctx: The policy, pad id, seed (batch order) and the run's length (the schedule).
    """

    def __init__(self, cfg: FilteredBCConfig, ctx: AlgoContext):
        top_share([], cfg.keep_fraction)  # validates keep_fraction before any rollout
        self.cfg, self.ctx = cfg, ctx
        self.learner = OnlineSupervised(cfg.update, cfg.epochs, ctx)

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        kept = top_share(trajectories, self.cfg.keep_fraction, self.cfg.min_return)
        turns = demonstration_turns([trajectories[i] for i in kept], only_successful=False)
        stats: dict[str, Any] = {
            "kept_trajectories": float(len(kept)),
            "kept_return": float(sum(trajectories[i].total_reward for i in kept) / max(len(kept), 1)),
            # Nothing kept, or every return equal (the kept share is then an arbitrary pick): nothing to prefer.
            "zero_signal": float(not turns or len({t.total_reward for t in trajectories}) < 2),
        }
        if not turns:
            return stats
        stats.update(self.learner.train(turns))
        return stats

    def state_dict(self) -> dict[str, Any]:
        return self.learner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state)
