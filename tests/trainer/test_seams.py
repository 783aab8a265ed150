"""The trainer's seams: the algorithm table, the Agent protocol in rollouts, ArCHer's weight sync."""

from __future__ import annotations

import copy
import json

import pytest
import torch

import agentrl
from agentrl.agents.backends import HFBackend
from agentrl.agents.base import EpisodeStart
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.scripted import ExpertAgent, RandomAgent
from agentrl.cli import main
from agentrl.trainer.algorithm import AlgoContext, Needs, algorithm_table, build_algorithm
from agentrl.trainer.policy import Policy
from agentrl.trainer.rollout import RolloutConfig, collect

SMALL = [
    "env=guess",
    "model=tiny",
    "train.iterations=2",
    "train.tasks_per_iteration=2",
    "rollout.group_size=2",
    "rollout.max_turns=2",
    "agent.sampling.max_new_tokens=2",
    "eval.episodes=2",
    "train.eval_every=1",
    "train.tensorboard=false",
]

# A whole algorithm in its own file: REINFORCE on the episode return, through the shared optimiser step.
TOY = '''
"""Toy: REINFORCE on the episode return, no baseline (a test's own algorithm)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agentrl.trainer.algorithm import AlgoContext, Needs, optimizer_step, register_algorithm
from agentrl.trainer.batch import flatten_turns, turn_batch


@dataclass
class ToyConfig:
    name: str = "toy"
    """Algorithm name."""
    lr: float = 1e-3
    """Learning rate."""

    def needs(self) -> Needs:
        return Needs()


@register_algorithm("toy", ToyConfig, summary="REINFORCE on the episode return, no baseline")
class Toy:
    def __init__(self, cfg: ToyConfig, ctx: AlgoContext):
        self.ctx, self.cfg = ctx, cfg
        self.params = [p for _, p in ctx.policy.trainable_named_parameters()]
        self.optimizer = torch.optim.SGD(self.params, lr=cfg.lr)

    def update(self, trajectories, iteration):
        turns, where = flatten_turns(trajectories)
        batch = turn_batch(turns, self.ctx.pad_id)
        returns = torch.tensor([trajectories[i].total_reward for i, _ in where])
        out = self.ctx.policy.forward_batch(batch, self.ctx.temperature)
        mask = batch.response_mask.to(out.logprobs.device)
        loss = -((out.logprobs * mask).sum(1) * returns).mean()
        self.optimizer.zero_grad()
        loss.backward()
        norm = optimizer_step(self.optimizer, self.params, 1.0)
        return {"toy_loss": float(loss.detach()), "grad_norm": norm}

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
'''


