"""Batched rollouts: groups, resets, turn limits and token-exact trajectories."""

from __future__ import annotations

import time

import gymnasium
import pytest
import torch

import agentrl
from agentrl.agents.backends import HFBackend
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.types import load_jsonl, save_jsonl
from agentrl.trainer.rollout import RolloutConfig, collect


class RecordingBackend(HFBackend):
    """The hf backend, remembering every batch it was given and what it returned."""

    calls: list

    def generate(self, prompts, params):
        out = super().generate(prompts, params)
        self.calls = [*getattr(self, "calls", []), (list(map(list, prompts)), out)]
        return out


def make_agent(tiny, **config):
    model, tokenizer = tiny
    backend = RecordingBackend(model, tokenizer)
    sampling = SamplingParams(max_new_tokens=6, temperature=1.0, seed=0)
    return LLMAgent(backend, tokenizer, AgentConfig(sampling=sampling, **config)), backend


def test_groups_resets_and_order(tiny):
    agent, backend = make_agent(tiny)
    made = []

    def factory():
        made.append(agentrl.make("frozenlake"))
        return made[-1]

    trajectories = collect(factory, agent, seeds=[5, 6, 7], config=RolloutConfig(num_envs=4, group_size=2, max_turns=3))
    assert len(made) == 4  # six episodes on four envs: finished envs were reset
    assert [(t.seed, t.group_id) for t in trajectories] == [(5, 0), (5, 0), (6, 1), (6, 1), (7, 2), (7, 2)]
    assert trajectories[0].initial_observation == trajectories[1].initial_observation
    assert all(t.env_id == "agentrl/FrozenLake-v0" and 1 <= len(t.turns) <= 3 for t in trajectories)
    assert all(t.turns[-1].terminated or t.turns[-1].truncated for t in trajectories)
    assert max(len(prompts) for prompts, _ in backend.calls) == 4  # one batch for all waiting envs


def test_token_ids_are_exactly_what_the_model_saw_and_produced(tiny):
    model, _ = tiny
    agent, backend = make_agent(tiny)
    trajectories = collect(
        lambda: agentrl.make("sokoban"), agent, seeds=[0, 1], config=RolloutConfig(num_envs=2, max_turns=4)
    )
    seen = {tuple(p) for prompts, _ in backend.calls for p in prompts}
    produced = {tuple(c.token_ids): c.logprobs for _, outs in backend.calls for c in outs}
    for trajectory in trajectories:
        for i, turn in enumerate(trajectory.turns):
            assert tuple(turn.prompt_ids) in seen
            assert produced[tuple(turn.response_ids)] == turn.response_logprobs
            if i + 1 < len(trajectory.turns):
                following = trajectory.turns[i + 1].prompt_ids
                assert following[: len(turn.prompt_ids) + len(turn.response_ids)] == turn.prompt_ids + turn.response_ids
            # Re-scoring the stored ids reproduces the stored log-probs: no re-tokenization drift.
            with torch.no_grad():
                logits = model(torch.tensor([turn.prompt_ids + turn.response_ids])).logits[
                    0, len(turn.prompt_ids) - 1 : -1
                ]
            logprobs = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(turn.response_ids)[:, None])[:, 0]
            assert torch.allclose(logprobs, torch.tensor(turn.response_logprobs), atol=1e-4)


def test_unparseable_replies_are_invalid_actions_not_crashes(tiny):
    agent, _ = make_agent(tiny, thinking=True)  # the random model never writes an <action> tag
    trajectories = collect(lambda: agentrl.make("babyai"), agent, seeds=[0], config=RolloutConfig(max_turns=3))
    assert all(turn.info["invalid_action"] and turn.action_text == "" for turn in trajectories[0].turns)
    assert trajectories[0].turns[-1].truncated


def test_jsonl_round_trip(tiny, tmp_path):
    agent, _ = make_agent(tiny)
    trajectories = collect(lambda: agentrl.make("frozenlake"), agent, seeds=[1, 2], config=RolloutConfig(max_turns=2))
    path = save_jsonl(trajectories, tmp_path / "t.jsonl")
    loaded = list(load_jsonl(path))
    assert [t.to_dict() for t in loaded] == [t.to_dict() for t in trajectories]
    assert loaded[0].turns[0].prompt_ids == trajectories[0].turns[0].prompt_ids


