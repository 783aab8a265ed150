"""Critic-free group baselines: GRPO, RLOO, REINFORCE++ and GiGPO.

* GRPO (Shao et al., 2024, DeepSeekMath): a trajectory's return normalised within its
  group of G same-seed rollouts, ``(R - mean_G) / (std_G + eps)``, broadcast to every
  generated token of every turn; ``std_normalize=False`` is Dr. GRPO's mean-only form.
* RLOO (Ahmadian et al., 2024): ``R_i`` minus the mean of the *other* members of the group.
* REINFORCE++ (Hu, 2025): the return whitened over the whole batch (no groups).
* GiGPO (Feng et al., 2025, verl-agent): ``A = A_episode + w * A_step``. ``A_episode`` is
  GRPO's; for ``A_step``, steps of one group whose raw current observation (no history)
  is identical form an *anchor-state* sub-group, and each step's discounted return
  ``R_t = sum_k gamma^(k-t) r_k`` (gamma 0.95) is normalised within its sub-group;
  singletons get 0. Invalid actions cost ``invalid_penalty`` (-0.1) on their turn.

Where this differs: the update is the shared clipped surrogate of
:mod:`agentrl.trainer.pg`; the penalty is configurable for every estimator (GiGPO's
paper applies it; the others default to 0).

GiGPO against verl-agent's ``core_gigpo`` (``algo=gigpo_verl`` sets all three to verl-agent's):

* ``episode_stats``: ``trajectory`` (agentrl) counts each trajectory once in its group's
  mean and std, as GRPO defines them; ``step`` (verl-agent) computes them over step rows,
  so a trajectory counts once per step and long (often failing) episodes pull the baseline.
* ``invalid_penalty_mode``: ``reward`` (agentrl) adds the penalty to the turn's reward, so it
  lowers the episode return and, discounted, the step returns of the turns before it;
  ``score`` (verl-agent) subtracts it from that step row's episode score and that step's
  discounted return only, so one trajectory's rows get different episode advantages.
* ``std_normalize``: True (agentrl, the paper's formula) divides by the group std; verl-agent's
  default ``mean_norm`` subtracts the mean only.

One difference is kept on purpose in both modes: a group of one gets advantage 0 (verl-agent
gives a lone episode row its raw score).

Options that combine with every estimator: EMPG (``empg.enabled``, :mod:`agentrl.trainer.empg`),
SPEAR (``spear.enabled``, :mod:`agentrl.trainer.spear`) and EPO (``pg.epo.enabled``, :mod:`agentrl.trainer.epo`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agentrl.agents.types import Trajectory
from agentrl.trainer.algorithm import AlgoContext, Needs, register_algorithm
from agentrl.trainer.batch import flatten_turns, observation_before, record_advantages, turn_batch
from agentrl.trainer.core_algos import (
    discounted_returns,
    group_normalize,
    hierarchical_weights,
    masked_mean,
    masked_whiten,
    rloo_advantages,
)
from agentrl.trainer.empg import EMPGConfig, modulate_rows
from agentrl.trainer.epo import EPOTerm
from agentrl.trainer.pg import PGConfig, make_optimizer, pg_update, score_batch
from agentrl.trainer.policy import LowerCache
from agentrl.trainer.spear import SelfImitation, SPEARConfig, intrinsic_rewards, replay_turn

ESTIMATORS = ("grpo", "rloo", "reinforce_pp", "gigpo")
EPISODE_STATS = ("trajectory", "step")
PENALTY_MODES = ("reward", "score")


@dataclass
class GRPOConfig:
    """GRPO, RLOO, REINFORCE++ or GiGPO (``estimator``) on the shared clipped update."""

    name: str = "grpo"
    """Algorithm name (``algo=NAME`` picks a file of ``configs/algo``)."""
    estimator: str = "grpo"
    """Advantage estimator: grpo, rloo, reinforce_pp or gigpo."""
    std_normalize: bool = True
    """Divide by the group's standard deviation (False: mean-only, Dr. GRPO)."""
    eps: float = 1e-6
    """Added to standard deviations."""
    step_weight: float = 1.0
    """GiGPO's w on the step-level advantage."""
    step_gamma: float = 0.95
    """GiGPO's discount for step returns."""
    invalid_penalty: float = 0.0
    """Reward added on a turn whose action was invalid (GiGPO: -0.1)."""
    episode_stats: str = "trajectory"
    """Episode-level group mean and std over: trajectory (each counts once) or step (verl-agent: once per step row)."""
    invalid_penalty_mode: str = "reward"
    """Where the invalid-action penalty goes: reward (the turn's reward, discounted into earlier turns) or score
    (verl-agent: that step row's episode score and that step's return only)."""
    empg: EMPGConfig = field(default_factory=EMPGConfig)
    """EMPG's entropy modulation of the advantages."""
    spear: SPEARConfig = field(default_factory=SPEARConfig)
    """SPEAR's intrinsic-reward curriculum and self-imitation replay."""
    pg: PGConfig = field(default_factory=PGConfig)
    """The clipped policy-gradient update."""

    def needs(self) -> Needs:
        return Needs(reference=self.pg.kl_coef > 0, replay=self.spear.enabled)

    def check(self) -> None:
        """Refuse unknown choices, naming the valid ones."""
        for key, value, valid in (
            ("estimator", self.estimator, ESTIMATORS),
            ("episode_stats", self.episode_stats, EPISODE_STATS),
            ("invalid_penalty_mode", self.invalid_penalty_mode, PENALTY_MODES),
        ):
            if value not in valid:
                raise ValueError(f"unknown algo.{key}={value!r}; choose one of {', '.join(valid)}")
        verl = (self.episode_stats, self.invalid_penalty_mode) != ("trajectory", "reward")
        if verl and self.estimator not in ("grpo", "gigpo"):
            raise ValueError(
                f"algo.episode_stats and algo.invalid_penalty_mode apply to grpo and gigpo, not {self.estimator}; "
                "leave them at trajectory and reward"
            )


