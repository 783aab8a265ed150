"""Token-level PPO for multi-turn agents (Schulman et al., 2017; the RLHF-style form).

A scalar value head on the policy LM scores every prefix. For one trajectory, the
tokens the model generated in all its turns are laid end to end; the env's reward of
a turn sits on that turn's last token; GAE runs over this sequence with the
environment tokens (prompts, observations) masked out, so the chain jumps from the
last token of turn t to the first token of turn t+1 (Zhou et al.'s "flattened turn
tokens"). Advantages are whitened over the batch; the actor takes the clipped
surrogate and the value head the clipped value loss, in one backward pass.

Where this differs from single-turn RLHF PPO: no per-token KL in the reward (use
``pg.kl_coef`` for a KL loss instead), and a truncated episode bootstraps 0 after its
last token (its next state was never scored).

Options: EMPG (``empg.enabled``) scales and shifts each turn's token advantages by its
entropy after whitening; EPO (``pg.epo.enabled``) adds its entropy regulariser. POAD
(:mod:`agentrl.trainer.poad`) is this algorithm with a different discount inside an utterance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agentrl.agents.types import Trajectory
from agentrl.trainer.algorithm import AlgoContext, Needs, register_algorithm
from agentrl.trainer.batch import TokenBatch, flatten_turns, record_advantages, turn_batch
from agentrl.trainer.core_algos import gae, hierarchical_weights, masked_mean, masked_whiten
from agentrl.trainer.empg import EMPGConfig, modulate_tokens
from agentrl.trainer.epo import EPOTerm
from agentrl.trainer.grpo import shaped_rewards
from agentrl.trainer.learning_signal import reward_contrast
from agentrl.trainer.pg import PGConfig, make_optimizer, pg_update, score_batch
from agentrl.trainer.policy import LowerCache


@dataclass
class PPOConfig:
    """Token-level PPO with a value head."""

    name: str = "ppo"
    """Algorithm name (``algo=NAME`` picks a file of ``configs/algo``)."""
    gamma: float = 1.0
    """Discount per generated token."""
    lam: float = 0.95
    """GAE lambda."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    value_clip: float | None = 0.2
    """Clip of the value change per update (None: unclipped)."""
    critic_lr: float | None = None
    """Learning rate of the value head (None: the actor's)."""
    whiten_advantages: bool = True
    """Normalise advantages over the batch's tokens."""
    invalid_penalty: float = 0.0
    """Reward added on a turn whose action was invalid."""
    empg: EMPGConfig = field(default_factory=EMPGConfig)
    """EMPG's entropy modulation of the advantages."""
    pg: PGConfig = field(default_factory=PGConfig)
    """The clipped policy-gradient update."""

    def needs(self) -> Needs:
        return Needs(value_head=True, reference=self.pg.kl_coef > 0)