def test_wilson_interval_edges_and_summary():
    from agentrl.trainer.evaluate import mean_interval, wilson_interval

    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    low, high = wilson_interval(5, 10)
    assert 0.23 < low < 0.24 and 0.76 < high < 0.77  # the textbook Wilson interval for 5/10
    assert mean_interval([1.0]) == {"mean": 1.0, "ci95": [1.0, 1.0]}


def test_expert_agreement_counts_the_turns_whose_env_names_an_expert_action():
    from agentrl.agents.types import Trajectory, Turn
    from agentrl.trainer.evaluate import expert_agreement, summarize

    def episode(*pairs):
        turns = [Turn([1], [2], [0.0], action, "", 0.0, False, False, expert_action=expert) for action, expert in pairs]
        return Trajectory("e", 0, "t", 0, turns=turns)

    # Text equal but for case and runs of whitespace agrees; a turn without an expert action is not counted.
    played = [
        episode(("50", "50"), ("75", "25"), ("62", "37")),
        episode(("Click [Buy  Now]", "click [buy now]"), ("x", None), ("13", "13"), ("7", "7")),
    ]
    assert expert_agreement(played) == (4 / 6, [1.0, 0.0, 0.5, 1.0])
    assert expert_agreement([episode(("a", None))]) == (None, [])
    assert expert_agreement([]) == (None, [])
    summary = summarize(played)
    assert summary["expert_agreement"] == 4 / 6 and summary["expert_agreement_by_turn"] == [1.0, 0.0, 0.5, 1.0]


class SlowEnv(gymnasium.Wrapper):
    """FrozenLake whose steps take a while, counting how many are under way at once."""

    stepping = 0

    def step(self, action):
        SlowEnv.stepping += 1
        try:
            time.sleep(0.15)
            return self.env.step(action)
        finally:
            SlowEnv.stepping -= 1


class OverlapBackend(HFBackend):
    """Notes, for each generation batch, how many env steps were under way when it began."""

    overlaps: list

    def generate(self, prompts, params):
        self.overlaps = [*getattr(self, "overlaps", []), SlowEnv.stepping]
        return super().generate(prompts, params)


def test_async_mode_generates_while_envs_step(tiny):
    model, tokenizer = tiny
    runs = {}
    for mode in ("sync", "async"):
        backend = OverlapBackend(model, tokenizer)
        agent = LLMAgent(backend, tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=4, seed=0)))
        config = RolloutConfig(num_envs=4, max_turns=3, executor="thread", mode=mode, waves=2)
        trajectories = collect(lambda: SlowEnv(agentrl.make("frozenlake")), agent, seeds=[0, 1, 2, 3], config=config)
        runs[mode] = (trajectories, backend.overlaps)
    assert max(runs["sync"][1]) == 0  # sync: the model waits for every env
    assert max(runs["async"][1]) >= 1  # async: one wave generates while the other steps
    assert max(len(t.turns) for t in runs["async"][0]) <= 3
    assert [t.seed for t in runs["async"][0]] == [0, 1, 2, 3]


def test_async_greedy_episodes_match_sync(tiny):
    model, tokenizer = tiny
    played = {}
    for mode, executor in (("sync", "inline"), ("async", "subprocess"), ("async", "inline")):
        greedy = AgentConfig(sampling=SamplingParams(max_new_tokens=5, temperature=0))
        agent = LLMAgent(HFBackend(model, tokenizer), tokenizer, greedy)
        config = RolloutConfig(num_envs=4, group_size=2, max_turns=4, executor=executor, mode=mode, waves=3)
        trajectories = collect(lambda: agentrl.make("sokoban"), agent, seeds=[0, 1, 2], config=config)
        played[mode, executor] = [
            (t.seed, t.group_id, [(turn.response_ids, turn.observation_text) for turn in t.turns]) for t in trajectories
        ]
    assert played["async", "subprocess"] == played["sync", "inline"] == played["async", "inline"]


def test_bad_rollout_modes():
    bad = {"rollout.mode": RolloutConfig(mode="turbo"), "waves": RolloutConfig(mode="async", waves=0)}
    for match, config in bad.items():
        with pytest.raises(ValueError, match=match):
            collect(lambda: agentrl.make("frozenlake"), None, seeds=[0], config=config)  # type: ignore[arg-type]
