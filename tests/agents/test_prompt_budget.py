"""Prompts never outgrow the model: a token budget keeps the task and the latest observation, and says what it cut."""

from __future__ import annotations

import logging

import gymnasium
import pytest

from agentrl.agents.backends import HFBackend
from agentrl.agents.base import EpisodeStart
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, DemonstrationAgent, LLMAgent, prompt_budget
from agentrl.agents.models import TINY_CONTEXT
from agentrl.agents.prompting import Conversation, chat_pieces, context_length
from agentrl.agents.scripted import RandomAgent
from agentrl.trainer.rollout import RolloutConfig, collect

TASK = "reach the far end of the corridor"


class Corridor(gymnasium.Env):
    """Never ends by itself; every observation is long (a tiny-tokenizer token per few characters) and numbered."""

    def __init__(self, length: int = 900):
        self.length, self.t = length, 0

    def _observation(self) -> str:
        return f"STEP{self.t}START " + "you see a wall and a door. " * (self.length // 27) + f"STEP{self.t}END"

    def _info(self) -> dict:
        return {"task": TASK, "admissible_actions": ["left", "right"], "instructions": "Walk. Reply left or right."}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observation(), self._info()

    def step(self, action):
        self.t += 1
        return self._observation(), 0.0, False, False, self._info()


def _play(agent, turns: int, length: int = 900):
    (trajectory,) = collect(lambda: Corridor(length), agent, [0], RolloutConfig(num_envs=1, max_turns=turns))
    return trajectory


def test_tiny_tokenizer_knows_its_context(tiny):
    _, tokenizer = tiny
    assert context_length(tokenizer) == TINY_CONTEXT
    assert prompt_budget(AgentConfig(sampling=SamplingParams(max_new_tokens=48)), TINY_CONTEXT)[0] == TINY_CONTEXT - 48


def test_a_long_episode_stays_within_the_context_and_keeps_task_and_latest_observation(tiny, caplog):
    model, tokenizer = tiny
    config = AgentConfig(history=None, sampling=SamplingParams(max_new_tokens=8, temperature=0.0))
    agent = LLMAgent(HFBackend(model, tokenizer), tokenizer, config)
    assert agent.max_prompt_tokens == TINY_CONTEXT - 8  # the default: the model's context minus the reply
    with caplog.at_level(logging.INFO, logger="agentrl.agents.llm_agent"):
        trajectory = _play(agent, turns=16)
    lengths = [len(turn.prompt_ids) for turn in trajectory.turns]
    assert max(lengths) <= agent.max_prompt_tokens < sum(lengths[:2]) * 8  # unbounded, turn 16 would be ~16x turn 1
    for t, turn in enumerate(trajectory.turns):
        text = tokenizer.decode(turn.prompt_ids)
        assert TASK in text and "Walk. Reply left or right." in text
        assert text.rstrip().endswith("<|im_start|>assistant") and f"STEP{t}START" in text and f"STEP{t}END" in text
    last = tokenizer.decode(trajectory.turns[-1].prompt_ids)
    assert "STEP0START" not in last  # the oldest turns went first
    figures = agent.take_prompt_stats()
    assert figures["prompt/truncated_turns"] > 0 and figures["prompt/tokens_max"] == max(lengths)
    assert figures["prompt/truncated_observations"] == 0
    assert "the oldest turns are left out" in caplog.text and f"{TINY_CONTEXT}" in caplog.text


def test_a_lower_budget_is_kept_and_an_oversized_observation_is_cut_in_the_middle(tiny, caplog):
    model, tokenizer = tiny
    config = AgentConfig(max_prompt_tokens=400, sampling=SamplingParams(max_new_tokens=8, temperature=0.0))
    agent = LLMAgent(HFBackend(model, tokenizer), tokenizer, config)
    with caplog.at_level(logging.INFO):
        trajectory = _play(agent, turns=4, length=3000)
    for t, turn in enumerate(trajectory.turns):
        assert len(turn.prompt_ids) <= 400
        text = tokenizer.decode(turn.prompt_ids)
        assert TASK in text and f"STEP{t}START" in text and f"STEP{t}END" in text
        assert "characters cut to fit the context" in text
    assert agent.take_prompt_stats()["prompt/truncated_observations"] == 4
    assert "an observation alone overflows the prompt budget" in caplog.text


def test_instructions_over_half_the_budget_keep_their_start_and_the_task(tiny):
    _, tokenizer = tiny
    system = "Rules. " + "turn left and go up. " * 200 + "Your task: " + TASK
    conversation = Conversation(tokenizer, system, chat_pieces(tokenizer), max_tokens=200)
    conversation.observe("a room")
    text = tokenizer.decode(conversation.prompt_ids())
    assert len(conversation.prompt_ids()) <= 200 and conversation.stats.truncated_system == 1
    assert text.startswith("<|im_start|>system\nRules.") and TASK in text and "a room" in text


def test_budget_settings_that_cannot_fit_are_refused(tiny):
    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)
    with pytest.raises(ValueError, match=r"set agent\.max_prompt_tokens to at most 4048"):
        LLMAgent(backend, tokenizer, AgentConfig(max_prompt_tokens=5000, sampling=SamplingParams(max_new_tokens=48)))
    with pytest.raises(ValueError, match=r"lower agent\.sampling\.max_new_tokens"):
        LLMAgent(backend, tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=4090)))
    assert prompt_budget(AgentConfig(), None) == (None, "unbounded: the model's context length is unknown")
    assert LLMAgent(backend, tokenizer, AgentConfig(), context_length=1000).max_prompt_tokens == 1000 - 64


def test_prompts_are_a_function_of_the_episode(tiny):
    """Datasets record prompt ids: a demonstration and a replay of it build the same ones under a budget."""
    _, tokenizer = tiny
    config = AgentConfig(max_prompt_tokens=600, sampling=SamplingParams(max_new_tokens=8))
    runs = [_play(DemonstrationAgent(RandomAgent(seed=3), tokenizer, config), turns=8) for _ in range(2)]
    assert [t.prompt_ids for t in runs[0].turns] == [t.prompt_ids for t in runs[1].turns]
    assert max(len(t.prompt_ids) for t in runs[0].turns) <= 600


def test_episode_counts_survive_a_checkpoint(tiny):
    model, tokenizer = tiny
    config = AgentConfig(max_prompt_tokens=300, sampling=SamplingParams(max_new_tokens=4, temperature=0.0))
    agent = LLMAgent(HFBackend(model, tokenizer), tokenizer, config)
    conversation = agent.start_episode(EpisodeStart("x", 0, "a", {"task": TASK}))
    agent.act([conversation])
    agent.end_episode(conversation, None)  # type: ignore[arg-type]
    twin = LLMAgent(agent.backend, tokenizer, config)
    twin.load_state_dict(agent.state_dict())
    assert twin.prompt_stats == agent.prompt_stats and twin.prompt_stats.episodes == 1
    twin.load_state_dict({"calls": 3})  # a checkpoint from before prompt budgets
    assert twin.calls == 3


def test_a_history_window_longer_than_the_episode_keeps_every_turn(tiny):
    """Regression: with fewer turns than ``history``, the window's start went negative and dropped turns."""
    _, tokenizer = tiny
    conversation = Conversation(tokenizer, "sys", chat_pieces(tokenizer), history=10)
    for i in range(7):
        conversation.observe(f"obs {i}")
        conversation.reply(tokenizer(f"act {i}", add_special_tokens=False)["input_ids"])
    conversation.observe("obs 7")
    text = tokenizer.decode(conversation.prompt_ids())
    assert all(f"obs {i}" in text and f"act {i}" in text for i in range(7))
