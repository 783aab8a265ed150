"""GRPO, RLOO, REINFORCE++ and GiGPO advantages, and the token batch they are broadcast onto."""

from __future__ import annotations

import math

import pytest
import torch

from agentrl.agents.types import Trajectory, Turn
from agentrl.trainer.batch import flatten_turns, turn_batch
from agentrl.trainer.grpo import GRPOConfig, episode_advantages, step_advantages, turn_advantages


def traj(group: int, steps: list[tuple[str, float]], first: str = "s0", invalid: tuple[int, ...] = ()) -> Trajectory:
    """A trajectory whose turn t leaves observation steps[t][0] with reward steps[t][1]."""
    turns = [
        Turn(
            prompt_ids=[1, 2],
            response_ids=[3],
            response_logprobs=[-1.0],
            action_text="a",
            observation_text=obs,
            reward=reward,
            terminated=t == len(steps) - 1,
            truncated=False,
            info={"invalid_action": t in invalid},
        )
        for t, (obs, reward) in enumerate(steps)
    ]
    return Trajectory(
        env_id="x", seed=group, task_id=str(group), group_id=group, initial_observation=first, turns=turns
    )


def test_grpo_normalises_returns_within_each_group():
    adv = episode_advantages([1.0, 0.0, 0.0, 5.0, 5.0], [0, 0, 0, 1, 1], "grpo", eps=0.0)
    std = torch.tensor([1.0, 0.0, 0.0]).std().item()  # unbiased: sqrt(1/3)
    assert adv[:3] == pytest.approx([(2 / 3) / std, (-1 / 3) / std, (-1 / 3) / std])
    assert adv[3:] == [0.0, 0.0]  # no spread: no signal (and no division by zero with eps=0)
    assert episode_advantages([1.0, 0.0], [0, 0], "grpo", std_normalize=False) == pytest.approx([0.5, -0.5])


def test_rloo_and_reinforce_pp():
    assert episode_advantages([3.0, 0.0, 0.0], [0, 0, 0], "rloo") == pytest.approx([3.0, -1.5, -1.5])
    assert episode_advantages([7.0], [0], "rloo") == [0.0]
    adv = episode_advantages([1.0, 2.0, 3.0, 4.0], [0, 1, 2, 3], "reinforce_pp")
    assert sum(adv) == pytest.approx(0.0, abs=1e-6)
    assert adv[3] - adv[0] == pytest.approx(3 / math.sqrt(1.25), rel=1e-4)  # population std of 1..4
    with pytest.raises(ValueError, match="gigpo"):
        episode_advantages([1.0], [0], "nope")


def test_gigpo_two_groups_of_three_with_a_shared_state():
    """Hand-built batch: in group 0 state 'B' is reached by all three trajectories."""
    group0 = [
        traj(0, [("B", 0.0), ("win", 1.0)]),  # s0 -a-> B -a-> win
        traj(0, [("B", 0.0), ("lose", 0.0)]),  # s0 -> B -> lose
        traj(0, [("C", 0.0), ("B", 0.0), ("win", 1.0)]),  # s0 -> C -> B -> win
    ]
    group1 = [
        traj(1, [("win", 1.0)]),
        traj(1, [("lose", 0.0)], invalid=(0,)),
        traj(1, [("lose", 0.0)]),
    ]
    batch = group0 + group1
    cfg = GRPOConfig(estimator="gigpo", invalid_penalty=-0.1, step_gamma=0.95, eps=0.0)
    adv = turn_advantages(batch, cfg)

    # Episode level: group-normalised returns (with the -0.1 penalty in group 1).
    std0 = torch.tensor([1.0, 0.0, 1.0]).std().item()
    a_ep0 = [(1 - 2 / 3) / std0, (0 - 2 / 3) / std0, (1 - 2 / 3) / std0]
    r1 = torch.tensor([1.0, -0.1, 0.0])
    a_ep1 = ((r1 - r1.mean()) / r1.std()).tolist()
    # Step level. Group 0, anchor s0 (turn 0 of all three): returns 0.95, 0, 0.9025.
    s0 = torch.tensor([0.95, 0.0, 0.95**2])
    s0n = ((s0 - s0.mean()) / s0.std()).tolist()
    # Anchor B (turn 1 of traj 0 and 1, turn 2 of traj 2): returns 1, 0, 1.
    b = torch.tensor([1.0, 0.0, 1.0])
    bn = ((b - b.mean()) / b.std()).tolist()
    # Anchor C: a singleton -> 0. Group 1: the one anchor s0 holds all three first turns.
    g1 = ((r1 - r1.mean()) / r1.std()).tolist()
    expected = [
        [a_ep0[0] + s0n[0], a_ep0[0] + bn[0]],
        [a_ep0[1] + s0n[1], a_ep0[1] + bn[1]],
        [a_ep0[2] + s0n[2], a_ep0[2] + 0.0, a_ep0[2] + bn[2]],
        [a_ep1[0] + g1[0]],
        [a_ep1[1] + g1[1]],
        [a_ep1[2] + g1[2]],
    ]
    for got, want in zip(adv, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    # The numbers themselves, so a change in the formulas cannot hide behind the helpers above.
    assert adv[0][0] == pytest.approx(0.57735 + 0.62113, abs=1e-4)
    assert adv[2][1] == pytest.approx(0.57735, abs=1e-4)


def test_gigpo_states_are_grouped_only_within_a_group():
    a = traj(0, [("X", 1.0)], first="same")
    b = traj(1, [("X", 0.0)], first="same")
    assert step_advantages([a, b], [[1.0], [0.0]]) == [[0.0], [0.0]]


def test_grpo_broadcasts_one_value_to_every_turn():
    batch = [traj(0, [("a", 0.0), ("b", 1.0)]), traj(0, [("c", 0.0)])]
    adv = turn_advantages(batch, GRPOConfig(estimator="grpo"))
    assert adv[0][0] == adv[0][1] > 0 > adv[1][0]


def test_turn_batch_masks_exactly_the_generated_tokens():
    turns = [
        Turn([5, 6, 7], [8, 9], [-0.1, -0.2], "a", "o", 0.0, False, False),
        Turn([5], [4], [-0.3], "a", "o", 0.0, False, False),
    ]
    batch = turn_batch(turns, pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 4, 0, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    # Label-aligned: position p predicts token p+1.
    assert batch.response_mask.tolist() == [[0, 0, 1, 1], [1, 0, 0, 0]]
    labels = batch.input_ids[:, 1:]
    assert labels[batch.response_mask.bool()].tolist() == [8, 9, 4]
    sub = batch.select([1])
    assert sub.input_ids.tolist() == [[5, 4]] and sub.response_mask.tolist() == [[1]]
    trajectories = [Trajectory("x", 0, "0", 0, turns=turns)]
    assert flatten_turns(trajectories)[1] == [(0, 0), (0, 1)]
