"""Every shipped config file names the command that uses it and validates against its schema."""

from __future__ import annotations

from importlib import resources

import pytest

from agentrl.cli.config import env_overrides, load
from agentrl.cli.play import PlayConfig
from agentrl.envs import registered
from agentrl.factory import env_config, short_names

_ROOT = resources.files("agentrl.configs")
CONFIG_FILES = [
    p
    for folder in (_ROOT, _ROOT / "env", _ROOT / "algo", _ROOT / "model", _ROOT / "memory")
    for p in sorted(folder.iterdir(), key=lambda p: p.name)
    if p.name.endswith(".yaml")
]
ALGOS = sorted(p.name[: -len(".yaml")] for p in (_ROOT / "algo").iterdir() if p.name.endswith(".yaml"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_config_starts_with_the_command_that_uses_it(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# agentrl "), f"{path.name} must start with '# agentrl <command>'"


@pytest.mark.parametrize("name", short_names())
def test_env_config_validates_and_names_a_registered_env(name):
    cfg = env_config(name)
    assert cfg.id in {e.id for e in registered()}
    play = load("play", env_overrides(name), PlayConfig)
    assert play.env == cfg


def test_play_config_takes_flags_and_overrides():
    cfg = load("play", [*env_overrides("sokoban"), "seed=7", "env.kwargs.num_boxes=2"], PlayConfig)
    assert cfg.seed == 7 and cfg.env.kwargs["num_boxes"] == 2 and cfg.env.id == "agentrl/Sokoban-v0"
    cfg = load("play", env_overrides("agentrl.envs.frozenlake:FrozenLakeTextEnv"), PlayConfig)
    assert cfg.env.id == "agentrl.envs.frozenlake:FrozenLakeTextEnv" and cfg.env.kwargs == {}


def test_bad_values_are_rejected_with_the_setting_named():
    with pytest.raises(ValueError, match="seed"):
        load("play", [*env_overrides("sokoban"), "seed=abc"], PlayConfig)
    with pytest.raises(ValueError, match="nonexistent"):
        load("play", ["env=nonexistent"], PlayConfig)
    with pytest.raises(KeyError, match="short names"):
        env_config("nonexistent")


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("env", ["guess", "frozenlake", "sokoban", "babyai"])
def test_every_algorithm_config_validates_with_every_env(algo, env):
    from agentrl.cli.train import load_train_config
    from agentrl.trainer.algorithm import algorithm_table
    from agentrl.trainer.grpo import GRPOConfig

    table = algorithm_table()
    cfg = load_train_config([f"algo={algo}", f"env={env}"])
    assert isinstance(cfg.algo, table[algo].config)
    assert cfg.algo.name == algo and cfg.env == env_config(env)
    if isinstance(cfg.algo, GRPOConfig):
        assert cfg.algo.estimator == {"gigpo_verl": "gigpo"}.get(algo, algo)  # verl-agent parity is gigpo with options
    with pytest.raises(ValueError, match="lr"):
        load_train_config([f"algo={algo}", "algo.actor_lr=abc" if algo == "archer" else "algo.pg.lr=abc"])
