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
    """Sum of ``values`` where ``mask`` is set.

    Args:
        values: Any tensor.
        mask: Same shape; 0/1 floats or bools. Masked-out entries are ignored even when
            they are inf or NaN (padding often is).
        dim: Dimension to reduce; None reduces everything to a scalar.

    Returns:
        The masked sum, reduced over ``dim``.
    """
    kept = torch.where(mask.bool(), values, torch.zeros_like(values))
    return kept.sum() if dim is None else kept.sum(dim=dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None, eps: float = 1e-8) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is set; 0 where nothing is.

    Args:
        values: Any tensor.
        mask: Same shape; 0/1 floats or bools.
        dim: Dimension to reduce; None reduces everything to a scalar.
        eps: The smallest count divided by, so that an empty mask gives 0 rather than NaN (a floor, not an
            offset: the mean of equal values is that value, and whitening them gives 0).

    Returns:
        The masked mean, reduced over ``dim``.
    """
    count = mask.to(values.dtype)
    total = count.sum() if dim is None else count.sum(dim=dim)
    return masked_sum(values, mask, dim) / total.clamp(min=eps)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """``values`` scaled to unit variance over the masked-in entries.

    Args:
        values: Any tensor, e.g. advantages ``[B, T]``.
        mask: Same shape; 0/1 floats or bools.
        shift_mean: Also centre to zero mean; False keeps the original mean (only the scale changes).
        eps: Added to the (population) variance.

    Returns:
        The whitened values, 0 at masked-out entries.
    """
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * torch.rsqrt(variance + eps)
    if not shift_mean:
        whitened = whitened + mean
    return torch.where(mask.bool(), whitened, torch.zeros_like(whitened))


def aggregate_loss(loss_mat: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean") -> torch.Tensor:
    """Reduce a per-token loss ``[B, T]`` to a scalar.

    Args:
        loss_mat: Per-token loss ``[B, T]``.
        mask: ``[B, T]``; 0/1 floats or bools, 1 on the tokens that count.
        mode: ``token-mean`` weighs every valid token alike (sum / number of tokens);
            ``seq-mean-token-sum`` sums each row's tokens, then averages rows (Dr. GRPO);
            ``seq-mean-token-mean`` averages each row's tokens, then rows (the original GRPO).
            Rows without a valid token do not count in the ``seq-*`` modes.

    Returns:
        A scalar; 0 (still attached to the graph) when no token is valid.

    Raises:
        ValueError: For a mode not in ``AGGREGATIONS``.
    """
    if mode == "token-mean":
        return masked_mean(loss_mat, mask)
    if mode not in AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {mode!r}; choose one of {', '.join(AGGREGATIONS)}")
    counts = mask.to(loss_mat.dtype).sum(dim=-1)
    per_row = masked_sum(loss_mat, mask, dim=-1)
    if mode == "seq-mean-token-mean":
        per_row = per_row / counts.clamp(min=1)
    rows = (counts > 0).to(loss_mat.dtype)
    return (per_row * rows).sum() / rows.sum().clamp(min=1)


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
    """PPO's clipped surrogate (Schulman et al., 2017), per token, aggregated by ``agg``.

    The per-token loss is ``max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high))`` with
    ``r = exp(logp - old)``; ``clip_high > clip_low`` is DAPO's clip-higher. With
    ``dual_clip = c > 1`` the loss of a token with ``A < 0`` is also capped at ``-A c``
    (dual-clip PPO, Ye et al., 2020), so a huge ratio cannot blow the update up.

    Args:
        logprobs: Log-probabilities of the taken tokens under the current policy, ``[B, T]``.
        old_logprobs: The same under the policy that sampled them, ``[B, T]``.
        advantages: ``[B, T]``.
        mask: ``[B, T]``; 1 on the tokens the model generated.
        clip_low: Lower clip range, the ratio is kept above ``1 - clip_low``.
        clip_high: Upper clip range, the ratio is kept below ``1 + clip_high``.
        dual_clip: The constant ``c > 1`` of dual clipping; None turns it off.
        agg: How to reduce tokens to a scalar, see :func:`aggregate_loss`.

    Returns:
        The loss and statistics over the valid tokens: ``clipfrac`` (share of tokens where the
        clipped branch is the larger, i.e. the gradient is cut), ``approx_kl`` (the k3 estimate
        ``(r - 1) - log r`` of KL(old || new), non-negative, as in CleanRL) and ``ratio_mean``.

    Raises:
        ValueError: When ``dual_clip`` is not above 1.
    """
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1 (3.0 is usual) or None, got {dual_clip}")
    # Clamped so that a stale or padded token cannot overflow exp.
    log_ratio = (logprobs - old_logprobs).clamp(-20.0, 20.0)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    if dual_clip is not None:
        loss = torch.where(advantages < 0, torch.minimum(loss, -advantages * dual_clip), loss)
    with torch.no_grad():
        stats = {
            "clipfrac": float(masked_mean((clipped > unclipped).to(loss.dtype), mask)),
            "approx_kl": float(masked_mean(ratio - 1.0 - log_ratio, mask)),
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
    """Clipped value loss ``0.5 * max((v - R)^2, (clip(v, old - c, old + c) - R)^2)``.

    Args:
        values: Current value predictions ``[B, T]``.
        old_values: Predictions when the batch was collected ``[B, T]``.
        returns: Targets ``[B, T]``.
        mask: ``[B, T]``; 1 on the positions that count.
        clip: The clip range ``c``; None gives the plain ``0.5 * (v - R)^2``.
        agg: How to reduce tokens to a scalar, see :func:`aggregate_loss`.

    Returns:
        A scalar loss.
    """
    loss = (values - returns) ** 2
    if clip is not None:
        clipped = old_values + (values - old_values).clamp(-clip, clip)
        loss = torch.maximum(loss, (clipped - returns) ** 2)
    return 0.5 * aggregate_loss(loss, mask, agg)


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float | torch.Tensor,
    lam: float,
    dones: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al., 2016) over the valid positions of each row.

    ``delta_t = r_t + gamma V_next - V_t`` and ``A_t = delta_t + gamma lam A_next``, where
    "next" is the next position with ``mask == 1``: masked-out positions are skipped, so the
    environment tokens between two model turns neither break nor discount the chain. Past a
    row's last valid position ``V_next = A_next = 0``. The same function does token-level GAE
    (positions = generated tokens) and turn-level GAE (positions = turns).

    Args:
        rewards: ``[B, T]``.
        values: ``[B, T]``.
        mask: ``[B, T]``; 0/1 floats or bools, 1 on the positions that take part.
        gamma: Discount per valid position; a ``[B, T]`` tensor gives each position its own discount
            towards the next valid position (POAD's BAD: 1 inside an utterance, see :func:`bad_discounts`).
        lam: GAE's lambda; 1 gives Monte-Carlo returns minus values, 0 gives one-step TD errors.
        dones: Optional ``[B, T]``; a 1 at a valid position marks it terminal: nothing is
            bootstrapped from the valid positions after it.

    Returns:
        ``(advantages, returns)`` with ``returns = advantages + values``; both 0 off the mask.
    """
    valid = mask.bool()
    zero = torch.zeros_like(rewards[:, 0])
    next_value = zero  # V at the next valid position
    next_adv = zero  # A at the next valid position
    columns: list[torch.Tensor] = []
    for t in reversed(range(rewards.shape[1])):
        keep: float | torch.Tensor = gamma[:, t] if isinstance(gamma, torch.Tensor) else gamma
        if dones is not None:
            keep = keep * (1.0 - dones[:, t].to(rewards.dtype))
        delta = rewards[:, t] + keep * next_value - values[:, t]
        current = delta + keep * lam * next_adv
        # Off the mask, the carried values pass through untouched: the gap is skipped.
        next_value = torch.where(valid[:, t], values[:, t], next_value)
        next_adv = torch.where(valid[:, t], current, next_adv)
        columns.append(torch.where(valid[:, t], current, zero))
    advantages = torch.stack(columns[::-1], dim=1)
    returns = torch.where(valid, advantages + values, torch.zeros_like(advantages))
    return advantages, returns


