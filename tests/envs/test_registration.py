"""Making envs by short name, id, gymnasium id and module:Class; clear errors otherwise."""

from __future__ import annotations

import gymnasium
import pytest

import agentrl
import agentrl.envs  # registers the built-in envs with gymnasium
from agentrl.envs import registration
from agentrl.envs.frozenlake import FrozenLakeTextEnv


def test_short_name_applies_config_and_time_limit():
    env = agentrl.make("frozenlake")
    assert isinstance(env.unwrapped, FrozenLakeTextEnv)
    assert env.spec.max_episode_steps == 100
    assert agentrl.make("frozenlake", size=7).unwrapped.size == 7


def test_registered_id_works_through_gymnasium_itself():
    env = gymnasium.make("agentrl/FrozenLake-v0", size=5)
    assert env.reset(seed=0)[0].count("\n") == 4


def test_module_class_and_module_id_forms():
    env = agentrl.make("agentrl.envs.frozenlake:FrozenLakeTextEnv", size=3)
    assert isinstance(env, FrozenLakeTextEnv) and env.size == 3
    env = agentrl.make("agentrl.envs:agentrl/FrozenLake-v0")
    assert isinstance(env.unwrapped, FrozenLakeTextEnv)


def test_multi_agent_env_comes_from_the_catalogue():
    env = agentrl.make("agentrl/TicTacToe-v0")
    assert env.possible_agents == ["player_x", "player_o"]
    assert "agentrl/TicTacToe-v0" not in gymnasium.registry


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"agentrl/Sokoban-v0"):
        agentrl.make("agentrl/Nope-v0")
    with pytest.raises(ValueError, match="cannot import"):
        agentrl.make("no_such_module_xyz:Env")
    with pytest.raises(KeyError, match="registered:"):
        registration.spec("agentrl/Nope-v0")


def test_register_refuses_to_shadow_another_packages_id():
    with pytest.raises(ValueError, match="already registered"):
        registration.register("CartPole-v1", "agentrl.envs.frozenlake:FrozenLakeTextEnv")


def test_bad_kwargs_for_short_name_are_a_clear_error():
    with pytest.raises(ValueError, match="cannot build agentrl/FrozenLake-v0"):
        agentrl.make("frozenlake", no_such_argument=1)