def trajectory_gae(
    batch: TokenBatch,
    where: Sequence[tuple[int, int]],
    rewards: Sequence[Sequence[float]],
    terminal: Sequence[bool],
    values: torch.Tensor,
    gamma: float,
    lam: float,
    turn_gamma: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over each trajectory's generated tokens, returned in the batch's ``[B, L-1]`` layout.

    ``gamma`` discounts from one generated token to the next; ``turn_gamma`` (None: ``gamma``) from the last
    token of a turn to the first of the next (POAD's BAD: ``gamma = 1`` inside, ``turn_gamma`` between turns).
    """
    mask = batch.response_mask
    positions: dict[int, list[tuple[int, int]]] = {}  # trajectory -> [(row, position)] in order
    token_rewards: dict[int, list[float]] = {}
    discounts: dict[int, list[float]] = {}
    between = gamma if turn_gamma is None else turn_gamma
    for row, (i, t) in enumerate(where):
        cols = mask[row].nonzero().flatten().tolist()
        positions.setdefault(i, []).extend((row, c) for c in cols)
        token_rewards.setdefault(i, []).extend([0.0] * (len(cols) - 1) + [rewards[i][t]])
        discounts.setdefault(i, []).extend([gamma] * (len(cols) - 1) + [between])
    order = sorted(positions)
    length = max(len(positions[i]) for i in order)
    flat_r = torch.zeros(len(order), length)
    flat_v = torch.zeros(len(order), length)
    flat_m = torch.zeros(len(order), length)
    flat_d = torch.zeros(len(order), length)
    flat_g = torch.ones(len(order), length)
    for k, i in enumerate(order):
        n = len(positions[i])
        rows, cols = [r for r, _ in positions[i]], [c for _, c in positions[i]]
        flat_r[k, :n] = torch.tensor(token_rewards[i])
        flat_g[k, :n] = torch.tensor(discounts[i])
        flat_v[k, :n] = values[rows, cols]
        flat_m[k, :n] = 1.0
        flat_d[k, n - 1] = float(terminal[i])
    adv, ret = gae(flat_r, flat_v, flat_m, flat_g, lam, dones=flat_d)
    advantages = torch.zeros_like(mask)
    returns = torch.zeros_like(mask)
    for k, i in enumerate(order):
        rows, cols = [r for r, _ in positions[i]], [c for _, c in positions[i]]
        n = len(rows)
        advantages[rows, cols] = adv[k, :n]
        returns[rows, cols] = ret[k, :n]
    return advantages, returns


@register_algorithm("ppo", PPOConfig, summary="PPO: token-level GAE with a value head on the policy, clipped update")
class PPO:
    """Token-level PPO with a value head on the policy.

    Args:
        cfg: PPO settings.
        ctx: The policy (built with a value head: :meth:`PPOConfig.needs`), pad id, rollout
            temperature and seed (minibatch shuffling).
    """

    def __init__(self, cfg: PPOConfig, ctx: AlgoContext):
        policy = ctx.policy
        if policy.value_head is None:
            raise ValueError("PPO needs a policy with a value head")
        self.policy, self.cfg = policy, cfg
        self.temperature, self.pad_id = ctx.temperature, ctx.pad_id
        head = set(id(p) for p in policy.value_head.parameters())
        actor = [p for _, p in policy.trainable_named_parameters() if id(p) not in head]
        groups = [
            {"params": actor, "lr": cfg.pg.lr},
            {"params": list(policy.value_head.parameters()), "lr": cfg.critic_lr or cfg.pg.lr},
        ]
        self.optimizer = make_optimizer(groups, cfg.pg.lr, cfg.pg.weight_decay)
        self.generator = torch.Generator().manual_seed(ctx.seed)
        self.epo = EPOTerm(cfg.pg.epo, ctx.iterations) if cfg.pg.epo.enabled else None
        self.cache = LowerCache(policy, cfg.pg.lower_cache_mb)

    def advantages(
        self,
        batch: TokenBatch,
        where: Sequence[tuple[int, int]],
        rewards: Sequence[Sequence[float]],
        terminal: Sequence[bool],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token-level GAE with ``gamma`` per token (POAD overrides the discount inside an utterance)."""
        values = batch.fields["old_values"]
        return trajectory_gae(batch, where, rewards, terminal, values, self.cfg.gamma, self.cfg.lam)

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        turns, where = flatten_turns(trajectories)
        if not turns:
            return {}
        batch = turn_batch(turns, self.pad_id)
        wants_entropy = self.epo is not None or self.cfg.empg.enabled
        batch.fields.update(
            score_batch(
                self.policy,
                batch,
                self.cfg.pg,
                self.temperature,
                values=True,
                entropy=wants_entropy,
                cache=self.cache,
                turns=turns,
            )
        )
        rewards = shaped_rewards(trajectories, self.cfg.invalid_penalty)
        terminal = [bool(t.turns and t.turns[-1].terminated) for t in trajectories]
        advantages, returns = self.advantages(batch, where, rewards, terminal)
        mask = batch.response_mask
        if self.cfg.whiten_advantages:
            advantages = masked_whiten(advantages, mask) * mask
        if self.cfg.empg.enabled:
            advantages = modulate_tokens(advantages, batch.fields["old_entropy"], mask, where, self.cfg.empg)
        if self.epo is not None:
            batch.fields["epo_weight"] = hierarchical_weights(mask, torch.tensor([i for i, _ in where]))
        batch.fields["advantages"] = advantages
        record_advantages(turns, advantages)  # agentrl view colours tokens by them
        batch.fields["returns"] = returns
        stats = pg_update(
            self.policy,
            self.optimizer,
            batch,
            self.cfg.pg,
            temperature=self.temperature,
            generator=self.generator,
            value_coef=self.cfg.value_coef,
            value_clip=self.cfg.value_clip,
            epo=self.epo,
            iteration=iteration,
            cache=self.cache,
            turns=turns,
        )
        self.cache.clear()
        if self.epo is not None:
            self.epo.observe(float(masked_mean(batch.fields["old_entropy"], mask)))
        stats["zero_signal"] = float(not reward_contrast(rewards))
        stats["value_mean"] = float((batch.fields["old_values"] * mask).sum() / mask.sum().clamp(min=1))
        return stats

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}
        if self.epo is not None:
            state["epo"] = self.epo.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if self.epo is not None and "epo" in state:  # a checkpoint from before EPO was turned on has none
            self.epo.load_state_dict(state["epo"])
