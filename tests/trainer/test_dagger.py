"""DAgger (``algo=dagger``): the expert action of each visited state is recorded, written as the demonstration would
write it, trained on, aggregated across iterations and checkpoints."""

from __future__ import annotations

import copy
import json

import pytest
import torch

import agentrl
from agentrl.agents.dataset import DatasetWriter
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, DemonstrationAgent, LLMAgent
from agentrl.agents.scripted import ExpertAgent
from agentrl.agents.types import Trajectory, Turn
from agentrl.cli import main
from agentrl.trainer.algorithm import AlgoContext, build_algorithm
from agentrl.trainer.batch import turn_batch
from agentrl.trainer.checkpoint import checkpoints, load_checkpoint
from agentrl.trainer.dagger import DAggerConfig, expert_labelled
from agentrl.trainer.policy import Policy
from agentrl.trainer.rollout import RolloutConfig, collect
from agentrl.trainer.sft import SupervisedConfig

PROMPT = AgentConfig(sampling=SamplingParams(max_new_tokens=144, temperature=0.0), history=0, show_actions=False)


def _webshop():
    return agentrl.make("webshop")


def test_rollouts_record_the_expert_action_of_the_state_each_turn_acted_in(tiny, fixed_replies, tmp_path, capsys):
    _, tokenizer = tiny
    # The expert playing: each turn's recorded expert action is the action it played there.
    demo = DemonstrationAgent(ExpertAgent(), tokenizer, PROMPT)
    [expert] = collect(_webshop, demo, [3], RolloutConfig(max_turns=15))
    assert expert.won and [t.expert_action for t in expert.turns] == [t.action_text for t in expert.turns]
    # A policy that only writes an invalid reply: its turns hold the expert action of the state it was in (the
    # reset's for the first turn, then the previous step's info), not the one after its step.
    policy = LLMAgent(fixed_replies(tokenizer("no", add_special_tokens=False)["input_ids"]), tokenizer, PROMPT)
    [stuck] = collect(_webshop, policy, [3], RolloutConfig(max_turns=3))
    assert [t.expert_action for t in stuck.turns] == [expert.turns[0].action_text] * 3
    assert [t.expert_action for t in stuck.turns[1:]] == [t.info["expert_action"] for t in stuck.turns[:-1]]
    # Trajectories keep it through export and import, and `agentrl data show` says where the expert would differ.
    assert Trajectory.from_dict(json.loads(json.dumps(stuck.to_dict()))).turns[0].expert_action == (
        expert.turns[0].action_text
    )
    writer = DatasetWriter(tmp_path / "stuck", env={"id": "agentrl/WebShop-v1", "split": "train", "config": {}},
                           agent={"kind": "llm"}, model={"name": "tiny"}, prompt={})  # fmt: skip
    writer.add(stuck)
    assert main(["data", "show", str(writer.close())]) == 0
    shown = capsys.readouterr().out
    assert shown.count(f"(the expert: {expert.turns[0].action_text!r})") == 3


def test_multi_agent_games_record_each_seats_expert_action():
    from agentrl.trainer.multiagent import play_games

    expert = ExpertAgent()
    [game] = play_games(lambda: agentrl.make("tictactoe"), lambda name, info: expert, [0], env_id="tictactoe")
    turns = [turn for trajectory in game.trajectories.values() for turn in trajectory.turns]
    assert len(turns) >= 5 and all(t.expert_action == t.action_text for t in turns)


def test_labels_are_the_demonstration_at_the_prompts_the_policy_saw(tiny, fixed_replies):
    _, tokenizer = tiny
    demo = DemonstrationAgent(ExpertAgent(), tokenizer, PROMPT)
    [expert] = collect(_webshop, demo, [3], RolloutConfig(max_turns=15))
    policy = LLMAgent(fixed_replies(tokenizer("no", add_special_tokens=False)["input_ids"]), tokenizer, PROMPT)
    [stuck] = collect(_webshop, policy, [3], RolloutConfig(max_turns=3))
    labelled, agreed = expert_labelled([stuck], policy)
    assert len(labelled) == 3 and agreed == 0
    # At the reset's state the label is exactly the demonstration's first turn: the same prompt, the same reply ids.
    assert labelled[0].prompt_ids == expert.turns[0].prompt_ids
    assert labelled[0].response_ids == expert.turns[0].response_ids
    assert labelled[0].response_ids[-1] == tokenizer.eos_token_id
    # Later labels keep the prompt the policy saw (its own invalid turn's page), not the expert's.
    assert [t.prompt_ids for t in labelled] == [t.prompt_ids for t in stuck.turns]
    # The expert playing agrees with itself everywhere.
    labelled, agreed = expert_labelled([expert], demo)
    assert len(labelled) == agreed == len(expert.turns)


