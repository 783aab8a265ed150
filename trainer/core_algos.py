"""The shared math of agentrl's trainers, as pure tensor functions.

Every algorithm file composes these; each is unit-tested against hand-computed
numbers in ``tests/trainer/test_core_algos.py``. Conventions (verl's): tensors over
tokens are ``[B, T]``; ``mask`` is 1 on the positions that take part (the tokens the
model generated) and 0 on prompt, environment and padding positions.
"""

from __future__ import annotations

import torch
from torch import nn

AGGREGATIONS = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean")
KL_KINDS = ("k1", "k2", "k3", "low_var_kl")


def masked_sum(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``values`` where ``mask`` is 1."""
    product = values * mask.to(values.dtype)
    return product.sum() if dim is None else product.sum(dim=dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None, eps: float = 1e-8) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1 (0 when nothing is masked in)."""
    mask = mask.to(values.dtype)
    total = mask.sum() if dim is None else mask.sum(dim=dim)
    return masked_sum(values, mask, dim) / (total + eps)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """``values`` scaled to unit variance (and zero mean) over the masked-in entries."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * torch.rsqrt(variance + eps)
    return whitened if shift_mean else whitened + mean


def aggregate_loss(loss_mat: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean") -> torch.Tensor:
    """Reduce a per-token loss ``[B, T]`` to a scalar.

    ``token-mean`` weighs every generated token alike; ``seq-mean-token-sum`` sums each
    row's tokens and averages rows (Dr. GRPO); ``seq-mean-token-mean`` averages tokens in
    a row, then rows (the original GRPO). Rows without tokens do not count.
    """
    mask = mask.to(loss_mat.dtype)
    if mode == "token-mean":
        return masked_mean(loss_mat, mask)
    rows = mask.sum(dim=-1) > 0
    if mode == "seq-mean-token-sum":
        per_row = masked_sum(loss_mat, mask, dim=-1)
    elif mode == "seq-mean-token-mean":
        per_row = masked_sum(loss_mat, mask, dim=-1) / mask.sum(dim=-1).clamp(min=1)
    else:
        raise ValueError(f"unknown loss aggregation {mode!r}; choose one of {', '.join(AGGREGATIONS)}")
    return per_row[rows].mean() if rows.any() else loss_mat.sum() * 0


def ppo_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = None,
    agg: str = "token-mean",
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate, per token, aggregated by ``agg``.

    ``max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high))`` with ``r = exp(logp - old)``;
    ``clip_high > clip_low`` is DAPO's clip-higher. With ``dual_clip = c > 1`` the loss of
    a negative advantage is also capped at ``-A c`` (Ye et al., 2020).

    Returns the loss and statistics: ``clipfrac`` (share of tokens where the clipped
    branch is the larger), ``approx_kl`` (k3 estimate of KL(old || new)) and ``ratio_mean``.
    """
    mask = mask.to(logprobs.dtype)
    log_ratio = (logprobs - old_logprobs).clamp(-20.0, 20.0)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
        capped = torch.minimum(loss, -advantages * dual_clip)
        loss = torch.where(advantages < 0, capped, loss)
    with torch.no_grad():
        stats = {
            "clipfrac": float(masked_mean((clipped > unclipped).to(loss.dtype), mask)),
            "approx_kl": float(masked_mean(torch.exp(-log_ratio) - 1 + log_ratio, mask)),
            "ratio_mean": float(masked_mean(ratio, mask)),
        }
    return aggregate_loss(loss, mask, agg), stats


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip: float | None = 0.2,
    agg: str = "token-mean",
) -> torch.Tensor:
    """``0.5 * max((v - R)^2, (clip(v, old - c, old + c) - R)^2)``; unclipped when ``clip`` is None."""
    loss = (values - returns) ** 2
    if clip is not None:
        clipped = old_values + (values - old_values).clamp(-clip, clip)
        loss = torch.maximum(loss, (clipped - returns) ** 2)
    return 0.5 * aggregate_loss(loss, mask, agg)


