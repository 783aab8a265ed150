"""The memory-augmented agent: any :class:`~agentrl.agents.base.Agent`, reading and writing a case memory.

:class:`MemoryAgent` wraps an agent. When an episode starts it retrieves cases for the
task (:class:`~agentrl.memory.case_memory.CaseMemory`) and renders them — successes as
examples to follow, failures as examples to avoid — into what the wrapped agent reads:
appended to the env's instructions in ``info["instructions"]`` (into the task when the
agent replaces the instructions with its own ``system_prompt``), and as structured rows
in ``info["memory_cases"]`` for agents without a prompt. Rendered cases never take more
than ``memory.prompt_fraction`` of an LLM agent's prompt budget (counted in its
tokenizer's tokens; the least relevant cases are left out first, each case's summary is
cut to ``memory.case_chars``), so the prompt stays within the budget of
:mod:`agentrl.agents.prompting`. When the episode ends, a case is written (success or
failure: AgentFly writes both) and the learned retriever learns from the outcome.

:class:`PlannerExecutorAgent` is AgentFly's planner-executor: a :class:`Planner` writes a
plan of subtasks from the task and the plans of retrieved cases, each subtask gets its
own retrieved subtask cases, the wrapped agent executes with the plan in its prompt, and
every ``memory.replan_every`` turns the planner revises the rest of the plan from what
happened (shown to the executor with the next observation). The episode's case keeps the
plan, and each subtask is written as a case of its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from agentrl.agents.base import Agent, AgentStep, EpisodeStart
from agentrl.agents.generation import GenerationBackend, SamplingParams
from agentrl.agents.llm_agent import PromptedAgent
from agentrl.agents.prompting import cut_middle
from agentrl.agents.types import Trajectory
from agentrl.memory.bank import Case
from agentrl.memory.case_memory import CaseMemory, Retrieved

logger = logging.getLogger(__name__)

KEYS = ("task", "task_and_observation")
HEADER = "Experience from similar past tasks (follow what succeeded, avoid what failed):"


def case_text(start: EpisodeStart, key: str) -> str:
    """The text a case of this episode is stored and retrieved by (see ``memory.key``)."""
    if key not in KEYS:
        raise ValueError(f"memory.key={key!r}: one of {', '.join(KEYS)}")
    if key == "task" and start.task:
        return start.task
    return f"{start.task}\n{start.observation}".strip()


def summarize(trajectory: Trajectory, chars: int) -> str:
    """What was done and how it ended, at most ``chars`` characters (long action lists cut in the middle)."""
    actions = " -> ".join(t.action_text.strip() or "(empty)" for t in trajectory.turns)
    outcome = "succeeded" if trajectory.won else "failed"
    tail = f". {outcome} after {len(trajectory.turns)} turns (score {trajectory.score:g})"
    room = max(chars - len(tail) - len("Actions: "), 80)  # room for cut_middle's marker
    return "Actions: " + cut_middle(actions, lambda text: len(text) <= room) + tail


def render(
    cases: Sequence[Case], fits: Callable[[str], bool], chars: int = 600, header: str = HEADER
) -> tuple[str, int]:
    """The prompt block of ``cases`` (best first) and how many of them fit: cases are left out from the last
    (least relevant) until the block ``fits``; each summary is cut in the middle to ``chars``. '' when none
    does."""
    for n in range(len(cases), 0, -1):
        kept = cases[:n]
        lines = [header]
        for case in kept:
            label = "Success" if case.won else "Failure"
            lines.append(f"[{label}] Task: {case.task}")
            if case.plan:
                lines.append(f"  Plan: {case.plan}")
            lines.append("  " + cut_middle(case.summary, lambda text: len(text) <= chars))
        text = "\n".join(lines)
        if fits(text):
            return text, n
    return "", 0


@dataclass
class _Episode:
    inner: Any
    start: EpisodeStart
    key: str
    retrievals: list[Retrieved] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    subtasks: list[str] = field(default_factory=list)
    turns: int = 0
    notes: list[str] = field(default_factory=list)


class MemoryAgent:
    """An agent with a case memory (see the module docs); implements the Agent protocol.

    Args:
        agent: The wrapped agent (an LLM agent, a scripted one, ...).
        memory: The case memory it reads and writes.
        write: Write a case (and train the learned retriever) after every episode; False reads only (what a
            training run's evaluation does).
        sample: Sample cases from softmax(Q/alpha) (learned retriever) instead of the top K; None: the config's.
        source: Recorded with every case written.
    """

    def __init__(
        self,
        agent: Agent,
        memory: CaseMemory,
        *,
        write: bool | None = None,
        sample: bool | None = None,
        source: str = "",
    ):
        self.agent, self.memory, self.config = agent, memory, memory.config
        self.write = memory.config.write if write is None else write
        self.sample, self.source = sample, source or memory.config.source
        case_text(EpisodeStart("", 0, "", {}), self.config.key)  # a bad key fails before any episode
        if self.config.case_chars < 100:
            raise ValueError(f"memory.case_chars={self.config.case_chars}: at least 100 (a case must fit its cut)")
        self.stats = {"episodes": 0, "shown": 0, "written": 0, "similarity": 0.0}
        """Episodes started, cases shown, cases written, summed similarity of the shown cases."""
        self.fits = self._budget()

    def _budget(self) -> Callable[[str], bool]:
        """Whether a rendered block fits the wrapped agent's share of the prompt budget."""
        inner = self.agent
        if isinstance(inner, PromptedAgent) and inner.max_prompt_tokens is not None:
            limit = int(self.config.prompt_fraction * inner.max_prompt_tokens)
            tokenizer = inner.tokenizer
            return lambda text: len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]) <= limit
        limit = self.config.retriever.k * (self.config.case_chars + 200)  # no tokenizer: characters
        return lambda text: len(text) <= limit

    # ------------------------------------------------------------ the protocol
    def start_episode(self, start: EpisodeStart) -> _Episode:
        episode = _Episode(None, start, case_text(start, self.config.key))
        block = self.prepare(episode) if self.config.read else ""
        info = dict(start.info)
        info["memory_cases"] = [c.to_json() for r in episode.retrievals for c in r.cases]
        if block:
            inner = self.agent
            if isinstance(inner, PromptedAgent) and inner.config.system_prompt:
                info["task"] = f"{start.task}\n\n{block}"  # the agent's own system prompt drops instructions
            else:
                info["instructions"] = f"{start.instructions}\n\n{block}".strip()
        episode.inner = self.agent.start_episode(replace(start, info=info))
        self.stats["episodes"] += 1
        return episode

    def prepare(self, episode: _Episode) -> str:
        """Retrieve the task's cases; the block to show (subclasses add a plan)."""
        got = self.memory.retrieve(episode.start.env_id, episode.key, sample=self.sample)
        block, n = render(got.cases, self.fits, self.config.case_chars)
        got = _kept(got, n)
        episode.retrievals.append(got)
        self._count(got)
        return block

    def _count(self, got: Retrieved) -> None:
        self.stats["shown"] += len(got.cases)
        self.stats["similarity"] += sum(got.similarity)

    def act(self, episodes: Sequence[_Episode]) -> list[AgentStep]:
        return self.agent.act([e.inner for e in episodes])

    def observe(self, episode: _Episode, step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        episode.turns += 1
        self.agent.observe(episode.inner, step, observation, info)

    def end_episode(self, episode: _Episode, trajectory: Trajectory) -> None:
        self.agent.end_episode(episode.inner, trajectory)
        if not self.write:
            return
        case = Case(
            task=episode.key,
            env_id=trajectory.env_id,
            won=trajectory.won,
            reward=trajectory.total_reward,
            score=trajectory.score,
            plan="; ".join(episode.subtasks),  # every subtask planned, revisions included, in order
            summary=summarize(trajectory, self.config.case_chars),
            turns=len(trajectory.turns),
            seed=trajectory.seed,
            source=self.source,
        )
        [parent] = self.memory.write([case])
        subtasks = [
            Case(
                task=sub,
                env_id=trajectory.env_id,
                won=trajectory.won,
                reward=trajectory.total_reward,
                score=trajectory.score,
                summary=f"Part of: {episode.key[:200]}. " + case.summary,
                turns=len(trajectory.turns),
                kind="subtask",
                parent=parent,
                seed=trajectory.seed,
                source=self.source,
            )
            for sub in episode.subtasks
        ]
        if subtasks:
            self.memory.write(subtasks)
        self.stats["written"] += 1 + len(subtasks)
        self.memory.learn(episode.retrievals, trajectory.won)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped agent's state and the counters (JSON-safe: evaluation results hold it). The cases are in
        the bank and the learned retriever in its checkpoint file, both written as episodes end."""
        return {"agent": self.agent.state_dict(), "memory_stats": dict(self.stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.stats.update(state["memory_stats"])

    def take_stats(self) -> dict[str, float]:
        """``memory/...`` figures since the last call (cases shown per episode, their mean similarity)."""
        stats, self.stats = self.stats, {"episodes": 0, "shown": 0, "written": 0, "similarity": 0.0}
        episodes, shown = max(stats["episodes"], 1), max(stats["shown"], 1)
        return {
            "memory/cases_shown": stats["shown"] / episodes,
            "memory/similarity": stats["similarity"] / shown,
            "memory/cases_written": float(stats["written"]),
            "memory/bank_size": float(len(self.memory.bank)),
        }


def _kept(got: Retrieved, n: int) -> Retrieved:
    return replace(got, cases=got.cases[:n], vectors=got.vectors[:n], similarity=got.similarity[:n])


class Planner(Protocol):
    """Writes and revises plans of subtasks."""

    def plan(self, task: str, examples: Sequence[Case]) -> list[str]:
        """Subtasks for ``task``, given retrieved cases (their plans and outcomes)."""
        ...

    def revise(self, task: str, plan: Sequence[str], progress: str) -> list[str]:
        """The rest of the plan after what happened (``progress``: the latest observations)."""
        ...


_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(.+?)\s*$")


def parse_plan(text: str, limit: int) -> list[str]:
    """Numbered or bulleted lines of ``text`` as subtasks (at most ``limit``)."""
    items = [m.group(1) for line in text.splitlines() if (m := _ITEM.match(line)) and m.group(1)]
    return items[:limit]


class LLMPlanner:
    """A planner that asks a model (the same backend as the executor, greedy).

    Args:
        backend: Generates the plans.
        tokenizer: The model's tokenizer (chat template).
        max_subtasks: Most subtasks in a plan.
        max_new_tokens: Most tokens of a plan.
    """

    def __init__(self, backend: GenerationBackend, tokenizer: Any, *, max_subtasks: int = 4, max_new_tokens: int = 96):
        self.backend, self.tokenizer = backend, tokenizer
        self.max_subtasks, self.max_new_tokens = max_subtasks, max_new_tokens

    def _ask(self, system: str, user: str) -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        params = SamplingParams(max_new_tokens=self.max_new_tokens, temperature=0.0)
        return self.backend.generate([list(ids)], params)[0].text

    def plan(self, task: str, examples: Sequence[Case]) -> list[str]:
        shown = "\n".join(
            f"- {'succeeded' if c.won else 'failed'}: {c.task[:200]} | plan: {c.plan or 'none'}" for c in examples
        )
        text = self._ask(
            f"You plan tasks. Answer with a numbered list of at most {self.max_subtasks} short subtasks.",
            f"Task: {task}\n" + (f"Past tasks:\n{shown}\n" if shown else "") + "Plan:",
        )
        return parse_plan(text, self.max_subtasks) or [task]

    def revise(self, task: str, plan: Sequence[str], progress: str) -> list[str]:
        text = self._ask(
            f"You revise plans. Answer with a numbered list of at most {self.max_subtasks} remaining subtasks.",
            f"Task: {task}\nPlan so far: {'; '.join(plan)}\nWhat happened: {progress[-600:]}\nRemaining plan:",
        )
        return parse_plan(text, self.max_subtasks) or list(plan)


class PlannerExecutorAgent(MemoryAgent):
    """AgentFly's planner-executor over a case memory (see the module docs).

    Args:
        agent: The executor.
        memory: The case memory (task cases and subtask cases).
        planner: Writes and revises the plan.
        subtask_k: Subtask cases shown per subtask.
    """

    def __init__(self, agent: Agent, memory: CaseMemory, planner: Planner, *, subtask_k: int = 1, **kwargs: Any):
        super().__init__(agent, memory, **kwargs)
        self.planner, self.subtask_k = planner, subtask_k

    def prepare(self, episode: _Episode) -> str:
        task_block = super().prepare(episode)
        examples = episode.retrievals[0].cases
        episode.plan = self.planner.plan(episode.key, examples)[: self.config.max_subtasks]
        episode.subtasks = list(episode.plan)
        lines = ["Plan:"]
        for number, sub in enumerate(episode.plan, 1):
            got = self.memory.retrieve(episode.start.env_id, sub, kind="subtask", k=self.subtask_k, sample=self.sample)
            lines.append(f"{number}. {sub}")
            for case in got.cases:
                lines.append(f"   ({'worked' if case.won else 'did not work'} before: {case.summary[:200]})")
            episode.retrievals.append(got)
            self._count(got)
        plan_block = "\n".join(lines)
        return "\n\n".join(b for b in (task_block, plan_block) if b and self.fits(b))

    def observe(self, episode: _Episode, step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        episode.turns += 1
        episode.notes.append(f"{step.action} -> {observation[-200:]}")
        every = self.config.replan_every
        if every and episode.turns % every == 0:
            episode.plan = self.planner.revise(episode.key, episode.plan, "\n".join(episode.notes[-every:]))[
                : self.config.max_subtasks
            ]
            episode.subtasks.extend(s for s in episode.plan if s not in episode.subtasks)
            revised = "\n".join(f"{i}. {s}" for i, s in enumerate(episode.plan, 1))
            observation = f"{observation}\nRevised plan:\n{revised}"
        self.agent.observe(episode.inner, step, observation, info)


def with_memory(
    agent: Agent,
    memory: CaseMemory,
    *,
    backend: GenerationBackend | None = None,
    tokenizer: Any = None,
    write: bool | None = None,
    sample: bool | None = None,
    source: str = "",
) -> MemoryAgent:
    """``agent`` wrapped as ``memory.config`` says: a :class:`PlannerExecutorAgent` with an :class:`LLMPlanner`
    on ``backend`` when ``memory.planner`` is set (it needs the model), else a :class:`MemoryAgent`."""
    config = memory.config
    if config.planner:
        if backend is None or tokenizer is None:
            raise ValueError("memory.planner=true plans with the model: it needs agent=llm")
        planner = LLMPlanner(backend, tokenizer, max_subtasks=config.max_subtasks)
        return PlannerExecutorAgent(agent, memory, planner, write=write, sample=sample, source=source)
    return MemoryAgent(agent, memory, write=write, sample=sample, source=source)
