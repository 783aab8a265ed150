"""Settings help from field docstrings (``agentrl.cli.help``) and ``agentrl algos``."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from agentrl.agents.llm_agent import AgentConfig
from agentrl.agents.scripted import ScriptedAgentConfig
from agentrl.cli import main
from agentrl.cli.evaluate import EvalRunConfig
from agentrl.cli.help import config_docs, field_docs, group_options, settings_help
from agentrl.trainer.algorithm import algorithm_table
from agentrl.trainer.loop import TrainRunConfig


def algo_yamls() -> dict[str, str]:
    """File stem -> the ``name:`` of every file in configs/algo."""
    folder = importlib.resources.files("agentrl.configs") / "algo"
    files = [p for p in folder.iterdir() if p.name.endswith(".yaml")]
    return {p.name.removesuffix(".yaml"): yaml.safe_load(p.read_text(encoding="utf-8"))["name"] for p in files}


def test_algos_lists_every_algo_yaml(capsys):
    assert main(["algos"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines()[1:] if line.startswith("  ")}
    table = algorithm_table()
    for stem, name in algo_yamls().items():
        assert name == stem, f"configs/algo/{stem}.yaml says name: {name}"
        assert name in table and name in listed
    assert "needs value head" in out  # ppo


def test_algos_name_shows_its_settings_and_yaml(capsys):
    assert main(["algos", "ppo"]) == 0
    out = capsys.readouterr().out
    assert "PPOConfig (agentrl.trainer.ppo)" in out and "needs: value head" in out
    assert "algo/ppo.yaml" in out and "# agentrl train algo=ppo" in out
    assert "algo.value_coef: float = 0.5" in out and "Weight of the value loss." in out
    assert "algo.pg.lr: float = 0.003" in out  # the YAML's value, not the dataclass default


def test_algos_unknown_name_exits_2_listing_the_names(capsys):
    assert main(["algos", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err
    for name in algorithm_table():
        assert name in err


def test_train_settings_help_has_names_and_docs():
    docs = config_docs(TrainRunConfig, groups={"algo": algorithm_table()["grpo"].config})
    text = settings_help(TrainRunConfig, groups={"algo": algorithm_table()["grpo"].config}, width=100)
    for name in ("train.iterations", "algo.pg.lr", "agent.sampling.max_new_tokens"):
        assert f"  {name}: " in text
        assert docs[name]
        assert docs[name].split()[0] in text
    assert "train.iterations: int = 20" in text
    assert "shown: algo=grpo (GRPOConfig); others:" in text and "ppo" in text
    assert max(len(line) for line in text.splitlines()) <= 100


@pytest.mark.parametrize("algo", sorted(algorithm_table()))
def test_every_train_setting_is_documented(algo):
    docs = config_docs(TrainRunConfig, groups={"algo": algorithm_table()[algo].config})
    assert any(name.startswith("algo.") for name in docs)
    assert [name for name, doc in docs.items() if not doc] == []


@pytest.mark.parametrize("agent", [AgentConfig, ScriptedAgentConfig])
def test_every_eval_setting_is_documented(agent):
    docs = config_docs(EvalRunConfig, groups={"agent": agent})
    assert any(name.startswith("agent.") for name in docs)
    assert [name for name, doc in docs.items() if not doc] == []


@dataclass
class _Base:
    a: int = 1
    """First
    field,   over two lines."""
    b: str | None = None


@dataclass
class _Inner:
    x: list[str] = field(default_factory=lambda: ["p"])
    """See :class:`~agentrl.cli.help.Setting` and ``x=[q]``."""


@dataclass
class _Child(_Base):
    b: str | None = "z"
    """Overridden doc of b."""
    inner: _Inner = field(default_factory=_Inner)
    """A nested config."""
    group: Any = None
    """A config group."""


def test_field_docs_follow_bases_and_join_lines():
    assert field_docs(_Child) == {
        "a": "First field, over two lines.",
        "b": "Overridden doc of b.",
        "inner": "A nested config.",
        "group": "A config group.",
    }
    assert field_docs(_Base)["a"] == "First field, over two lines." and "b" not in field_docs(_Base)
    assert field_docs(_Inner)["x"] == "See Setting and `x=[q]`."


def test_config_docs_walks_instances_and_prefixes():
    assert list(config_docs(_Child)) == ["a", "b", "inner.x", "group"]
    composed = _Child(group=_Inner())
    assert list(config_docs(composed, prefix="top")) == ["top.a", "top.b", "top.inner.x", "top.group.x"]
    text = settings_help(composed)
    assert "  b: str | None = 'z'" in text and "  group.x: list[str] = ['p']" in text
    assert "shown: _Inner" in text
    assert "  group: Any = None" in settings_help(_Child)


def test_group_options_are_the_config_files():
    assert set(group_options("algo")) == set(algo_yamls())
    assert group_options("no_such_group") == []


def test_settings_help_rejects_a_non_dataclass():
    with pytest.raises(ValueError, match="not a dataclass"):
        settings_help(dict)
