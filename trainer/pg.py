"""The clipped policy-gradient update that PPO and the GRPO family share.

Given a :class:`~agentrl.trainer.batch.TokenBatch` whose ``fields`` hold per-token
``advantages`` and ``old_logprobs`` (and, for PPO, ``returns`` and ``old_values``), run
``epochs`` passes of shuffled minibatches; each minibatch is one optimiser step,
accumulated over micro-batches of at most ``micro_batch_size`` rows and
``micro_batch_tokens`` padded tokens (:func:`~agentrl.trainer.batch.micro_batches`), so
memory stays bounded however long the turns' history grows; the scoring passes before
the update (old log-probs, values, reference log-probs) use the same micro-batches.
The loss per token is the PPO clipped surrogate, plus ``kl_coef`` times a KL estimate
to the reference policy, minus ``entropy_coef`` times the entropy, plus ``value_coef``
times the clipped value loss when the batch carries returns. With ``epo.enabled`` EPO's
entropy term (:mod:`agentrl.trainer.epo`) joins the loss, averaged per turn, then per
trajectory, through the batch's ``epo_weight`` field.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agentrl.agents.types import Turn
from agentrl.trainer import distributed
from agentrl.trainer.algorithm import Needs, optimizer_step
from agentrl.trainer.batch import TokenBatch, chain_turns, micro_batches, minibatches, pack_turns, unpack_turns
from agentrl.trainer.core_algos import aggregate_loss, kl_penalty, masked_mean, ppo_policy_loss, value_loss
from agentrl.trainer.epo import EPOConfig, EPOTerm
from agentrl.trainer.policy import LowerCache, Policy
from agentrl.trainer.sharded import lockstep, reshard


@dataclass
class PGConfig:
    """Settings of the clipped policy-gradient update."""

    lr: float = 1e-6
    """Actor learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    clip_low: float = 0.2
    """Lower clip of the ratio (1 - clip_low)."""
    clip_high: float = 0.2
    """Upper clip of the ratio (1 + clip_high); larger than clip_low is DAPO's clip-higher."""
    dual_clip: float | None = None
    """Dual-clip constant c > 1 bounding the loss of negative advantages (None: off)."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the reference policy (0: no reference kept)."""
    kl_kind: str = "k3"
    """KL estimator: k1, k2, k3 (low_var_kl)."""
    entropy_coef: float = 0.0
    """Entropy bonus weight."""
    epochs: int = 1
    """Passes over each batch of rollouts."""
    minibatch_size: int = 64
    """Turns per optimiser step."""
    micro_batch_size: int = 16
    """Most turns per forward pass (gradient accumulation over a minibatch)."""
    micro_batch_tokens: int = 4096
    """Most tokens (turns x longest turn, padding included) per forward pass: bounds memory whatever the history
    length; a turn longer than this goes through alone."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip."""
    loss_agg: str = "token-mean"
    """Loss aggregation: token-mean, seq-mean-token-sum or seq-mean-token-mean."""
    lower_cache_mb: int = 2048
    """Memory (MiB) for the output of the frozen lower blocks (``policy.train_top_layers``) of the batch's turns: the
    scoring pass computes it once and the update's passes run only the trainable blocks above (0: every pass runs the
    whole model)."""
    pack_turns: bool = True
    """Score and train the turns of an episode played with its whole history in the prompt (``agent.history=null``)
    in one row: each turn's prompt begins with the one before's prompt and reply, so the row of the last turn holds
    them all at the same positions and one forward pass gives every turn's log-probs, values and entropies, equal up
    to float rounding (guess-the-number with SmolLM2: 4.3x fewer tokens). A minibatch then takes whole episodes of at
    most ``minibatch_size`` turns in all. Turns whose prompt was cut or re-rendered keep a row each; only with
    ``loss_agg=token-mean`` (a per-sequence mean needs a row per turn)."""
    target_kl: float | None = None
    """Skip a minibatch's optimiser step when its approx-KL to the rollout policy exceeds this (POAD: 0.02;
    None: never skip)."""
    epo: EPOConfig = field(default_factory=EPOConfig)
    """EPO's entropy regulariser (``epo.enabled=true``)."""

    def needs(self) -> Needs:
        """A reference policy when a KL coefficient asks for one."""
        return Needs(reference=self.kl_coef > 0)


