"""Whether a batch can teach the policy anything, and what to tell the user when it cannot.

An update on rollouts that all did equally well (every episode scored 0, every action
invalid) has no contrast to learn from: group-relative advantages are all 0, the
gradient is 0, and the run spends its iterations standing still. Each algorithm reports
``zero_signal`` (1.0 or 0.0) in its statistics by its own measure (GRPO: every advantage
is 0; PPO: no reward tells the trajectories apart; ArCHer: nothing in the replay buffer
does; filtered BC: nothing to keep or nothing to prefer); the loop also counts a zero
gradient norm, logs ``zero_signal`` with every iteration and, the first time it is 1,
shows :func:`no_signal_message`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentrl.agents.types import Trajectory


def reward_contrast(rewards: Sequence[Sequence[float]]) -> bool:
    """Whether per-turn rewards tell trajectories apart.

    False when every reward is 0, or when every trajectory got the same rewards turn by
    turn (the same length included): no return, discounted or not, can then prefer one
    trajectory, or one action, over another.

    Args:
        rewards: Each trajectory's per-turn rewards (shaped, as the algorithm learns from them).
    """
    flat = [r for row in rewards for r in row]
    if all(r == 0 for r in flat):
        return False
    return any(list(row) != list(rewards[0]) for row in rewards)


def zero_signal(stats: Mapping[str, float]) -> bool:
    """Whether an update's (rank-averaged) statistics say it carried no learning signal.

    Either the algorithm said so on every rank (``zero_signal`` of 1) or the gradient was exactly 0.
    """
    return stats.get("zero_signal", 0.0) >= 1.0 or stats.get("grad_norm", 1.0) == 0.0


def no_signal_message(
    iteration: int, total: int, trajectories: Sequence[Trajectory], stats: Mapping[str, float]
) -> str:
    """One clear warning for an iteration whose batch carried no learning signal: what was seen, what to change.

    ``iteration`` counts from 0, as the loop and metrics.jsonl do; the message names it as the progress lines do
    (``iteration 7/8`` for the seventh of eight)."""
    facts = []
    if trajectories:
        returns = [t.total_reward for t in trajectories]
        low, high = min(returns), max(returns)
        n = len(trajectories)
        facts.append(f"all {n} trajectories returned {low:g}" if low == high else f"{n} trajectories")
        turns = [turn for t in trajectories for turn in t.turns]
        invalid = sum(bool(turn.info.get("invalid_action")) for turn in turns) / max(len(turns), 1)
        facts.append(f"{invalid:.0%} invalid actions")
    else:
        invalid = 0.0
    seen = f" ({', '.join(facts)})" if facts else ""
    why = []
    if stats.get("zero_signal", 0.0) >= 1.0:
        why.append("nothing told the trajectories apart (no advantage to follow)")
    if stats.get("grad_norm", 1.0) == 0.0:
        why.append("the gradient was 0")
    fixes = [
        "start from a competent policy (algo=sft on `agentrl collect agent=expert` data, "
        "then train.init_from=THAT_RUN)",
        "raise rollout.group_size or train.tasks_per_iteration so that some episodes differ",
        "raise agent.sampling.temperature",
    ]
    if invalid > 0.5:
        fixes.insert(
            0,
            "check why the actions are invalid (`agentrl play ENV` shows the action format; replies cut off by "
            "agent.sampling.max_new_tokens are invalid too)",
        )
    return (
        f"iteration {iteration + 1}/{total}: the batch carried no learning signal{seen}: {' and '.join(why)}. "
        f"The update changed nothing useful. To fix: {'; '.join(fixes)}. "
        "(Shown once; metrics.jsonl marks every such iteration with zero_signal=1.)"
    )