def test_a_new_algorithm_is_its_own_file_and_config(tmp_path, monkeypatch, capsys):
    (tmp_path / "toyalgo.py").write_text(TOY)
    (tmp_path / "configs" / "algo").mkdir(parents=True)
    (tmp_path / "configs" / "algo" / "toy.yaml").write_text(
        "# agentrl train --plugin toyalgo --config-dir configs algo=toy\n"
        "defaults:\n  - toy_schema\nname: toy\nlr: 0.01\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    flags = ["--plugin", "toyalgo", "--config-dir", str(tmp_path / "configs")]
    assert main(["train", *flags, "algo=toy", *SMALL, f"train.output_dir={out}"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["algo"] == {"name": "toy", "lr": 0.01}
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if r["kind"] == "train" and "toy_loss" in r] == [0, 1]
    assert algorithm_table()["toy"].summary.startswith("REINFORCE")
    # The table's discovery sees it, and a bad name lists the valid ones.
    capsys.readouterr()
    assert main(["train", *flags, "algo=nosuch", *SMALL, f"train.output_dir={out}"]) == 2
    assert "algo" in capsys.readouterr().err


def test_every_table_entry_has_a_config_file_and_declares_its_needs():
    from importlib import resources

    files = {p.name[:-5] for p in (resources.files("agentrl.configs") / "algo").iterdir() if p.name.endswith(".yaml")}
    builtin = {name for name, spec in algorithm_table().items() if spec.module.startswith("agentrl.")}
    assert files == builtin
    for spec in algorithm_table().values():
        assert isinstance(spec.config().needs(), Needs)
    from agentrl.trainer.grpo import GRPOConfig
    from agentrl.trainer.pg import PGConfig
    from agentrl.trainer.ppo import PPOConfig

    assert PPOConfig().needs() == Needs(value_head=True)
    assert GRPOConfig(pg=PGConfig(kl_coef=0.1)).needs() == Needs(reference=True)


class _Recording:
    """An Agent that wraps another and records the protocol calls."""

    def __init__(self, inner):
        self.inner, self.calls, self.ended = inner, [], []

    def start_episode(self, start):
        self.calls.append(("start", start.seed))
        return self.inner.start_episode(start)

    def act(self, episodes):
        self.calls.append(("act", len(episodes)))
        return self.inner.act(episodes)

    def observe(self, episode, step, observation, info):
        self.calls.append(("observe",))
        self.inner.observe(episode, step, observation, info)

    def end_episode(self, episode, trajectory):
        self.ended.append(trajectory)
        self.inner.end_episode(episode, trajectory)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def test_rollouts_tell_the_agent_when_each_episode_ends():
    agent = _Recording(ExpertAgent())
    config = RolloutConfig(num_envs=2, group_size=2, max_turns=10)
    trajectories = collect(lambda: agentrl.make("guess"), agent, seeds=[1, 2], config=config)
    assert len(trajectories) == 4 and all(t.won for t in trajectories)  # bisection always finds it
    assert sorted(id(t) for t in agent.ended) == sorted(id(t) for t in trajectories)
    starts = [c for c in agent.calls if c[0] == "start"]
    assert sorted(s for _, s in starts) == [1, 1, 2, 2]
    observed = sum(1 for c in agent.calls if c[0] == "observe")
    assert observed == sum(len(t.turns) - 1 for t in trajectories)  # every step but each episode's last


def test_scripted_agents_play_on_the_episode_seeds_independently_of_batching():
    def play(num_envs):
        agent = RandomAgent(seed=3)
        config = RolloutConfig(num_envs=num_envs, max_turns=6)
        return [
            [t.action_text for t in tr.turns]
            for tr in collect(lambda: agentrl.make("frozenlake"), agent, [0, 1, 2], config)
        ]

    assert play(1) == play(3)
    with pytest.raises(ValueError, match="expert"):
        collect(lambda: agentrl.make("frozenlake", expert=False), ExpertAgent(), [0], RolloutConfig(max_turns=2))


def test_llm_agent_state_round_trips(tiny):
    model, tokenizer = tiny
    agent = LLMAgent(HFBackend(model, tokenizer), tokenizer, AgentConfig(sampling=SamplingParams(seed=0)))
    conversation = agent.start_episode(EpisodeStart("x", 0, "hello", {"task": "t"}))
    agent.act([conversation])
    twin = LLMAgent(agent.backend, tokenizer)
    twin.load_state_dict(agent.state_dict())
    assert twin.calls == agent.calls == 1


class _OwnCopyBackend(HFBackend):
    """A backend with its own copy of the weights, like a vLLM engine or a model server."""

    def __init__(self, model, tokenizer, policy):
        super().__init__(copy.deepcopy(model), tokenizer)
        self.weights_shared = False
        self.policy = policy
        self.stale_generations = 0
        self.generations = 0

    def generate(self, prompts, params):
        current = self.policy.merged_state_dict()
        own = self.model.state_dict()
        self.generations += 1
        self.stale_generations += any(not torch.equal(own[k], v) for k, v in current.items())
        return super().generate(prompts, params)


def test_archer_actor_samples_from_the_current_weights_under_a_backend_with_its_own_copy(tiny):
    from agentrl.trainer.archer import ArcherConfig

    model, tokenizer = tiny
    policy = Policy(copy.deepcopy(model))
    backend = _OwnCopyBackend(model, tokenizer, policy)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=2, seed=0)
    agent = LLMAgent(backend, tokenizer, AgentConfig(sampling=sampling, tagged_actions=False))
    pushes = []

    def sync():
        pushes.append(backend.update_weights(policy.merged_state_dict()))

    sync()
    ctx = AlgoContext(policy, agent, backend, sampling, int(tokenizer.pad_token_id), 0, sync)
    cfg = ArcherConfig(critic_steps=1, actor_steps=3, batch_size=4, actor_batch_size=2, actor_lr=0.05)
    archer = build_algorithm(cfg, ctx)
    trajectories = collect(lambda: agentrl.make("guess"), agent, [0, 1], RolloutConfig(num_envs=2, max_turns=2))
    backend.stale_generations = backend.generations = 0
    archer.update(trajectories, 0)
    assert backend.generations == 1 + 3  # one critic step, three actor steps
    assert backend.stale_generations == 0
    assert len(pushes) == 1 + 2  # the loop's push, then one before each actor step after the first