def discounted_returns(
    rewards: torch.Tensor, mask: torch.Tensor, gamma: float, dones: torch.Tensor | None = None
) -> torch.Tensor:
    """``R_t = r_t + gamma R_next`` over the valid positions, skipping gaps as :func:`gae` does.

    Args:
        rewards: ``[B, T]``.
        mask: ``[B, T]``; 1 on the positions that take part.
        gamma: Discount per valid position.
        dones: Optional ``[B, T]``; a 1 at a valid position stops the sum from reaching past it.

    Returns:
        The returns ``[B, T]``, 0 off the mask.
    """
    # GAE with V = 0 and lambda = 1 is exactly this recursion.
    return gae(rewards, torch.zeros_like(rewards), mask, gamma, 1.0, dones)[0]


def _group_stats(scores: torch.Tensor, group_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per element: its group's size, sum of scores and unbiased variance (0 for singletons)."""
    ids, inverse = torch.unique(group_ids, return_inverse=True)
    size = torch.zeros(len(ids), dtype=scores.dtype, device=scores.device).index_add_(
        0, inverse, torch.ones_like(scores)
    )
    total = torch.zeros_like(size).index_add_(0, inverse, scores)
    centred = scores - (total / size)[inverse]
    squares = torch.zeros_like(size).index_add_(0, inverse, centred**2)
    variance = squares / (size - 1).clamp(min=1)
    return size[inverse], total[inverse], variance[inverse]


def group_normalize(
    scores: torch.Tensor, group_ids: torch.Tensor, eps: float = 1e-6, std_normalize: bool = True
) -> torch.Tensor:
    """GRPO's advantage ``(R - mean_G) / (std_G + eps)`` (Shao et al., 2024).

    Args:
        scores: One return per sample ``[N]``.
        group_ids: ``[N]`` integers; samples with the same id (e.g. the same prompt) form a group.
        eps: Added to the unbiased std.
        std_normalize: False gives the mean-only ``R - mean_G`` (Dr. GRPO).

    Returns:
        Advantages ``[N]``: 0 for a group of one, and 0 for a group whose scores are all equal.
    """
    size, total, variance = _group_stats(scores, group_ids)
    centred = scores - total / size
    if std_normalize:
        std = variance.sqrt()
        # A group without spread carries no signal: 0, not 0/0 when eps is 0.
        centred = torch.where(std > 0, centred / (std + eps), torch.zeros_like(centred))
    return torch.where(size > 1, centred, torch.zeros_like(centred))


def rloo_advantages(scores: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """REINFORCE leave-one-out (Ahmadian et al., 2024): ``R_i`` minus the mean of the others in its group.

    Args:
        scores: One return per sample ``[N]``.
        group_ids: ``[N]`` integers; samples with the same id form a group.

    Returns:
        Advantages ``[N]``; 0 for a group of one.
    """
    size, total, _ = _group_stats(scores, group_ids)
    others = (total - scores) / (size - 1).clamp(min=1)
    return torch.where(size > 1, scores - others, torch.zeros_like(scores))


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(pi || ref) from tokens sampled from pi (Schulman's k1, k2, k3).

    Args:
        logprobs: Log-probabilities of the sampled tokens under the policy.
        ref_logprobs: The same under the reference policy.
        kind: ``k1`` is ``logp - ref`` (unbiased, can be negative); ``k2`` is
            ``0.5 (logp - ref)^2``; ``k3`` (alias ``low_var_kl``) is
            ``exp(ref - logp) - (ref - logp) - 1``: unbiased, non-negative, low variance,
            clamped to [-10, 10] as verl does.

    Returns:
        The per-token estimate, same shape as ``logprobs``.

    Raises:
        ValueError: For a kind not in ``KL_KINDS``.
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


def _at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax over the last dimension, per position, in float32 or wider.

    ``log_softmax`` subtracts the logsumexp, so large logits do not overflow; logits of
    ``-inf`` (masked-out vocabulary) contribute 0 to the entropy and to its gradient.

    Args:
        logits: ``[..., V]``.

    Returns:
        ``[...]``.
    """
    logp = torch.log_softmax(_at_least_float32(logits), dim=-1)
    # 0 * -inf would be NaN; clamping keeps p log p at 0 (and its gradient finite) where p = 0.
    return -(logp.exp() * logp.clamp(min=torch.finfo(logp.dtype).min)).sum(dim=-1)


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[label]`` per position, in float32 or wider.

    Args:
        logits: ``[..., V]``.
        labels: ``[...]`` token ids (long).

    Returns:
        ``[...]``.
    """
    return torch.log_softmax(_at_least_float32(logits), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """In place: ``target <- (1 - tau) target + tau source`` for parameters; buffers are copied.

    Args:
        target: The slow (target) network, updated in place.
        source: The network it tracks; same parameters and buffers, in the same order.
        tau: Mixing weight of ``source``; 1 copies it exactly.

    Raises:
        ValueError: When the two modules have different numbers of parameters or buffers.
    """
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        if tau == 1.0:
            t.copy_(s)
        else:
            t.mul_(1.0 - tau).add_(s, alpha=tau)
    for tb, sb in zip(target.buffers(), source.buffers(), strict=True):
        tb.copy_(sb)


def double_min(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise minimum of two critics' estimates (clipped double Q: pessimism against overestimation)."""
    return torch.minimum(a, b)


def double_max(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum of two critics' estimates (as Digi-Q's official code takes for its V target)."""
    return torch.maximum(a, b)


def dpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Direct preference optimisation (Rafailov et al., 2023), per pair.

    ``loss = -log sigmoid(beta * [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))])``, each log-prob the
    sum over the response's tokens.

    Args:
        chosen_logps, rejected_logps: ``[B]`` sequence log-probs of the preferred and rejected replies under the policy.
        ref_chosen_logps, ref_rejected_logps: ``[B]`` the same under the frozen reference.
        beta: Strength of the implicit KL to the reference.

    Returns:
        ``(loss [B], margin [B])`` with ``margin = log pi(y_w) - log pi(y_l)`` (detached), the quantity DPO raises.
    """
    logits = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    loss = -torch.nn.functional.logsigmoid(beta * logits)
    return loss, (chosen_logps - rejected_logps).detach()


def bad_discounts(turn_end: torch.Tensor, gamma: float, word_gamma: float = 1.0) -> torch.Tensor:
    """Per-token discounts of POAD's Bellman backup with action decomposition (BAD, Wen et al., 2024).

    Inside an utterance a token is discounted by ``word_gamma`` (1: the tokens of one action share
    its time step); the utterance's last token is discounted by ``gamma`` into the next turn. Given to
    :func:`gae` as its ``gamma``: ``delta = V_next - V`` inside, ``r + gamma V(s', empty) - V_L`` at the end.

    Args:
        turn_end: ``[B, T]``; 1 on the last generated token of every turn.
        gamma: The discount between utterances (gamma_a).
        word_gamma: The discount between the tokens of one utterance (gamma_w); ``word_gamma = gamma``
            is naive token-level PPO (NTPO).

    Returns:
        ``[B, T]`` discounts.
    """
    return torch.where(turn_end.bool(), torch.full_like(turn_end, gamma, dtype=torch.float32), word_gamma).to(
        torch.float32
    )


def hierarchical_weights(mask: torch.Tensor, row_groups: torch.Tensor) -> torch.Tensor:
    """Token weights that average per row (turn), then over a group's rows (trajectory), then over groups.

    ``(weights * x).sum()`` is EPO's mean: token values averaged per turn, then over turns,
    then over trajectories, so a long reply or a long episode does not count more.

    Args:
        mask: ``[B, T]``; 1 on the tokens that count. Rows without one are left out.
        row_groups: ``[B]`` integers; rows with the same id belong to one trajectory.

    Returns:
        ``[B, T]`` non-negative weights summing to 1 (0 when no token counts).
    """
    m = mask.to(torch.float32)
    counts = m.sum(dim=1)
    live = counts > 0
    if not bool(live.any()):
        return torch.zeros_like(m)
    ids, inverse = torch.unique(row_groups, return_inverse=True)
    rows_per_group = torch.zeros(len(ids)).index_add_(0, inverse, live.to(torch.float32))
    groups = float((rows_per_group > 0).sum())
    per_row = live.to(torch.float32) / (rows_per_group[inverse].clamp(min=1) * groups)
    return m * (per_row / counts.clamp(min=1)).unsqueeze(1)


def epo_penalty(entropy: torch.Tensor, history: float, kappa_l: float = 0.0, kappa_r: float = 2.0) -> torch.Tensor:
    """EPO's entropy-smoothing penalty per token (Xu et al., 2025): a hinge outside ``[kappa_l Hbar, kappa_r Hbar]``.

    ``P = relu(kappa_l Hbar - H) + relu(H - kappa_r Hbar)``: differentiable in ``H`` (the paper's
    form; the released code's penalty is a constant without a gradient). Inside the corridor it
    is 0 and so is its gradient; below it the gradient pushes entropy up, above it down.

    Args:
        entropy: Per-token entropy, attached to the graph.
        history: ``Hbar``, the running mean of past iterations' batch mean token entropy.
        kappa_l: Lower edge of the corridor, as a multiple of ``Hbar``.
        kappa_r: Upper edge of the corridor, as a multiple of ``Hbar``.

    Returns:
        The penalty, same shape as ``entropy``.
    """
    return torch.relu(kappa_l * history - entropy) + torch.relu(entropy - kappa_r * history)


def epo_beta(iteration: int, total: int, gamma_e: float = 3.0) -> float:
    """EPO's phase weight ``beta_k = 1 + exp(-gamma_e k / k_mid)``, ``k_mid = K / 2``: 2 at the start, then towards 1.

    Args:
        iteration: ``k``, counted from 0.
        total: ``K``, the run's iterations (at least 1).
        gamma_e: How fast the weight decays.
    """
    return 1.0 + float(torch.exp(torch.tensor(-gamma_e * iteration / max(total / 2, 1e-8))))


def empg_weights(
    entropy: torch.Tensor, next_index: torch.Tensor, k: float = 1.0, k_next: float = 1.0, eps: float = 1e-8
) -> tuple[torch.Tensor, torch.Tensor]:
    """EMPG's self-calibrating scale ``g`` and future-clarity bonus ``f`` per step (Wang et al., 2025).

    Step entropies are min-max normalised over the batch to ``H~`` in [0, 1];
    ``g = exp(-k H~) / mean(exp(-k H~))`` (so ``mean(g) = 1``: confident steps weigh more, uncertain
    ones less) and ``f = exp(-k_next H~_{t+1})``, the next step's clarity (0 at a last step).

    Args:
        entropy: ``[N]`` per-step entropy (the mean over the step's tokens), detached.
        next_index: ``[N]`` long; the index of the same trajectory's next step, -1 for a last step.
        k: Sharpness of ``g``.
        k_next: Sharpness of ``f``.
        eps: Added to the entropy range (all steps alike: every ``H~`` is 0).

    Returns:
        ``(g, f)``, each ``[N]``.
    """
    low, high = entropy.min(), entropy.max()
    normalised = (entropy - low) / (high - low + eps)
    scale = torch.exp(-k * normalised)
    g = scale / scale.mean()
    has_next = next_index >= 0
    following = normalised[next_index.clamp(min=0)]
    f = torch.where(has_next, torch.exp(-k_next * following), torch.zeros_like(following))
    return g, f


def empg_modulate(
    advantages: torch.Tensor, g: torch.Tensor, f: torch.Tensor, zeta: float = 0.05, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """EMPG's advantage ``A_mod = g A + zeta f``, then centred to zero mean over the batch.

    Args:
        advantages: ``[N]`` per step, or ``[B, T]`` per token.
        g, f: From :func:`empg_weights`, broadcastable to ``advantages`` (``[B, 1]`` for per-token advantages).
        zeta: Weight of the future-clarity bonus.
        mask: ``[B, T]`` for per-token advantages: the mean is over these tokens, and the result is 0 elsewhere.

    Returns:
        The modulated advantages, same shape.
    """
    modulated = g * advantages + zeta * f
    if mask is None:
        return modulated - modulated.mean()
    return torch.where(mask.bool(), modulated - masked_mean(modulated, mask), torch.zeros_like(modulated))


def cosine_decay(iteration: int, horizon: int) -> float:
    """``(1 + cos(pi k / K)) / 2`` until ``K``, then 0 (SPEAR's intrinsic-reward weight ``mu_k``): 1, 0.5, 0."""
    if horizon <= 0 or iteration >= horizon:
        return 0.0
    return 0.5 * (1.0 + float(torch.cos(torch.tensor(torch.pi * iteration / horizon, dtype=torch.float64))))


def cosine_ramp(iteration: int, horizon: int, top: float = 1.0) -> float:
    """``top (1 - cos(pi k / K)) / 2`` until ``K``, then ``top`` (SPEAR's self-imitation weight ``gamma_k``).

    0 at the start, ``top / 2`` halfway, ``top`` from ``K`` on.
    """
    return top * (1.0 - cosine_decay(iteration, horizon)) if horizon > 0 else top


def recalibrated_advantages(returns: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """SPEAR's replayed advantage ``A~ = R - median(baseline)`` (the median of recent group-mean rewards).

    Args:
        returns: ``[N]`` the replayed samples' trajectory returns.
        baseline: ``[M]`` recent group means (M >= 1); an even count takes the mean of the two middle values.
    """
    return returns - torch.quantile(baseline.to(returns.dtype), 0.5)


def clip_cov_select(
    advantages: torch.Tensor,
    logprobs: torch.Tensor,
    mask: torch.Tensor,
    clipped: torch.Tensor,
    ratio: float = 0.02,
    bounds: tuple[float, float] = (1.0, 40.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Clip-Cov (Cui et al., 2025): the tokens whose policy-gradient loss is zeroed, chosen by covariance.

    ``cov = (A - mean A)(logp - mean logp)`` over the valid tokens; among valid, non-clipped tokens
    with ``lb < cov < ub``, a random ``max(1, floor(ratio N))`` (N: valid tokens) are chosen, or
    every candidate when there are fewer. Those tokens drive entropy collapse the most.

    Args:
        advantages: ``[B, T]``.
        logprobs: ``[B, T]`` the current policy's log-probs of the tokens (detached).
        mask: ``[B, T]``; 1 on valid tokens.
        clipped: ``[B, T]`` bool; tokens PPO's clip already cuts (left alone).
        ratio: Share of the valid tokens to choose.
        bounds: ``(lb, ub)`` of the covariance window.
        generator: For the random choice.

    Returns:
        ``[B, T]`` bool, True on the chosen tokens.
    """
    valid = mask.bool()
    n = int(valid.sum())
    if n == 0:
        return torch.zeros_like(valid)
    cov = (advantages - masked_mean(advantages, mask)) * (logprobs - masked_mean(logprobs, mask))
    candidates = (valid & ~clipped.bool() & (cov > bounds[0]) & (cov < bounds[1])).flatten().nonzero().flatten()
    count = min(max(1, int(ratio * n)), len(candidates))
    chosen = candidates[torch.randperm(len(candidates), generator=generator)[:count]]
    out = torch.zeros(valid.numel(), dtype=torch.bool)
    out[chosen] = True
    return out.view_as(valid)


def td_targets(reward: torch.Tensor, done: torch.Tensor, next_value: torch.Tensor, gamma: float) -> torch.Tensor:
    """One-step TD targets ``r + gamma (1 - d) V(s')`` (Digi-Q's and ArCHer's Q target).

    Args:
        reward, done, next_value: ``[B]``; ``done`` is 1 where the episode ended at this step.
        gamma: Discount between steps.
    """
    return reward + gamma * (1.0 - done.to(reward.dtype)) * next_value


def best_of_n(
    q1: torch.Tensor,
    q2: torch.Tensor,
    v1: torch.Tensor,
    v2: torch.Tensor,
    valid: torch.Tensor,
    threshold: float = 0.05,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digi-Q's Best-of-N policy extraction (Bai et al., 2025), per state.

    ``A_j = max(Q1, Q2)(s, a_j) - max(V1, V2)(s)`` (the official code takes the max of the two heads), 0 for an
    invalid (unparseable) candidate; the chosen candidate is ``j* = argmax_j A_j`` (the first on ties) and it is
    imitated with weight ``w = [clip(A_j*, 0, 1) > threshold]``.

    Args:
        q1, q2: ``[B, N]`` the two Q heads on each state's N candidates.
        v1, v2: ``[B]`` the two V heads on each state.
        valid: ``[B, N]`` bool; False on candidates the env cannot parse.
        threshold: delta: the advantage the chosen candidate must clear to be imitated.

    Returns:
        ``(choice [B] long, weight [B] float 0/1, advantage [B, N])``.
    """
    advantage = double_max(q1, q2) - double_max(v1, v2)[:, None]
    advantage = torch.where(valid.bool(), advantage, torch.zeros_like(advantage))
    choice = advantage.argmax(dim=1)
    best = advantage.gather(1, choice[:, None]).squeeze(1)
    weight = (best.clamp(0.0, 1.0) > threshold).to(advantage.dtype)
    return choice, weight, advantage