def make_optimizer(parameters: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(list(parameters), lr=lr, weight_decay=weight_decay)


def pg_update(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    batch: TokenBatch,
    cfg: PGConfig,
    *,
    temperature: float,
    generator: torch.Generator,
    value_coef: float = 0.0,
    value_clip: float | None = None,
    epo: EPOTerm | None = None,
    iteration: int = 0,
    cache: LowerCache | None = None,
    turns: Sequence[Turn] = (),
) -> dict[str, float]:
    """Run the update on ``batch``; returns mean statistics over optimiser steps.

    With ``cache`` (and ``turns``, the batch's rows), each micro-batch takes the frozen lower blocks' output from it
    (filled by :func:`score_batch`) and runs only the blocks above.

    With ``epo``, the batch must carry ``epo_weight`` (per-token weights of EPO's mean, see
    :func:`~agentrl.trainer.core_algos.hierarchical_weights`); a minibatch's term is normalised by its own weight.

    With ``cfg.pack_turns`` and ``turns``, turns that extend the one before share a row (:func:`chains`).
    """
    weights = None
    packing = chains(cfg, turns, batch)
    if packing is not None:
        batch, turns = pack_turns(batch, packing), [turns[chain[-1]] for chain in packing]
        weights = [len(chain) for chain in packing]
    with_values = value_coef > 0
    stats: dict[str, list[float]] = defaultdict(list)
    parameters = [p for _, p in policy.trainable_named_parameters()]
    # Data parallel: every rank takes as many steps as the rank with the most minibatches, and the loss
    # is scaled by this rank's share of all ranks' tokens (times the ranks, which the average divides out).
    sharded = policy.sharded
    ranks = distributed.world_size()
    lengths = batch.lengths()
    for _ in range(cfg.epochs):
        split = minibatches(len(batch), cfg.minibatch_size, generator, weights=weights)
        # Data parallel: ranks holding fewer minibatches pad with empty ones, to take the same number of steps.
        steps = distributed.all_max(len(split))
        for rows in [*split, *(torch.zeros(0, dtype=torch.long) for _ in range(steps - len(split)))]:
            optimizer.zero_grad(set_to_none=True)
            tokens, count = distributed.all_sum(float(batch.response_mask[rows].sum()), float(len(rows)))
            total_tokens, total_rows = max(tokens, 1.0) / ranks, max(count, 1.0) / ranks
            if epo is not None:
                epo_total = max(distributed.all_sum(float(batch.fields["epo_weight"][rows].sum()))[0], 1e-12) / ranks
            kl_sum = 0.0
            parts = micro_batches([lengths[r] for r in rows], cfg.micro_batch_size, cfg.micro_batch_tokens)
            for part in lockstep(parts, sharded):
                filler = not part  # sharded weights: a pass this rank runs only to keep in step, weighing 0
                micro = batch.select(rows[part] if part else torch.tensor([0])).to(policy.device)
                mask = micro.response_mask
                lower = None if filler else _lower(cache, turns, rows[part].tolist(), micro)
                out = policy.forward_batch(micro, temperature, values=with_values, lower=lower)
                policy_loss, pstats = ppo_policy_loss(
                    out.logprobs,
                    micro.fields["old_logprobs"],
                    micro.fields["advantages"],
                    mask,
                    clip_low=cfg.clip_low,
                    clip_high=cfg.clip_high,
                    dual_clip=cfg.dual_clip,
                    agg=cfg.loss_agg,
                )
                loss = policy_loss
                if cfg.kl_coef > 0:
                    kl = aggregate_loss(kl_penalty(out.logprobs, micro.fields["ref_logprobs"], cfg.kl_kind), mask)
                    loss = loss + cfg.kl_coef * kl
                    if not filler:
                        stats["kl"].append(float(kl.detach()))
                entropy = masked_mean(out.entropy, mask)
                if cfg.entropy_coef:
                    loss = loss - cfg.entropy_coef * entropy
                if with_values:
                    assert out.values is not None
                    vloss = value_loss(
                        out.values,
                        micro.fields["old_values"],
                        micro.fields["returns"],
                        mask,
                        clip=value_clip,
                        agg=cfg.loss_agg,
                    )
                    loss = loss + value_coef * vloss
                    if not filler:
                        stats["value_loss"].append(float(vloss.detach()))
                # Weight each micro-batch by its share of the minibatch's tokens: the sum is the minibatch mean.
                share = float(mask.sum()) / total_tokens if cfg.loss_agg == "token-mean" else len(micro) / total_rows
                loss = loss * share
                if epo is not None:
                    term, estats = epo.loss(out.entropy, micro.fields["epo_weight"] / epo_total, iteration)
                    loss = loss + term
                    for key, value in estats.items():
                        if not filler:
                            stats[key].append(value)
                if filler:
                    (loss * 0.0).backward()
                    continue
                loss.backward()
                kl_sum += pstats["approx_kl"] * float(mask.sum())
                stats["policy_loss"].append(float(policy_loss.detach()))
                stats["entropy"].append(float(entropy.detach()))
                for key, value in pstats.items():
                    stats[key].append(float(value))
            if cfg.target_kl is not None:
                approx_kl = distributed.all_sum(kl_sum)[0] / max(tokens, 1.0)
                if approx_kl > cfg.target_kl:  # every rank sees the same sum: all skip together
                    optimizer.zero_grad(set_to_none=True)
                    stats["skipped_steps"].append(1.0)
                    continue
                stats["skipped_steps"].append(0.0)
            stats["grad_norm"].append(optimizer_step(optimizer, parameters, cfg.max_grad_norm))
            if sharded:
                reshard(policy)  # a gathered root unit would keep its weights from before the step
    return {key: sum(values) / len(values) for key, values in stats.items() if values}


@torch.no_grad()
def score_batch(
    policy: Policy,
    batch: TokenBatch,
    cfg: PGConfig,
    temperature: float,
    *,
    values: bool = False,
    entropy: bool = False,
    cache: LowerCache | None = None,
    turns: Sequence[Turn] = (),
) -> dict[str, torch.Tensor]:
    """Old log-probs (and values, reference log-probs, per-token entropies) of every row, before the update.

    With ``cache`` (and ``turns``, the batch's rows) the frozen lower blocks' output of every row is kept there for
    :func:`pg_update`. With ``cfg.pack_turns`` and ``turns``, turns that extend the one before are scored in one
    row (:func:`chains`); the results are per turn all the same."""
    packing = chains(cfg, turns, batch)
    if packing is not None:
        scored = score_batch(
            policy,
            pack_turns(batch, packing),
            dataclasses.replace(cfg, pack_turns=False),  # the packed rows are not packed again
            temperature,
            values=values,
            entropy=entropy,
            cache=cache,
            turns=[turns[chain[-1]] for chain in packing],
        )
        return {key: unpack_turns(value, batch, packing) for key, value in scored.items()}
    keys = ["old_logprobs", *(["old_values"] if values else []), *(["ref_logprobs"] if cfg.kl_coef > 0 else [])]
    keys += ["old_entropy"] if entropy else []
    parts = {key: torch.zeros(batch.response_mask.shape) for key in keys}
    passes = micro_batches(batch.lengths(), cfg.micro_batch_size, cfg.micro_batch_tokens)
    if policy.sharded:
        reshard(policy)  # gather the current weights, not a root unit left gathered before an optimiser step
    for part in lockstep(passes, policy.sharded):
        if not part:  # sharded weights: a filler pass to keep in step with the other ranks
            micro = batch.select(torch.tensor([0]))
            policy.forward_batch(micro, temperature, values=values)
            if cfg.kl_coef > 0:
                policy.reference_logprobs(micro, temperature)
            continue
        rows = torch.tensor(part)
        micro = batch.select(rows)
        out = policy.forward_batch(micro, temperature, values=values, lower=_lower(cache, turns, part, micro))
        width = out.logprobs.shape[1]
        parts["old_logprobs"][rows, :width] = out.logprobs.cpu().float()
        if values:
            assert out.values is not None
            parts["old_values"][rows, :width] = out.values.cpu().float()
        if entropy:
            parts["old_entropy"][rows, :width] = out.entropy.cpu().float()
        if cfg.kl_coef > 0:
            parts["ref_logprobs"][rows, :width] = policy.reference_logprobs(micro, temperature).cpu().float()
    if policy.sharded:
        reshard(policy)  # no backward pass follows to reshard the root unit: the module holds its shards again
    return {key: part * batch.response_mask for key, part in parts.items()}


def chains(cfg: PGConfig, turns: Sequence[Turn], batch: TokenBatch) -> list[list[int]] | None:
    """The runs of turns (batch rows) that share a row (:func:`~agentrl.trainer.batch.chain_turns`); None when no two
    do, or ``cfg.pack_turns`` is off, or the loss is not a token mean, or ``turns`` are not the batch's rows."""
    if not cfg.pack_turns or cfg.loss_agg != "token-mean" or len(turns) != len(batch):
        return None
    found = chain_turns(turns)
    return found if len(found) < len(turns) else None


def _lower(
    cache: LowerCache | None, turns: Sequence[Turn], rows: Sequence[int], micro: TokenBatch
) -> torch.Tensor | None:
    """The micro-batch's lower-block output from ``cache`` (None without one)."""
    if cache is None:
        return None
    if len(turns) <= max(rows, default=-1):
        raise ValueError("a lower-block cache needs the batch's turns, one per row")
    return cache.lower([turns[i] for i in rows], micro)
