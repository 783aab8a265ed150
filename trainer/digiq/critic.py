"""Digi-Q's critic: two Q and two V MLP heads on frozen features, each with a Polyak-averaged target copy.

``Q_i`` reads the feature of (state, action) (the LM's hidden state at the answer position after the prompt, the
reply and the question), ``V_i`` the feature of the state (the prompt's last token). Trained by TD on the dataset's
own actions (SARSA-style, so V converges to the behaviour policy's value):

* ``L_Q = sum_i (Q_i(s, a) - [r + gamma (1 - d) Vbar_i(s')])^2``
* ``L_V = sum_i (V_i(s) - Qbar_i(s, a_data))^2``

each a mean over the batch, ``Vbar``/``Qbar`` the target heads.
"""

from __future__ import annotations

import torch
from torch import nn

from agentrl.trainer.core_algos import td_targets


def mlp(width: int, hidden: int) -> nn.Sequential:
    """A two-hidden-layer ReLU MLP to a scalar."""
    return nn.Sequential(
        nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    )


class FeatureCritic(nn.Module):
    """Two Q heads on state-action features and two V heads on state features.

    Args:
        width: Feature width (the LM's hidden size).
        hidden: Width of each head's hidden layers.
    """

    def __init__(self, width: int, hidden: int = 256):
        super().__init__()
        self.q1, self.q2 = mlp(width, hidden), mlp(width, hidden)
        self.v1, self.v2 = mlp(width, hidden), mlp(width, hidden)

    def q(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Q_1, Q_2`` of ``[..., width]`` state-action features, shaped ``[...]``."""
        return self.q1(features).squeeze(-1), self.q2(features).squeeze(-1)

    def v(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``V_1, V_2`` of ``[..., width]`` state features, shaped ``[...]``."""
        return self.v1(features).squeeze(-1), self.v2(features).squeeze(-1)


def td_losses(
    critic: FeatureCritic,
    target: FeatureCritic,
    state_action: torch.Tensor,
    state: torch.Tensor,
    next_state: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_Q, L_V)`` of the module docstring on one batch.

    Args:
        critic: The heads being trained.
        target: Their target copies.
        state_action: ``[B, H]`` features of (s, a_data).
        state: ``[B, H]`` features of s.
        next_state: ``[B, H]`` features of s' (anything where ``done``).
        reward: ``[B]``.
        done: ``[B]`` 1 where the episode ended.
        gamma: Discount.
    """
    with torch.no_grad():
        next_v1, next_v2 = target.v(next_state)
        target_q1, target_q2 = target.q(state_action)
    q1, q2 = critic.q(state_action)
    loss_q = ((q1 - td_targets(reward, done, next_v1, gamma)) ** 2).mean() + (
        (q2 - td_targets(reward, done, next_v2, gamma)) ** 2
    ).mean()
    v1, v2 = critic.v(state)
    loss_v = ((v1 - target_q1) ** 2).mean() + ((v2 - target_q2) ** 2).mean()
    return loss_q, loss_v