def shaped_rewards(trajectories: Sequence[Trajectory], invalid_penalty: float) -> list[list[float]]:
    """Per-turn rewards with the invalid-action penalty added."""
    return [
        [turn.reward + (invalid_penalty if turn.info.get("invalid_action") else 0.0) for turn in t.turns]
        for t in trajectories
    ]


def episode_advantages(
    returns: Sequence[float], group_ids: Sequence[int], estimator: str, *, std_normalize: bool = True, eps: float = 1e-6
) -> list[float]:
    """One advantage per trajectory from its return and group."""
    scores = torch.tensor(list(returns), dtype=torch.float64)
    groups = torch.tensor(list(group_ids), dtype=torch.long)
    if estimator in ("grpo", "gigpo"):
        out = group_normalize(scores, groups, eps=eps, std_normalize=std_normalize)
    elif estimator == "rloo":
        out = rloo_advantages(scores, groups)
    elif estimator == "reinforce_pp":
        out = masked_whiten(scores, torch.ones_like(scores)) if len(scores) > 1 else torch.zeros_like(scores)
    else:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    return [float(x) for x in out]


def step_advantages(
    trajectories: Sequence[Trajectory],
    rewards: Sequence[Sequence[float]],
    gamma: float = 0.95,
    *,
    std_normalize: bool = True,
    eps: float = 1e-6,
    bonus: Sequence[Sequence[float]] | None = None,
) -> list[list[float]]:
    """GiGPO's step-level advantages: discounted returns normalised per anchor state.

    ``bonus`` (per turn) is added to each step's return after discounting (verl-agent's invalid-action penalty).
    """
    returns = step_returns(rewards, gamma)
    if bonus is not None:
        returns = [[r + b for r, b in zip(row, brow, strict=True)] for row, brow in zip(returns, bonus, strict=True)]
    anchors: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for i, trajectory in enumerate(trajectories):
        for t in range(len(trajectory.turns)):
            anchors[(trajectory.group_id, observation_before(trajectory, t))].append((i, t))
    advantages = [[0.0] * len(r) for r in returns]
    for members in anchors.values():
        if len(members) < 2:
            continue
        values = torch.tensor([returns[i][t] for i, t in members], dtype=torch.float64)
        centred = values - values.mean()
        std = values.std()
        if std_normalize and std > 0:
            centred = centred / (std + eps)
        for (i, t), value in zip(members, centred.tolist(), strict=True):
            advantages[i][t] = value
    return advantages


def step_returns(rewards: Sequence[Sequence[float]], gamma: float) -> list[list[float]]:
    """``R_t = sum_k gamma^(k-t) r_k`` per turn of each trajectory."""
    width = max((len(r) for r in rewards), default=0)
    if width == 0:
        return [[] for _ in rewards]
    padded = torch.zeros(len(rewards), width, dtype=torch.float64)
    mask = torch.zeros_like(padded)
    for i, row in enumerate(rewards):
        padded[i, : len(row)] = torch.tensor(list(row), dtype=torch.float64)
        mask[i, : len(row)] = 1.0
    out = discounted_returns(padded, mask, gamma)
    return [out[i, : len(row)].tolist() for i, row in enumerate(rewards)]


