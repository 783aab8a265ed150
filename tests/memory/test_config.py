"""``memory=on``/``memory=off`` compose into ``agentrl eval`` and ``agentrl train`` as typed settings."""

from __future__ import annotations

import pytest

from agentrl.cli.config import load
from agentrl.cli.evaluate import EvalRunConfig
from agentrl.memory import MemoryConfig


def test_memory_is_off_by_default_and_on_turns_it_on_with_its_settings():
    from agentrl.cli.train import load_train_config

    assert load("eval", [], EvalRunConfig).memory == MemoryConfig()
    assert not load_train_config([]).memory.enabled
    cfg = load("eval", ["memory=on", "memory.retriever.k=2", "memory.planner=true"], EvalRunConfig)
    assert cfg.memory.enabled and cfg.memory.retriever.k == 2 and cfg.memory.planner
    assert load_train_config(["memory.enabled=true"]).memory.enabled
    assert not load("eval", ["memory=off"], EvalRunConfig).memory.enabled


def test_bad_memory_settings_name_the_setting():
    with pytest.raises(ValueError, match=r"memory\.retriever\.k"):
        load("eval", ["memory=on", "memory.retriever.k=many"], EvalRunConfig)


def test_the_package_exports_each_name_from_its_module():
    import agentrl.memory as memory

    for name in memory.__all__:
        assert getattr(memory, name).__module__.startswith("agentrl.memory."), name
    with pytest.raises(AttributeError, match="no attribute 'CaseBnk'"):
        memory.CaseBnk  # noqa: B018
