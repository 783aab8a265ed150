"""The memory-augmented agent: cases written after every episode and shown in the next, within the prompt budget;
the planner-executor writes subtask cases and shows revised plans."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from agentrl.agents.backends import HFBackend
from agentrl.agents.base import EpisodeStart
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.scripted import RandomAgent
from agentrl.factory import make
from agentrl.memory import Case, CaseMemory, MemoryAgent, MemoryConfig, PlannerExecutorAgent, RetrieverConfig
from agentrl.memory.agent import parse_plan, render, summarize
from agentrl.trainer.rollout import RolloutConfig, collect

ENV = "agentrl/FrozenLake-v0"


def _memory(tmp_path, **kwargs) -> CaseMemory:
    return CaseMemory(MemoryConfig(path=str(tmp_path / "bank.sqlite"), encoder="hash", **kwargs))


class Spy(RandomAgent):
    """A random agent that keeps what each episode started with."""

    def __init__(self):
        super().__init__(seed=0)
        self.starts: list[EpisodeStart] = []
        self.observations: list[str] = []

    def start_episode(self, start):
        self.starts.append(start)
        return super().start_episode(start)

    def observe(self, episode, step, observation, info):
        self.observations.append(observation)
        super().observe(episode, step, observation, info)


def test_a_case_is_written_after_every_episode_and_shown_in_the_next(tmp_path):
    memory = _memory(tmp_path, key="task_and_observation")
    spy = Spy()
    agent = MemoryAgent(spy, memory)
    first = collect(lambda: make(ENV), agent, [3, 4], RolloutConfig(num_envs=2, max_turns=6), env_id=ENV)
    assert len(memory.bank) == 2  # one case per episode, won or not
    stored = {c.seed: c for c, _ in memory.bank.iter_cases()}
    for t in first:
        case = stored[t.seed]
        assert case.won == t.won and case.turns == len(t.turns) and case.env_id == ENV
        assert case.summary.startswith("Actions: " + t.turns[0].action_text)
    assert spy.starts[0].info["memory_cases"] == []  # an empty bank shows nothing
    collect(lambda: make(ENV), agent, [3], RolloutConfig(num_envs=1, max_turns=6), env_id=ENV)
    shown = spy.starts[-1].info["memory_cases"]
    assert shown[0]["seed"] == 3  # the same map comes first
    assert "Experience from similar past tasks" in spy.starts[-1].info["instructions"]
    assert spy.starts[-1].info["instructions"].startswith(spy.starts[0].info["instructions"])


def test_read_only_memory_writes_nothing(tmp_path):
    memory = _memory(tmp_path)
    memory.write([Case(task="x", env_id=ENV, won=True)])
    agent = MemoryAgent(RandomAgent(), memory, write=False)
    collect(lambda: make(ENV), agent, [0, 1], RolloutConfig(num_envs=2, max_turns=3), env_id=ENV)
    assert len(memory.bank) == 1


def test_rendering_shows_successes_and_failures_and_drops_the_least_relevant_to_fit():
    cases = [
        Case(task="first", env_id=ENV, won=True, summary="Actions: a"),
        Case(task="second", env_id=ENV, won=False, summary="Actions: b"),
    ]
    text, n = render(cases, lambda t: True)
    assert n == 2 and "[Success] Task: first" in text and "[Failure] Task: second" in text
    text, n = render(cases, lambda t: "second" not in t)
    assert n == 1 and "first" in text
    assert render(cases, lambda t: False) == ("", 0)


def test_long_summaries_are_cut_in_the_middle(tmp_path):
    (t,) = collect(lambda: make(ENV), RandomAgent(), [0], RolloutConfig(num_envs=1, max_turns=40), env_id=ENV)
    text = summarize(t, 120)
    assert len(text) <= 120 + 60 and text.endswith(f"after {len(t.turns)} turns (score {t.score:g})")


@pytest.fixture(scope="module")
def tiny():
    from agentrl.agents.models import build_tiny_model

    return build_tiny_model(seed=0)


def test_retrieved_cases_stay_within_their_share_of_the_prompt_budget(tmp_path, tiny):
    model, tokenizer = tiny
    memory = _memory(tmp_path, prompt_fraction=0.5, case_chars=150)
    long = "Actions: " + " -> ".join(["go left then right"] * 200)
    memory.write([Case(task=f"reach the goal {i}", env_id=ENV, won=i % 2 == 0, summary=long) for i in range(4)])
    config = AgentConfig(max_prompt_tokens=400, history=2)
    config.sampling.max_new_tokens = 8
    inner = LLMAgent(HFBackend(model, tokenizer), tokenizer, config)
    agent = MemoryAgent(inner, memory, write=False)
    (t,) = collect(lambda: make(ENV), agent, [0], RolloutConfig(num_envs=1, max_turns=3), env_id=ENV)
    assert all(len(turn.prompt_ids) <= 400 for turn in t.turns)
    empty = MemoryAgent(LLMAgent(HFBackend(model, tokenizer), tokenizer, config), _memory(tmp_path / "e"))
    (plain,) = collect(lambda: make(ENV), empty, [0], RolloutConfig(num_envs=1, max_turns=1), env_id=ENV)
    added = len(t.turns[0].prompt_ids) - len(plain.turns[0].prompt_ids)
    assert 0 < added <= 200 + 2  # at most half the budget (the separator's tokens aside)


class ListPlanner:
    """A planner that splits on ' and ' and revises by dropping the first subtask."""

    def __init__(self):
        self.revisions = 0

    def plan(self, task: str, examples: Sequence[Case]) -> list[str]:
        return [part.strip() for part in task.split(" and ")]

    def revise(self, task: str, plan: Sequence[str], progress: str) -> list[str]:
        self.revisions += 1
        return list(plan[1:]) or ["finish"]


def test_planner_executor_writes_subtask_cases_and_shows_revised_plans(tmp_path):
    memory = _memory(tmp_path, replan_every=2, max_subtasks=3)
    memory.write([Case(task="find the key", env_id="plan-env", won=True, kind="subtask", summary="Actions: look")])
    spy = Spy()
    planner = ListPlanner()
    agent = PlannerExecutorAgent(spy, memory, planner)
    start = EpisodeStart(
        "plan-env", 0, "a room", {"task": "find the key and open the door", "admissible_actions": ["x"]}
    )
    handle = agent.start_episode(start)
    instructions = spy.starts[0].info["instructions"]
    assert (
        "Plan:\n1. find the key" in instructions
        and "worked before" in instructions
        and "2. open the door" in instructions
    )
    for _ in range(2):
        (step,) = agent.act([handle])
        agent.observe(handle, step, "still a room", {"admissible_actions": ["x"]})
    assert planner.revisions == 1
    assert spy.observations == ["still a room", "still a room\nRevised plan:\n1. open the door"]
    from agentrl.agents.types import Trajectory

    agent.end_episode(
        handle,
        Trajectory(
            env_id="plan-env", seed=0, task_id="t0", group_id=0, initial_observation="a room", task=start.task, turns=[]
        ),
    )
    rows = [c for c, _ in memory.bank.iter_cases()]
    task_case = next(c for c in rows if c.kind == "task")
    subtasks = [c for c in rows if c.kind == "subtask" and c.parent == task_case.id]
    assert task_case.plan == "find the key; open the door"
    assert {c.task for c in subtasks} == {"find the key", "open the door"}


def test_plans_parse_from_numbered_or_bulleted_lines():
    assert parse_plan("Plan:\n1. search shirts\n2) pick size\n- buy it\nthanks", 4) == [
        "search shirts",
        "pick size",
        "buy it",
    ]
    assert parse_plan("no list here", 4) == []


def test_the_memory_agent_state_is_json_safe_and_round_trips(tmp_path):
    import json

    memory = _memory(tmp_path, retriever=RetrieverConfig(kind="learned", hidden=8))
    agent = MemoryAgent(RandomAgent(), memory)
    collect(lambda: make(ENV), agent, [0, 1], RolloutConfig(num_envs=2, max_turns=3), env_id=ENV)
    state = json.loads(json.dumps(agent.state_dict()))
    other = MemoryAgent(RandomAgent(), memory)
    other.load_state_dict(state)
    assert other.stats == agent.stats and np.isfinite(other.stats["similarity"])
