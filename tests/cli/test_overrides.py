"""Every command checks its whole config before any work, and says what is valid (issue 28, item 6)."""

from __future__ import annotations

import pytest

from agentrl.cli import main
from agentrl.cli.config import load
from agentrl.cli.play import PlayConfig
from agentrl.cli.train import load_train_config

TINY = ["env=guess", "model=tiny", "eval.episodes=2", "rollout.max_turns=2"]


def error_of(capsys, *argv: str) -> str:
    """Run ``agentrl ARGV``; it must fail as a bad setting (exit 2, one line, no traceback)."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Config search path" not in err
    return err


@pytest.mark.parametrize("override", ["+train.iteratons=3", "train.iteratons=3", "iterations=3"])
def test_a_misspelt_setting_is_refused_with_the_right_name(override, capsys):
    err = error_of(capsys, "train", "--print-config", override)
    assert f"{override}: no setting" in err and "did you mean train.iterations?" in err


def test_plus_adds_keys_only_to_free_form_dicts(capsys):
    cfg = load_train_config(["env=frozenlake", "+env.kwargs.map_name=4x4"])
    assert cfg.env.kwargs["map_name"] == "4x4"
    err = error_of(capsys, "train", "--print-config", "env.kwargs.map_name=4x4")
    assert "add one with +env.kwargs.map_name=" in err


def test_a_value_of_the_wrong_type_names_setting_value_and_type(capsys):
    err = error_of(capsys, "train", "--print-config", "train.iterations=abc")
    assert "train.iterations=abc: train.iterations takes int, not 'abc'" in err
    err = error_of(capsys, "train", "--print-config", "agent.sampling.temperature=hot")
    assert "agent.sampling.temperature takes float, not 'hot'" in err


def test_an_unknown_option_lists_the_valid_ones_only(capsys):
    err = error_of(capsys, "train", "--print-config", "algo=sac")
    assert "algo=sac: no such algo" in err and "grpo, poad, ppo" in err
    assert "_schema" not in err and "provider=" not in err
    err = error_of(capsys, "eval", "--print-config", "env=guesss")
    assert "did you mean guess?" in err and "frozenlake" in err and "_by_id" not in err


def test_model_takes_an_hf_id_or_a_folder(tmp_path, capsys):
    cfg = load_train_config(["model=HuggingFaceTB/SmolLM2-135M-Instruct"])
    assert cfg.model.name == "HuggingFaceTB/SmolLM2-135M-Instruct" and cfg.model.dtype == "float32"
    assert load_train_config([f"model={tmp_path}"]).model.name == str(tmp_path)
    assert load_train_config(["model=smollm2"]).model.name == "smollm2"
    err = error_of(capsys, "eval", "--print-config", "model=nonexistent")
    assert "model=nonexistent: no such model" in err and "smollm2, tiny" in err and "HF id" in err


@pytest.mark.parametrize("episodes", ["0", "-2"])
def test_play_refuses_fewer_than_one_episode(episodes, capsys):
    err = error_of(capsys, "play", "guess", "--agent", "expert", f"episodes={episodes}")
    assert f"episodes must be at least 1, got {episodes}" in err


def test_a_bad_range_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    err = error_of(capsys, "train", *TINY, "rollout.group_size=0", f"train.output_dir={out}")
    assert "rollout.group_size must be at least 1, got 0" in err
    assert not out.exists()  # refused before the first evaluation
    err = error_of(capsys, "eval", *TINY, "rollout.group_size=0", f"eval.output_dir={out}")
    assert "rollout.group_size must be at least 1" in err and not out.exists()
    err = error_of(capsys, "train", "--print-config", "train.resume=maybe")
    assert "train.resume must be one of: auto, force, never" in err
    # the loss aggregations: the warm-up's and SFT's supervised update, and the policy-gradient update
    err = error_of(capsys, "train", "--print-config", "train.warmup.update.loss_agg=turn-mean", "algo.pg.loss_agg=x")
    assert "train.warmup.update.loss_agg must be one of: token-mean, seq-mean-token-sum, seq-mean-token-mean" in err
    assert "algo.pg.loss_agg must be one of" in err


def test_the_checked_choices_are_the_ones_the_trainer_knows():
    from agentrl.cli.validate import LOSS_AGGREGATIONS, SCHEDULES
    from agentrl.trainer import sft
    from agentrl.trainer.core_algos import AGGREGATIONS

    assert LOSS_AGGREGATIONS == AGGREGATIONS
    assert SCHEDULES == sft.SCHEDULES


@pytest.mark.parametrize(
    ("command", "typo", "meant"),
    [
        ("train", "rollout.grup_size=2", "rollout.group_size"),
        ("eval", "eval.episode=2", "eval.episodes"),
        ("collect", "collect.episode=2", "collect.episodes"),
        ("play", "episode=2", "episodes"),
    ],
)
def test_every_command_validates_the_same_way(command, typo, meant, capsys):
    argv = [command, "guess", typo] if command == "play" else [command, "--print-config", typo]
    err = error_of(capsys, *argv)
    assert f"did you mean {meant}" in err


def test_env_takes_any_registered_id():
    # The id a shipped config names is that config: its arguments, agent defaults and recipe come with it.
    cfg = load_train_config(["env=agentrl/FrozenLake-v0"])
    assert cfg.env == load_train_config(["env=frozenlake"]).env and cfg.env.kwargs["size"] == 4
    shop = load_train_config(["env=agentrl/WebShop-v1"]).env
    assert shop.train_recipe and shop.held_out_split == "test" and shop.kwargs["observation_mode"] == "text_rich"
    # Any other id (or module:Class) is built bare, with the env's own defaults.
    cfg = load_train_config(["env=agentrl.envs.frozenlake:FrozenLakeTextEnv"])
    assert cfg.env.id == "agentrl.envs.frozenlake:FrozenLakeTextEnv" and cfg.env.kwargs == {}
    # env.id alone does not carry the default env's (guess-the-number's) arguments to another env.
    cfg = load_train_config(["env.id=agentrl/FrozenLake-v0"])
    assert cfg.env.id == "agentrl/FrozenLake-v0" and cfg.env.kwargs == {}
    play = load("play", ["env=agentrl/Sokoban-v0"], PlayConfig)
    assert play.env.id == "agentrl/Sokoban-v0"
    with pytest.raises(ValueError, match="no such env"):
        load_train_config(["env=agentrl/NoSuchEnv-v0"])


def test_every_value_rule_names_a_field_of_its_config():
    import dataclasses
    import importlib

    from agentrl.cli.validate import rules

    for key, fields in rules().items():
        module, _, name = key.partition(":")
        cls = getattr(importlib.import_module(module), name)
        assert set(fields) <= {f.name for f in dataclasses.fields(cls)}, key


def test_an_envs_agent_block_sets_the_agents_history_window():
    from agentrl.cli.evaluate import EvalRunConfig
    from agentrl.cli.train import TrainRunConfig

    # ALFWorld's long episodes drop 5 turns at once from a full window, so that the hf backend's kept states serve
    # the next 4 prompts; an env that says nothing slides it by one turn; the command line overrides either.
    assert load("eval", ["env=alfworld"], EvalRunConfig).agent.history_drop == 5
    assert load("train", ["env=alfworld"], TrainRunConfig).agent.history_drop == 5  # the config before its recipe
    assert load_train_config(["env=babyai"]).agent.history_drop == 1
    assert load_train_config(["env=alfworld", "agent.history_drop=2"]).agent.history_drop == 2
    # `agentrl train env=alfworld` starts from the env's recipe: a 2-turn window sliding by one
    recipe = load_train_config(["env=alfworld"]).agent
    assert (recipe.history, recipe.history_drop) == (2, 1)
