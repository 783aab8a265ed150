"""The shared primitives of trainer/core_algos.py against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from agentrl.trainer import core_algos as ca


def test_masked_sum_mean_and_whiten():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    m = torch.tensor([[1, 0, 1], [0, 1, 0]])
    assert float(ca.masked_sum(x, m)) == 9.0
    assert float(ca.masked_mean(x, m)) == pytest.approx(3.0)
    assert ca.masked_mean(x, m, dim=1).tolist() == pytest.approx([2.0, 5.0])
    w = ca.masked_whiten(x, m)
    assert float(ca.masked_mean(w, m)) == pytest.approx(0.0, abs=1e-6)
    assert float(ca.masked_mean(w**2, m)) == pytest.approx(1.0, abs=1e-4)


def test_aggregation_modes():
    loss = torch.tensor([[1.0, 2.0, 3.0], [10.0, 0.0, 0.0], [7.0, 7.0, 7.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert float(ca.aggregate_loss(loss, mask, "token-mean")) == pytest.approx(16 / 4)
    assert float(ca.aggregate_loss(loss, mask, "seq-mean-token-sum")) == pytest.approx((6 + 10) / 2)
    assert float(ca.aggregate_loss(loss, mask, "seq-mean-token-mean")) == pytest.approx((2 + 10) / 2)
    with pytest.raises(ValueError, match="token-mean"):
        ca.aggregate_loss(loss, mask, "sum")


def test_ppo_clip_inactive_active_dual_and_clip_higher():
    old = torch.zeros(1, 4)
    new = torch.log(torch.tensor([[1.1, 1.5, 0.5, 1.6]]))
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    mask = torch.ones(1, 4)
    loss, stats = ca.ppo_policy_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.2)
    # Per token: -1.1 (inside), -1.2 (clipped at 1.2), 0.8 (clipped at 0.8), 1.6 (unclipped: worse)
    assert float(loss) == pytest.approx((-1.1 - 1.2 + 0.8 + 1.6) / 4, abs=1e-6)
    assert stats["clipfrac"] == pytest.approx(2 / 4)
    loss_hi, _ = ca.ppo_policy_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.28)
    assert float(loss_hi) == pytest.approx((-1.1 - 1.28 + 0.8 + 1.6) / 4, abs=1e-6)
    loss_dual, _ = ca.ppo_policy_loss(new, old, adv, mask, dual_clip=1.3)
    assert float(loss_dual) == pytest.approx((-1.1 - 1.2 + 0.8 + 1.3) / 4, abs=1e-6)  # 1.6 capped at 1.3 for A < 0
    with pytest.raises(ValueError):
        ca.ppo_policy_loss(new, old, adv, mask, dual_clip=0.9)
    # Gradient flows only through unclipped tokens.
    logp = new.clone().requires_grad_(True)
    ca.ppo_policy_loss(logp, old, adv, mask)[0].backward()
    assert (logp.grad[0, [1, 2]] == 0).all() and (logp.grad[0, [0, 3]] != 0).all()


def test_value_loss_clipping():
    v, old, ret, m = (
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[0.0, 0.0]]),
        torch.tensor([[0.0, 1.0]]),
        torch.ones(1, 2),
    )
    assert float(ca.value_loss(v, old, ret, m, clip=None)) == pytest.approx(0.5 * (1 + 1) / 2)
    # Token 0 moved by 1 > clip: clipped 0.2 -> (0.2-0)^2=0.04 < 1, keep max 1; token 1: 1.
    assert float(ca.value_loss(v, old, ret, m, clip=0.2)) == pytest.approx(0.5)
    v2 = torch.tensor([[0.9, 0.0]])
    ret2 = torch.tensor([[1.0, 0.0]])
    # Clipped prediction 0.2 is far from 1.0: (0.8)^2 = 0.64 > (0.1)^2 -> pessimistic max.
    assert float(ca.value_loss(v2, old, ret2, m, clip=0.2)) == pytest.approx(0.5 * 0.64 / 2)


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
    assert ret[0].tolist() == pytest.approx([a0 + 0.5, a1 + 0.6, a2 + 0.7])
    # Masked-out positions (env tokens) are skipped, not discounted through.
    r_gap = torch.tensor([[0.0, 9.0, 0.0, 9.0, 1.0]])
    v_gap = torch.tensor([[0.5, 9.0, 0.6, 9.0, 0.7]])
    m_gap = torch.tensor([[1, 0, 1, 0, 1]])
    adv_gap, _ = ca.gae(r_gap, v_gap, m_gap, g, lam)
    assert adv_gap[0, [0, 2, 4]].tolist() == pytest.approx([a0, a1, a2])
    assert adv_gap[0, [1, 3]].tolist() == [0.0, 0.0]


def test_gae_lambda_one_is_returns_minus_values_and_dones_cut_bootstrap():
    torch.manual_seed(0)
    r, v, m = torch.rand(3, 6), torch.rand(3, 6), torch.ones(3, 6)
    adv, _ = ca.gae(r, v, m, 0.95, 1.0)
    assert torch.allclose(adv, ca.discounted_returns(r, m, 0.95) - v, atol=1e-6)
    dones = torch.zeros(1, 3)
    dones[0, 0] = 1.0
    r1 = torch.tensor([[1.0, 5.0, 5.0]])
    assert ca.discounted_returns(r1, torch.ones(1, 3), 0.5, dones=dones)[0].tolist() == [1.0, 7.5, 5.0]
    adv_d, _ = ca.gae(r1, torch.tensor([[0.2, 0.3, 0.4]]), torch.ones(1, 3), 0.5, 0.9, dones=dones)
    assert float(adv_d[0, 0]) == pytest.approx(1.0 - 0.2)  # no bootstrap past a terminal


def test_turn_level_gae_is_the_same_function():
    r = torch.tensor([[0.0, 1.0]])
    v = torch.tensor([[0.4, 0.8]])
    adv, _ = ca.gae(r, v, torch.ones(1, 2), 0.5, 1.0)
    assert adv[0].tolist() == pytest.approx([0.5 * 1.0 - 0.4, 1.0 - 0.8])


def test_group_normalize_and_rloo():
    scores = torch.tensor([1.0, 0.0, 2.0, 3.0, 4.0])
    groups = torch.tensor([0, 0, 0, 1, 2])
    out = ca.group_normalize(scores, groups, eps=0.0)
    assert out[:3].tolist() == pytest.approx([0.0, -1.0, 1.0])  # mean 1, unbiased std 1
    assert out[3:].tolist() == [0.0, 0.0]
    assert ca.group_normalize(scores, groups, std_normalize=False)[:3].tolist() == pytest.approx([0.0, -1.0, 1.0])
    assert ca.rloo_advantages(scores, groups).tolist() == pytest.approx([0.0, -1.5, 1.5, 0.0, 0.0])


def test_kl_estimators():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    assert ca.kl_penalty(logp, ref, "k1").tolist() == pytest.approx([0.5, -1.0])
    assert ca.kl_penalty(logp, ref, "k2").tolist() == pytest.approx([0.125, 0.5])
    want = [math.exp(-0.5) + 0.5 - 1, math.exp(1.0) - 1.0 - 1]
    assert ca.kl_penalty(logp, ref, "k3").tolist() == pytest.approx(want)
    assert ca.kl_penalty(logp, ref, "low_var_kl").tolist() == pytest.approx(want)
    assert (ca.kl_penalty(torch.randn(100), torch.randn(100), "k3") >= 0).all()
    with pytest.raises(ValueError, match="k3"):
        ca.kl_penalty(logp, ref, "k9")


def test_entropy_and_logprobs_from_logits():
    assert float(ca.entropy_from_logits(torch.zeros(7))) == pytest.approx(math.log(7))
    logits = torch.randn(4, 5, 11)
    assert torch.allclose(ca.entropy_from_logits(logits), torch.distributions.Categorical(logits=logits).entropy())
    labels = torch.randint(0, 11, (4, 5))
    want = torch.distributions.Categorical(logits=logits).log_prob(labels)
    assert torch.allclose(ca.logprobs_from_logits(logits, labels), want, atol=1e-6)


def test_polyak_and_double_critics():
    torch.manual_seed(0)
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.clone() for p in target.parameters()]
    ca.polyak_update(target, source, 0.1)
    for t, b, s in zip(target.parameters(), before, source.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * b + 0.1 * s)
    ca.polyak_update(target, source, 1.0)
    assert all(torch.equal(t, s) for t, s in zip(target.parameters(), source.parameters(), strict=True))
    a, b = torch.tensor([1.0, 5.0]), torch.tensor([2.0, 3.0])
    assert ca.double_min(a, b).tolist() == [1.0, 3.0] and ca.double_max(a, b).tolist() == [2.0, 5.0]