def _label_logprob(policy: Policy, turns: list[Turn], pad_id: int) -> float:
    batch = turn_batch(turns, pad_id)
    with torch.no_grad():
        out = policy.forward_batch(batch, 1.0)
    return float((out.logprobs * batch.response_mask).sum())


def test_an_update_raises_the_expert_labels_probability_and_aggregates(tiny, fixed_replies):
    model, tokenizer = tiny
    policy = Policy(copy.deepcopy(model))
    backend = fixed_replies(tokenizer("no", add_special_tokens=False)["input_ids"])
    agent = LLMAgent(backend, tokenizer, PROMPT)
    pad = int(tokenizer.pad_token_id)
    ctx = AlgoContext(policy, agent, backend, PROMPT.sampling, pad, 0, lambda: None, tokenizer=tokenizer)
    cfg = DAggerConfig(replay_ratio=1.0, epochs=3, update=SupervisedConfig(lr=1e-3, batch_size=4, micro_batch_size=4))
    dagger = build_algorithm(cfg, ctx)
    first = collect(_webshop, agent, [3, 4], RolloutConfig(max_turns=3))
    labelled, _ = expert_labelled(first, agent)
    before = _label_logprob(policy, labelled, pad)
    stats = dagger.update(first, 0)
    assert stats["labelled_turns"] == 6 and stats["agreement"] == 0.0 and stats["replayed_turns"] == 0
    assert _label_logprob(policy, labelled, pad) > before + 1.0
    # The next iteration trains on its own turns and as many drawn from the earlier ones; the buffer goes into the
    # algorithm's state and comes back from it.
    stats = dagger.update(collect(_webshop, agent, [5], RolloutConfig(max_turns=3)), 1)
    assert stats["labelled_turns"] == 3 and stats["replayed_turns"] == 3 and stats["buffer_turns"] == 9
    again = build_algorithm(cfg, ctx)
    again.load_state_dict(copy.deepcopy(dagger.state_dict()))
    assert again.buffer.sample(4) == dagger.buffer.sample(4)
    assert all(isinstance(t, Turn) and t.expert_action for t in again.buffer.sample(4))


def test_an_env_without_an_expert_is_refused(tiny, fixed_replies):
    model, tokenizer = tiny
    backend = fixed_replies([5])
    agent = LLMAgent(backend, tokenizer, PROMPT)
    ctx = AlgoContext(
        Policy(copy.deepcopy(model)), agent, backend, PROMPT.sampling, 0, 0, lambda: None, tokenizer=tokenizer
    )
    dagger = build_algorithm(DAggerConfig(), ctx)
    played = Trajectory("agentrl/NoExpert-v0", 0, "0", 0, turns=[Turn([1, 2], [5], [0.0], "x", "", 0.0, True, False)])
    with pytest.raises(ValueError, match="needs the env's expert: agentrl/NoExpert-v0 named no expert action"):
        dagger.update([played], 0)
    with pytest.raises(ValueError, match="replay_ratio must be at least 0"):
        build_algorithm(DAggerConfig(replay_ratio=-1), ctx)


def test_dagger_from_the_command_line_resumes_with_its_buffer(tmp_path, capsys):
    out = tmp_path / "dagger"
    small = ["algo=dagger", "env=guess", "model=tiny", "train.tasks_per_iteration=4", "rollout.max_turns=3",
             "eval.episodes=2", "train.tensorboard=false", "algo.update.batch_size=4",
             f"train.output_dir={out}"]  # fmt: skip
    # bad settings are refused before any work, naming the setting
    assert main(["train", *small, "algo.buffer_turns=0"]) == 2
    assert "algo.buffer_turns must be at least 1" in capsys.readouterr().err
    assert main(["train", *small, "train.iterations=1"]) == 0
    assert main(["train", *small, "train.iterations=2"]) == 0  # resumes after iteration 1, buffer included
    assert "resuming" in capsys.readouterr().err.replace("\n", "")
    train = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in train if r["kind"] == "train"]
    assert [r["iteration"] for r in train] == [0, 1]
    assert train[0]["labelled_turns"] > 0 and train[1]["replayed_turns"] == train[1]["labelled_turns"]
    assert train[1]["buffer_turns"] == train[0]["labelled_turns"] + train[1]["labelled_turns"]
    assert len(load_checkpoint(checkpoints(out)[-1])["ranks"][0]["algo"]["buffer"]["items"]) == train[1]["buffer_turns"]
