"""The shared primitives of trainer/core_algos.py against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from agentrl.trainer import core_algos as ca


def test_masked_sum_and_mean_ignore_masked_entries_even_nan():
    x = torch.tensor([[1.0, float("nan"), 3.0], [float("inf"), 5.0, 6.0]])
    m = torch.tensor([[1, 0, 1], [0, 1, 0]])
    assert float(ca.masked_sum(x, m)) == 9.0
    assert float(ca.masked_mean(x, m)) == pytest.approx(3.0)
    assert ca.masked_sum(x, m.bool(), dim=1).tolist() == [4.0, 5.0]
    assert ca.masked_mean(x, m.float(), dim=1).tolist() == pytest.approx([2.0, 5.0])
    assert float(ca.masked_mean(x, torch.zeros_like(m))) == 0.0  # empty mask: 0, not NaN


def test_masked_whiten():
    x = torch.tensor([[1.0, 100.0, 3.0], [-50.0, 5.0, 0.0]])
    m = torch.tensor([[1, 0, 1], [0, 1, 0]])
    # Valid 1, 3, 5: mean 3, population variance 8/3.
    scale = math.sqrt(8 / 3)
    w = ca.masked_whiten(x, m)
    assert torch.allclose(w, torch.tensor([[-2 / scale, 0.0, 0.0], [0.0, 2 / scale, 0.0]]), atol=1e-6)
    kept_mean = ca.masked_whiten(x, m, shift_mean=False)
    assert torch.allclose(kept_mean, torch.tensor([[3 - 2 / scale, 0.0, 3.0], [0.0, 3 + 2 / scale, 0.0]]), atol=1e-6)


def test_aggregation_modes():
    loss = torch.tensor([[1.0, 2.0, 3.0], [10.0, 0.0, 0.0], [7.0, 7.0, 7.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert float(ca.aggregate_loss(loss, mask, "token-mean")) == pytest.approx(16 / 4)
    assert float(ca.aggregate_loss(loss, mask, "seq-mean-token-sum")) == pytest.approx((6 + 10) / 2)
    assert float(ca.aggregate_loss(loss, mask, "seq-mean-token-mean")) == pytest.approx((2 + 10) / 2)
    assert float(ca.aggregate_loss(loss, mask.bool(), "seq-mean-token-mean")) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="seq-mean-token-sum"):
        ca.aggregate_loss(loss, mask, "sum")


def test_aggregation_without_tokens_is_zero_and_differentiable():
    loss = torch.ones(2, 3, requires_grad=True)
    for mode in ca.AGGREGATIONS:
        out = ca.aggregate_loss(loss, torch.zeros(2, 3), mode)
        assert float(out.detach()) == 0.0
        out.backward()
        assert (loss.grad == 0).all()


def test_ppo_clip_inactive_active_and_stats():
    old = torch.zeros(1, 4)
    ratios = [1.1, 1.5, 0.5, 1.6]
    new = torch.log(torch.tensor([ratios]))
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    mask = torch.ones(1, 4)
    loss, stats = ca.ppo_policy_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.2)
    # Per token: -1.1 (inside), -1.2 (clipped at 1.2), 0.8 (clipped at 0.8), 1.6 (unclipped: worse).
    assert float(loss) == pytest.approx((-1.1 - 1.2 + 0.8 + 1.6) / 4, abs=1e-6)
    assert stats["clipfrac"] == pytest.approx(2 / 4)
    assert stats["ratio_mean"] == pytest.approx(sum(ratios) / 4, abs=1e-6)
    assert stats["approx_kl"] == pytest.approx(sum(r - 1 - math.log(r) for r in ratios) / 4, abs=1e-6)
    # Masked-out tokens count neither in the loss nor in the stats.
    loss_m, stats_m = ca.ppo_policy_loss(new, old, adv, torch.tensor([[1, 1, 0, 0]]))
    assert float(loss_m) == pytest.approx((-1.1 - 1.2) / 2, abs=1e-6)
    assert stats_m["clipfrac"] == pytest.approx(1 / 2)
    # Gradient flows only through the unclipped tokens.
    logp = new.clone().requires_grad_(True)
    ca.ppo_policy_loss(logp, old, adv, mask)[0].backward()
    assert (logp.grad[0, [1, 2]] == 0).all() and (logp.grad[0, [0, 3]] != 0).all()


def test_ppo_clip_higher_asymmetry_and_dual_clip():
    old = torch.zeros(1, 4)
    new = torch.log(torch.tensor([[1.1, 1.5, 0.5, 1.6]]))
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    mask = torch.ones(1, 4)
    loss_hi, _ = ca.ppo_policy_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.28)
    assert float(loss_hi) == pytest.approx((-1.1 - 1.28 + 0.8 + 1.6) / 4, abs=1e-6)
    loss_lo, _ = ca.ppo_policy_loss(new, old, adv, mask, clip_low=0.4, clip_high=0.2)
    assert float(loss_lo) == pytest.approx((-1.1 - 1.2 + 0.6 + 1.6) / 4, abs=1e-6)
    loss_dual, _ = ca.ppo_policy_loss(new, old, adv, mask, dual_clip=1.3)
    assert float(loss_dual) == pytest.approx((-1.1 - 1.2 + 0.8 + 1.3) / 4, abs=1e-6)  # 1.6 capped at 1.3 for A < 0
    # A positive advantage is never dual-clipped: ratio 0.1 keeps the unclipped (larger) -0.1.
    pos, _ = ca.ppo_policy_loss(torch.log(torch.tensor([[0.1]])), torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1))
    pos_dual, _ = ca.ppo_policy_loss(
        torch.log(torch.tensor([[0.1]])), torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1), dual_clip=1.3
    )
    assert float(pos) == float(pos_dual) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="dual_clip"):
        ca.ppo_policy_loss(new, old, adv, mask, dual_clip=0.9)


def test_value_loss_clipping():
    old, m = torch.zeros(1, 2), torch.ones(1, 2)
    v, ret = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert float(ca.value_loss(v, old, ret, m, clip=None)) == pytest.approx(0.5 * (1 + 1) / 2)
    # Token 0 moved by 1 > clip: clipped 0.2 gives 0.04 < 1, the max keeps 1; token 1: 1.
    assert float(ca.value_loss(v, old, ret, m, clip=0.2)) == pytest.approx(0.5)
    v2, ret2 = torch.tensor([[0.9, 0.0]]), torch.tensor([[1.0, 0.0]])
    # Unclipped error 0.1^2 but the clipped prediction 0.2 is 0.8 away: the pessimistic max takes 0.64.
    assert float(ca.value_loss(v2, old, ret2, m, clip=0.2)) == pytest.approx(0.5 * 0.64 / 2)
    assert float(ca.value_loss(v2, old, ret2, m, clip=None)) == pytest.approx(0.5 * 0.01 / 2)
    assert float(ca.value_loss(v2, old, ret2, m, clip=0.2, agg="seq-mean-token-sum")) == pytest.approx(0.5 * 0.64)


def test_gae_by_hand_and_with_gaps():
    r = torch.tensor([[0.0, 0.0, 1.0]])
    v = torch.tensor([[0.5, 0.6, 0.7]])
    g, lam = 0.9, 0.8
    d2 = 1.0 - 0.7
    d1 = 0.0 + g * 0.7 - 0.6
    d0 = 0.0 + g * 0.6 - 0.5
    a2, a1 = d2, d1 + g * lam * d2
    a0 = d0 + g * lam * a1
    adv, ret = ca.gae(r, v, torch.ones_like(r), g, lam)
    assert adv[0].tolist() == pytest.approx([a0, a1, a2])
    assert adv[0].tolist() == pytest.approx([0.21712, 0.246, 0.3])  # 0.04 + 0.72 * 0.246; 0.03 + 0.72 * 0.3
    assert ret[0].tolist() == pytest.approx([a0 + 0.5, a1 + 0.6, a2 + 0.7])
    # Masked-out positions (env tokens) are skipped, not discounted through.
    r_gap = torch.tensor([[0.0, 9.0, 0.0, 9.0, 1.0, 9.0]])
    v_gap = torch.tensor([[0.5, 9.0, 0.6, 9.0, 0.7, 9.0]])
    m_gap = torch.tensor([[1, 0, 1, 0, 1, 0]])
    adv_gap, ret_gap = ca.gae(r_gap, v_gap, m_gap, g, lam)
    assert adv_gap[0, [0, 2, 4]].tolist() == pytest.approx([a0, a1, a2])
    assert adv_gap[0, [1, 3, 5]].tolist() == [0.0, 0.0, 0.0]
    assert ret_gap[0, [1, 3, 5]].tolist() == [0.0, 0.0, 0.0]


def test_gae_with_gaps_equals_gae_on_compacted_rows():
    torch.manual_seed(0)
    r, v = torch.randn(5, 12), torch.randn(5, 12)
    m = torch.rand(5, 12) > 0.4
    m[4] = False  # a row without any valid position
    d = (torch.rand(5, 12) > 0.8).float()
    adv, ret = ca.gae(r, v, m, 0.97, 0.9, dones=d)
    for row in range(5):
        keep = m[row]
        if not keep.any():
            assert (adv[row] == 0).all() and (ret[row] == 0).all()
            continue
        n = int(keep.sum())
        compact = ca.gae(r[row, keep][None], v[row, keep][None], torch.ones(1, n), 0.97, 0.9, dones=d[row, keep][None])
        assert torch.allclose(adv[row, keep], compact[0][0], atol=1e-6)
        assert torch.allclose(ret[row, keep], compact[1][0], atol=1e-6)
        assert (adv[row, ~keep] == 0).all()


def test_gae_lambda_one_is_returns_minus_values():
    torch.manual_seed(0)
    r, v = torch.rand(3, 6), torch.rand(3, 6)
    m = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 0, 1, 0, 0, 1], [0, 0, 1, 1, 0, 0]])
    adv, ret = ca.gae(r, v, m, 0.95, 1.0)
    assert torch.allclose(adv, (ca.discounted_returns(r, m, 0.95) - v) * m, atol=1e-6)
    assert torch.allclose(ret, ca.discounted_returns(r, m, 0.95), atol=1e-6)


def test_discounted_returns_by_hand_with_gaps_and_dones():
    r = torch.tensor([[1.0, 9.0, 2.0, 4.0]])
    m = torch.tensor([[1, 0, 1, 1]])
    # Over the valid 1, 2, 4 with gamma 0.5: 4; 2 + 2 = 4; 1 + 2 = 3.
    assert ca.discounted_returns(r, m, 0.5)[0].tolist() == [3.0, 0.0, 4.0, 4.0]
    dones = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    assert ca.discounted_returns(r, m, 0.5, dones=dones)[0].tolist() == [2.0, 0.0, 2.0, 4.0]
    # A done on a masked-out position does nothing.
    off_mask_done = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    assert ca.discounted_returns(r, m, 0.5, dones=off_mask_done)[0].tolist() == [3.0, 0.0, 4.0, 4.0]


def test_gae_dones_cut_the_bootstrap():
    r1 = torch.tensor([[1.0, 5.0, 5.0]])
    v1 = torch.tensor([[0.2, 0.3, 0.4]])
    dones = torch.tensor([[1.0, 0.0, 0.0]])
    adv, _ = ca.gae(r1, v1, torch.ones(1, 3), 0.5, 0.9, dones=dones)
    a2 = 5.0 - 0.4
    a1 = 5.0 + 0.5 * 0.4 - 0.3 + 0.5 * 0.9 * a2
    assert adv[0].tolist() == pytest.approx([1.0 - 0.2, a1, a2])  # nothing bootstrapped past the terminal
    no_done, _ = ca.gae(r1, v1, torch.ones(1, 3), 0.5, 0.9)
    assert float(no_done[0, 0]) == pytest.approx(1.0 + 0.5 * 0.3 - 0.2 + 0.5 * 0.9 * a1)


def test_turn_level_gae_is_the_same_function():
    # Two turns, reward at the end, lambda 1: A_0 = gamma * R - V_0.
    r = torch.tensor([[0.0, 1.0]])
    v = torch.tensor([[0.4, 0.8]])
    adv, ret = ca.gae(r, v, torch.ones(1, 2), 0.5, 1.0)
    assert adv[0].tolist() == pytest.approx([0.5 * 1.0 - 0.4, 1.0 - 0.8])
    assert ret[0].tolist() == pytest.approx([0.5, 1.0])


def test_group_normalize_two_groups_and_a_singleton():
    scores = torch.tensor([1.0, 0.0, 2.0, 3.0, 0.0, 4.0])
    groups = torch.tensor([7, 7, 7, 3, 5, 5])
    out = ca.group_normalize(scores, groups, eps=0.0)
    # Group 7: mean 1, unbiased std 1. Group 5: mean 2, unbiased std sqrt(8). Group 3: a singleton.
    s5 = math.sqrt(8)
    assert out.tolist() == pytest.approx([0.0, -1.0, 1.0, 0.0, -2 / s5, 2 / s5])
    with_eps = ca.group_normalize(scores, groups, eps=0.5)
    assert with_eps.tolist() == pytest.approx([0.0, -1 / 1.5, 1 / 1.5, 0.0, -2 / (s5 + 0.5), 2 / (s5 + 0.5)])
    mean_only = ca.group_normalize(scores, groups, std_normalize=False)
    assert mean_only.tolist() == pytest.approx([0.0, -1.0, 1.0, 0.0, -2.0, 2.0])
    # A group with equal scores carries no signal, even with eps 0; float64 stays float64.
    flat = ca.group_normalize(torch.tensor([0.5, 0.5], dtype=torch.float64), torch.tensor([0, 0]), eps=0.0)
    assert flat.dtype == torch.float64 and flat.tolist() == [0.0, 0.0]


def test_rloo_advantages():
    scores = torch.tensor([1.0, 0.0, 2.0, 3.0, 0.0, 4.0])
    groups = torch.tensor([7, 7, 7, 3, 5, 5])
    # 1 - (0+2)/2 = 0; 0 - 1.5; 2 - 0.5; singleton 0; 0 - 4; 4 - 0.
    assert ca.rloo_advantages(scores, groups).tolist() == pytest.approx([0.0, -1.5, 1.5, 0.0, -4.0, 4.0])


def test_kl_estimators():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    assert ca.kl_penalty(logp, ref, "k1").tolist() == pytest.approx([0.5, -1.0])
    assert ca.kl_penalty(logp, ref, "k2").tolist() == pytest.approx([0.125, 0.5])
    want = [math.exp(-0.5) + 0.5 - 1, math.exp(1.0) - 1.0 - 1]
    assert ca.kl_penalty(logp, ref, "k3").tolist() == pytest.approx(want)
    assert ca.kl_penalty(logp, ref, "low_var_kl").tolist() == pytest.approx(want)
    torch.manual_seed(0)
    assert (ca.kl_penalty(torch.randn(100), torch.randn(100), "k3") >= 0).all()
    assert float(ca.kl_penalty(torch.tensor(-30.0), torch.tensor(0.0), "k3")) == 10.0  # clamped like verl
    with pytest.raises(ValueError, match="low_var_kl"):
        ca.kl_penalty(logp, ref, "k9")


def test_entropy_from_logits():
    assert float(ca.entropy_from_logits(torch.zeros(7))) == pytest.approx(math.log(7))
    torch.manual_seed(0)
    logits = torch.randn(4, 5, 11) * 3
    assert torch.allclose(ca.entropy_from_logits(logits), torch.distributions.Categorical(logits=logits).entropy())
    assert float(ca.entropy_from_logits(torch.tensor([1000.0, 1000.0]))) == pytest.approx(math.log(2))
    # Masked vocabulary: -inf logits add nothing, and the gradient stays finite.
    masked = torch.tensor([0.0, -float("inf"), 0.0, -float("inf")], requires_grad=True)
    h = ca.entropy_from_logits(masked)
    h.backward()
    assert float(h.detach()) == pytest.approx(math.log(2))
    assert torch.isfinite(masked.grad).all()
    assert ca.entropy_from_logits(torch.zeros(2, 3, dtype=torch.bfloat16)).dtype == torch.float32


def test_logprobs_from_logits():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    got = ca.logprobs_from_logits(logits, torch.tensor([0, 2]))
    assert got.tolist() == pytest.approx([2.0 - math.log(math.exp(2) + 2), -math.log(3)])
    torch.manual_seed(0)
    logits = torch.randn(4, 5, 11)
    labels = torch.randint(0, 11, (4, 5))
    want = torch.distributions.Categorical(logits=logits).log_prob(labels)
    assert torch.allclose(ca.logprobs_from_logits(logits, labels), want, atol=1e-6)


def test_polyak_update():
    torch.manual_seed(0)
    source, target = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        source.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        target.weight.copy_(torch.tensor([11.0, 12.0, 13.0]))
        source.running_mean.fill_(4.0)
    ca.polyak_update(target, source, 0.1)
    assert target.weight.tolist() == pytest.approx([10.0, 11.0, 12.0])  # 0.9 * 11 + 0.1 * 1 = 10
    assert target.running_mean.tolist() == [4.0, 4.0, 4.0]  # buffers are copied, not mixed
    ca.polyak_update(target, source, 1.0)
    assert all(torch.equal(t, s) for t, s in zip(target.parameters(), source.parameters(), strict=True))
    linear_s, linear_t = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.clone() for p in linear_t.parameters()]
    ca.polyak_update(linear_t, linear_s, 0.1)
    for t, b, s in zip(linear_t.parameters(), before, linear_s.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-7)
    with pytest.raises(ValueError):
        ca.polyak_update(nn.Linear(3, 2), nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)), 0.5)


def test_double_critics():
    a, b = torch.tensor([1.0, 5.0, -2.0]), torch.tensor([2.0, 3.0, -2.0])
    assert ca.double_min(a, b).tolist() == [1.0, 3.0, -2.0]
    assert ca.double_max(a, b).tolist() == [2.0, 5.0, -2.0]
