"""FrozenLake as text: rendering, dynamics, seeding and the value-iteration expert."""

from __future__ import annotations

import numpy as np
import pytest

import agentrl
from agentrl.envs.frozenlake import FrozenLakeTextEnv


def run_expert(env, seed: int) -> tuple[bool, int]:
    _, info = env.reset(seed=seed)
    for step in range(200):
        _obs, _reward, terminated, truncated, info = env.step(info["expert_action"])
        if terminated or truncated:
            return bool(info["won"]), step + 1
    return False, 200


@pytest.mark.parametrize("size", [4, 6, 8])
def test_expert_solves_every_seed_on_ice(size):
    env = agentrl.make("frozenlake", size=size)
    for seed in range(20):
        won, _ = run_expert(env, seed)
        assert won, f"expert failed on size {size}, seed {seed}"


def test_expert_beats_random_on_slippery_ice():
    env = agentrl.make("frozenlake", map_name="4x4", is_slippery=True)
    expert_wins = sum(run_expert(env, seed)[0] for seed in range(100))
    rng = np.random.default_rng(0)
    random_wins = 0
    for seed in range(100):
        env.reset(seed=seed)
        for _ in range(100):
            _, _, terminated, truncated, info = env.step(["left", "down", "right", "up"][rng.integers(4)])
            if terminated or truncated:
                random_wins += info["won"]
                break
    # Value iteration wins ~74% of slippery 4x4 games; a random walk ~1.5%.
    assert expert_wins >= 55
    assert expert_wins > 10 * max(random_wins, 1)


def test_rendering_symbols_and_hole():
    env = FrozenLakeTextEnv(map_name="4x4")
    obs, _ = env.reset(seed=0)
    assert obs == "P___\n_O_O\n___O\nO__G"
    obs, reward, terminated, _, info = env.step("down")
    assert obs.splitlines()[1] == "PO_O"
    obs, reward, terminated, _, info = env.step("right")
    assert obs.splitlines()[1] == "_X_O"
    assert terminated and reward == 0.0 and not info["won"] and info["expert_action"] is None


def test_goal_reward_and_symbol():
    env = FrozenLakeTextEnv(map_name="4x4")
    env.reset(seed=0)
    for action in ["down", "down", "right", "down", "right", "right"]:
        obs, reward, terminated, _, info = env.step(action)
    assert obs.endswith("√") and reward == 1.0 and terminated and info["won"] and info["score"] == 1.0


def test_same_seed_same_map_other_seed_other_map():
    env = FrozenLakeTextEnv(size=6)
    maps = {env.reset(seed=s)[0] for s in range(10)}
    assert env.reset(seed=3)[0] == env.reset(seed=3)[0]
    assert len(maps) > 5


def test_task_id_option_picks_the_map():
    env = FrozenLakeTextEnv(size=5)
    assert env.reset(seed=1, options={"task_id": 7})[0] == env.reset(seed=2, options={"task_id": 7})[0]


def test_invalid_actions_leave_the_state_unchanged():
    env = FrozenLakeTextEnv(map_name="4x4")
    obs, _ = env.reset(seed=0)
    for action in ["", "jump", "x" * 10_000, "🙂", "left right"]:
        text, reward, terminated, truncated, info = env.step(action)
        assert info["invalid_action"] and reward == 0.0 and not (terminated or truncated)
        assert text.endswith(obs) and "Invalid action" in text
    assert env.step("Down.")[4]["invalid_action"] is False


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="map_name"):
        FrozenLakeTextEnv(map_name="3x3")
    with pytest.raises(ValueError, match="size"):
        FrozenLakeTextEnv(size=1)
