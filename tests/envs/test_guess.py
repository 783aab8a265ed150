"""Guess the number: feedback, the bisection expert, parsing and seeding."""

from __future__ import annotations

import math

import pytest

import agentrl
from agentrl.envs.guess import GuessNumberEnv


def play_expert(env, seed: int) -> tuple[bool, int]:
    _, info = env.reset(seed=seed)
    for turn in range(1, 100):
        _, reward, terminated, _, info = env.step(info["expert_action"])
        if terminated:
            return reward == 1.0 and info["won"], turn
    raise AssertionError("episode did not end")


@pytest.mark.parametrize(("low", "high"), [(1, 10), (1, 100), (0, 0), (-5, 37)])
def test_bisection_always_wins_within_the_default_budget(low, high):
    env = GuessNumberEnv(low=low, high=high)
    assert env.max_guesses == math.ceil(math.log2(high - low + 2))
    for seed in range(40):
        won, turns = play_expert(env, seed)
        assert won and turns <= env.max_guesses


def test_feedback_and_running_out_of_guesses():
    env = GuessNumberEnv(1, 10, max_guesses=2)
    obs, info = env.reset(seed=3)
    secret = env.secret
    assert "from 1 to 10" in obs and "2 guesses" in info["task"]
    low_guess = 1 if secret != 1 else 2
    obs, reward, terminated, _, info = env.step(str(low_guess))
    verdict = "too low" if low_guess < secret else "too high"
    assert obs == f"{low_guess} is {verdict}. Guesses left: 1." and reward == 0.0 and not terminated
    wrong = 10 if secret != 10 else 9
    obs, reward, terminated, _, info = env.step(f"Guess {wrong}.")
    assert terminated and reward == 0.0 and not info["won"] and f"the number was {secret}" in obs
    assert info["expert_action"] is None


def test_invalid_guesses_cost_nothing():
    env = GuessNumberEnv(1, 10)
    env.reset(seed=0)
    for bad in ["eleven", "11", "0", "5 or 6", "guess", "", "3.5"]:
        _, reward, terminated, _, info = env.step(bad)
        assert info["invalid_action"] and not terminated and reward == 0.0, bad
    assert env.guesses == []
    assert env.parse_action(" guess: 7 ") == 7 and env.parse_action("7!") == 7


def test_invalid_feedback_names_the_range_not_every_number():
    env = GuessNumberEnv(1, 1_000_000)
    env.reset(seed=0)
    obs, *_ = env.step("twelve")
    assert obs.startswith("Invalid action: 'twelve'. Reply with one whole number from 1 to 1000000.")
    assert len(obs) < 200 and "Guess the number from 1 to 1000000." in obs


def test_same_seed_same_secret_and_the_short_name():
    env = agentrl.make("guess")
    env.reset(seed=11)
    first = env.unwrapped.secret
    env.reset(seed=12)
    env.reset(seed=11)
    assert env.unwrapped.secret == first
    secrets = set()
    for seed in range(200):
        env.reset(seed=seed)
        secrets.add(env.unwrapped.secret)
    assert secrets == set(range(1, 11))
    with pytest.raises(ValueError, match="high"):
        GuessNumberEnv(5, 1)
