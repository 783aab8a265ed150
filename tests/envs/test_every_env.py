"""Every registered env and every short-name config passes agentrl's checkers."""

from __future__ import annotations

import pytest

import agentrl
from agentrl.envs import registered
from agentrl.factory import short_names
from agentrl.testing import check_aec_text_env, check_text_env

ENTRIES = registered()
# Over ~20 s each (the 1,000-step soak on a simulator, a sandbox or a browser): skipped by `make test-fast`.
SLOW = {
    "agentrl/ALFWorld-v0",
    "agentrl/CodeTask-v0",
    "agentrl/Coq-v0",
    "agentrl/Device-v0",
    "agentrl/GridPolicy-v0",
    "agentrl/MiniWoB-v0",
    "agentrl/ScienceWorld-v0",
    "agentrl/TextWorld-v0",
    "agentrl/WebShop-Browser-v1",
}
CHECKED = [pytest.param(e, id=e.id, marks=[pytest.mark.slow] if e.id in SLOW else []) for e in ENTRIES]


@pytest.mark.parametrize("entry", CHECKED)
def test_registered_env_passes_checker(entry):
    env = agentrl.make(entry.id)
    try:
        if entry.multi_agent:
            check_aec_text_env(env, soak_steps=1000)
        else:
            check_text_env(env, soak_steps=1000)
    finally:
        env.close()


@pytest.mark.parametrize("name", short_names())
def test_short_name_builds_and_resets(name):
    env = agentrl.make(name)
    try:
        if hasattr(env, "agent_iter"):
            env.reset(seed=0)
            assert isinstance(env.observe(env.agent_selection), str)
        else:
            obs, info = env.reset(seed=0)
            assert isinstance(obs, str) and obs
            assert info["task"]
    finally:
        env.close()


def test_every_builtin_env_has_a_short_name_and_description():
    configured = {agentrl.factory.env_config(n).id for n in short_names()}
    for entry in ENTRIES:
        if entry.id.startswith("agentrl/"):
            assert entry.description, entry.id
            assert entry.id in configured, f"{entry.id} has no configs/env file"