def _reverse_scan(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    dones: torch.Tensor | None,
    step: str,
    gamma: float,
    lam: float,
    values: torch.Tensor | None,
) -> torch.Tensor:
    """Shared backward pass of GAE and discounted returns, skipping masked-out positions."""
    mask = mask.to(rewards.dtype)
    batch, length = rewards.shape
    carry = torch.zeros(batch, dtype=rewards.dtype, device=rewards.device)  # A (or R) at the next valid position
    next_value = torch.zeros_like(carry)  # V at the next valid position (0 past the end)
    out = torch.zeros_like(rewards)
    for t in reversed(range(length)):
        valid = mask[:, t]
        cont = torch.ones_like(carry) if dones is None else 1.0 - dones[:, t].to(rewards.dtype)
        if step == "gae":
            assert values is not None
            delta = rewards[:, t] + gamma * cont * next_value - values[:, t]
            current = delta + gamma * lam * cont * carry
            next_value = torch.where(valid > 0, values[:, t], next_value)
        else:
            current = rewards[:, t] + gamma * cont * carry
        carry = torch.where(valid > 0, current, carry)
        out[:, t] = current * valid
    return out


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
    dones: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the masked-in positions of each row.

    Masked-out positions are skipped: the recursion goes from one valid position to
    the next one, so environment tokens between two model turns neither break nor
    discount the chain. Past a row's last valid position the value is 0; a 1 in
    ``dones`` at a position stops bootstrapping from the positions after it. The same
    function does token-level GAE (positions = generated tokens) and turn-level GAE
    (positions = turns). Returns ``(advantages, returns = advantages + values)``, 0 off the mask.
    """
    advantages = _reverse_scan(rewards, mask, dones, "gae", gamma, lam, values)
    returns = (advantages + values) * mask.to(values.dtype)
    return advantages, returns


def discounted_returns(
    rewards: torch.Tensor, mask: torch.Tensor, gamma: float, dones: torch.Tensor | None = None
) -> torch.Tensor:
    """``R_t = r_t + gamma R_next`` over the masked-in positions (same skipping as :func:`gae`)."""
    return _reverse_scan(rewards, mask, dones, "returns", gamma, 0.0, None)


def group_normalize(
    scores: torch.Tensor, group_ids: torch.Tensor, eps: float = 1e-6, std_normalize: bool = True
) -> torch.Tensor:
    """GRPO's advantage: ``(R - mean_G) / (std_G + eps)`` per group (unbiased std); singletons get 0."""
    out = torch.zeros_like(scores)
    for group in torch.unique(group_ids):
        members = group_ids == group
        if int(members.sum()) < 2:
            continue
        group_scores = scores[members]
        centred = group_scores - group_scores.mean()
        std = group_scores.std()
        # A group without spread carries no signal: 0, not 0/0 (whatever eps is).
        out[members] = centred / (std + eps) if std_normalize and std > 0 else centred
    return out


def rloo_advantages(scores: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """RLOO: ``R_i`` minus the mean of the other members of its group; singletons get 0."""
    out = torch.zeros_like(scores)
    for group in torch.unique(group_ids):
        members = group_ids == group
        n = int(members.sum())
        if n < 2:
            continue
        group_scores = scores[members]
        out[members] = group_scores - (group_scores.sum() - group_scores) / (n - 1)
    return out


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(pi || ref) from samples of pi (Schulman's k1, k2, k3).

    k3 (``low_var_kl``) is ``exp(ref - logp) - (ref - logp) - 1``: unbiased, non-negative,
    low variance; clamped to [-10, 10] as verl does.
    """
    diff = logprobs - ref_logprobs
    if kind == "k1":
        return diff
    if kind == "k2":
        return 0.5 * diff**2
    if kind in ("k3", "low_var_kl"):
        log_ratio = (-diff).clamp(-20.0, 20.0)
        return (torch.exp(log_ratio) - log_ratio - 1).clamp(-10.0, 10.0)
    raise ValueError(f"unknown KL estimator {kind!r}; choose one of {', '.join(KL_KINDS)}")


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax over the last dimension, per position."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[label]`` per position."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau source`` for parameters; buffers are copied."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(1.0 - tau).add_(s, alpha=tau)
    for tb, sb in zip(target.buffers(), source.buffers(), strict=True):
        tb.copy_(sb)


def double_min(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise minimum of two critics' estimates (pessimism against overestimation)."""
    return torch.minimum(a, b)


def double_max(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum of two critics' estimates (Digi-Q's official code)."""
    return torch.maximum(a, b)