def _normalise_rows(
    rows: Sequence[Sequence[float]], groups: Sequence[int], per_step: bool, std_normalize: bool, eps: float
) -> list[list[float]]:
    """Group-normalise per-row scores (one list per trajectory); the statistics come from every row
    (``per_step``) or from each trajectory once, as the mean of its rows."""
    population: dict[int, list[float]] = defaultdict(list)
    for row, group in zip(rows, groups, strict=True):
        if per_step:
            population[group].extend(row)
        elif row:
            population[group].append(sum(row) / len(row))
    out = []
    for row, group in zip(rows, groups, strict=True):
        values = torch.tensor(population[group], dtype=torch.float64)
        if len(values) < 2:
            out.append([0.0] * len(row))
            continue
        mean, std = float(values.mean()), float(values.std())
        if std_normalize:
            out.append([(x - mean) / (std + eps) if std > 0 else 0.0 for x in row])
        else:
            out.append([x - mean for x in row])
    return out


def turn_advantages(
    trajectories: Sequence[Trajectory], cfg: GRPOConfig, extra: Sequence[Sequence[float]] | None = None
) -> list[list[float]]:
    """The advantage of every turn of every trajectory under ``cfg.estimator``.

    Args:
        trajectories: The batch.
        cfg: Estimator settings (``episode_stats`` and ``invalid_penalty_mode`` apply to grpo and gigpo).
        extra: Rewards added to each turn (SPEAR's intrinsic reward), treated as env rewards.
    """
    cfg.check()
    penalties = [
        [cfg.invalid_penalty if turn.info.get("invalid_action") else 0.0 for turn in t.turns] for t in trajectories
    ]
    rewards = [[turn.reward for turn in t.turns] for t in trajectories]
    if extra is not None:
        rewards = [[r + e for r, e in zip(row, erow, strict=True)] for row, erow in zip(rewards, extra, strict=True)]
    in_reward = cfg.invalid_penalty_mode == "reward"
    if in_reward:
        rewards = [
            [r + p for r, p in zip(row, prow, strict=True)] for row, prow in zip(rewards, penalties, strict=True)
        ]
    groups = [t.group_id for t in trajectories]
    if cfg.estimator in ("grpo", "gigpo") and (cfg.episode_stats == "step" or not in_reward):
        scores = [
            [sum(row) + (0.0 if in_reward else p) for p in prow] for row, prow in zip(rewards, penalties, strict=True)
        ]
        out = _normalise_rows(scores, groups, cfg.episode_stats == "step", cfg.std_normalize, cfg.eps)
    else:
        episode = episode_advantages(
            [sum(r) for r in rewards], groups, cfg.estimator, std_normalize=cfg.std_normalize, eps=cfg.eps
        )
        out = [[a] * len(t.turns) for a, t in zip(episode, trajectories, strict=True)]
    if cfg.estimator == "gigpo":
        steps = step_advantages(
            trajectories,
            rewards,
            cfg.step_gamma,
            std_normalize=cfg.std_normalize,
            eps=cfg.eps,
            bonus=None if in_reward else penalties,
        )
        out = [
            [a + cfg.step_weight * s for a, s in zip(row, srow, strict=True)]
            for row, srow in zip(out, steps, strict=True)
        ]
    return out


@register_algorithm(
    "grpo",
    GRPOConfig,
    summary="GRPO: the return normalised within each group of same-seed rollouts",
    aliases=(
        ("rloo", "RLOO: the return minus the mean of the group's other members"),
        ("reinforce_pp", "REINFORCE++: the return whitened over the whole batch"),
        ("gigpo", "GiGPO: GRPO's episode advantage plus an anchor-state step advantage"),
        (
            "gigpo_verl",
            "GiGPO computed as verl-agent's core_gigpo: per-step statistics, penalty on the score, mean-only",
        ),
    ),
)
class GRPO:
    """The GRPO family: group-relative advantages, then the clipped update.

    Args:
        cfg: Estimator and update settings.
        ctx: The policy, pad id, rollout temperature (log-probs are taken at it) and seed
            (minibatch shuffling).
    """

    def __init__(self, cfg: GRPOConfig, ctx: AlgoContext):
        cfg.check()
        self.policy, self.cfg = ctx.policy, cfg
        self.temperature, self.pad_id = ctx.temperature, ctx.pad_id
        params = (p for _, p in self.policy.trainable_named_parameters())
        self.optimizer = make_optimizer(params, cfg.pg.lr, cfg.pg.weight_decay)
        self.generator = torch.Generator().manual_seed(ctx.seed)
        self.epo = EPOTerm(cfg.pg.epo, ctx.iterations) if cfg.pg.epo.enabled else None
        self.sil = SelfImitation(cfg.spear, ctx.seed) if cfg.spear.enabled else None
        self.cache = LowerCache(self.policy, cfg.pg.lower_cache_mb)

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        """One update on a batch of rollouts (groups of same-seed copies)."""
        extra = intrinsic_rewards(trajectories, self.cfg.spear, iteration) if self.sil is not None else None
        advantages = turn_advantages(trajectories, self.cfg, extra)
        turns, where = flatten_turns(trajectories)
        if not turns:
            return {}
        stats: dict[str, float] = {}
        replayed, replay_adv = self.sil.sample() if self.sil is not None else ([], [])
        gamma_k = self.sil.weight(iteration) if self.sil is not None else 0.0
        if gamma_k <= 0:
            replayed, replay_adv = [], []
        n = len(turns)
        rows = [*turns, *(replay_turn(e) for e in replayed)]
        batch = turn_batch(rows, self.pad_id)
        wants_entropy = self.epo is not None or self.cfg.empg.enabled
        batch.fields.update(
            score_batch(
                self.policy, batch, self.cfg.pg, self.temperature, entropy=wants_entropy, cache=self.cache, turns=rows
            )
        )
        mask = batch.response_mask
        per_row = torch.tensor([advantages[i][t] for i, t in where], dtype=torch.float32)
        if self.cfg.empg.enabled:
            per_row = modulate_rows(per_row, batch.fields["old_entropy"][:n], mask[:n], where, self.cfg.empg)
        token_adv = batch.per_token(torch.cat([per_row, torch.tensor(replay_adv, dtype=torch.float32) * gamma_k]))
        if replayed:
            assert self.sil is not None
            stored = torch.zeros_like(mask)
            for row, entry in enumerate(replayed, start=n):
                start = len(entry.prompt_ids) - 1
                stored[row, start : start + len(entry.logprobs)] = torch.tensor(entry.logprobs)
            clip = (self.cfg.pg.clip_low, self.cfg.pg.clip_high)
            chosen = self.sil.clip_cov(token_adv[n:], batch.fields["old_logprobs"][n:], stored[n:], mask[n:], clip)
            token_adv[n:] = torch.where(chosen, 0.0, token_adv[n:])
            batch.fields["old_logprobs"][n:] = stored[n:]  # the SIL loss is PPO-clip against the stored log-probs
            stats.update(sil_turns=float(len(replayed)), sil_weight=gamma_k, clip_cov_tokens=float(chosen.sum()))
        batch.fields["advantages"] = token_adv
        record_advantages(turns, token_adv[:n])  # agentrl view colours tokens by them
        if self.epo is not None:
            on_policy = mask.clone()
            on_policy[n:] = 0.0  # EPO's entropy terms are over this iteration's turns
            batch.fields["epo_weight"] = hierarchical_weights(
                on_policy, torch.tensor([i for i, _ in where] + [-1] * len(replayed))
            )
        stats.update(
            pg_update(
                self.policy,
                self.optimizer,
                batch,
                self.cfg.pg,
                temperature=self.temperature,
                generator=self.generator,
                epo=self.epo,
                iteration=iteration,
                cache=self.cache,
                turns=rows,
            )
        )
        self.cache.clear()
        if self.epo is not None:
            self.epo.observe(float(masked_mean(batch.fields["old_entropy"][:n], mask[:n])))
        if self.sil is not None:
            returns = [
                sum(r) + sum(e)
                for r, e in zip(shaped_rewards(trajectories, self.cfg.invalid_penalty), extra or [], strict=True)
            ]
            self.sil.add(trajectories, advantages, returns, iteration)
            stats["sil_buffer"] = float(len(self.sil.entries))
        stats["advantage_abs_mean"] = float(per_row.abs().mean())
        stats["zero_signal"] = float(bool(per_row.abs().max() < 1e-6) and not replayed)  # nothing to learn
        stats["rollout_logprob_gap"] = _logprob_gap(turns, batch)
        return stats

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}
        if self.epo is not None:
            state["epo"] = self.epo.state_dict()
        if self.sil is not None:
            state["spear"] = self.sil.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if self.epo is not None and "epo" in state:  # a checkpoint from before EPO was turned on has none
            self.epo.load_state_dict(state["epo"])
        if self.sil is not None and "spear" in state:
            self.sil.load_state_dict(state["spear"])


def _logprob_gap(turns: Sequence[Any], batch: Any) -> float:
    """Mean |stored rollout log-prob - recomputed log-prob|: 0 up to numerics when on-policy."""
    stored = torch.zeros_like(batch.response_mask[: len(turns)])
    for row, turn in enumerate(turns):
        start = len(turn.prompt_ids) - 1
        stored[row, start : start + len(turn.response_logprobs)] = torch.tensor(turn.response_logprobs)
    n = len(turns)  # SPEAR's replayed rows come after and are off-policy by design
    diff = (stored - batch.fields["old_logprobs"][:n]).abs() * batch.response_mask[:n]
    return float(diff.sum() / batch.response_mask[:n].sum().clamp(min=1))
