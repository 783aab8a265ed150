"""The ``Agent`` protocol: what rollouts and evaluation ask of anything that plays an env.

An agent plays many episodes at once. For each one the rollout calls
:meth:`Agent.start_episode` with the reset's observation and info (the task, the env's
instructions), then alternates :meth:`Agent.act` (one batched decision for every episode
waiting for an action) and :meth:`Agent.observe` (the env's answer, while the episode
goes on), and ends with :meth:`Agent.end_episode` and the finished trajectory, so that
an agent that learns between episodes (a case memory) has its hook. The handle
``start_episode`` returns is the agent's own per-episode state (a conversation, the last
info); the rollout only passes it back. ``LLMAgent``, the scripted players of
:mod:`agentrl.agents.scripted` and wrappers implement it; rollouts and evaluation
depend on nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agentrl.agents.generation import Completion
from agentrl.agents.types import Trajectory


@dataclass
class EpisodeStart:
    """What an agent learns when an episode starts."""

    env_id: str
    """The env's registered id."""
    seed: int
    """The reset seed (one task)."""
    observation: str
    """The first observation."""
    info: dict[str, Any]
    """The reset's info: ``task``, ``instructions``, ``admissible_actions``, ``expert_action``, ..."""

    @property
    def task(self) -> str:
        """The instruction the episode pursues ('' when the env gives none)."""
        return str(self.info.get("task") or "")

    @property
    def instructions(self) -> str:
        """What the env says an agent must know to act in it ('' when it says nothing)."""
        return str(self.info.get("instructions") or "")


@dataclass
class AgentStep:
    """What the agent did for one episode in a batch."""

    prompt_ids: list[int]
    """The tokens the model was conditioned on (empty for agents without a model)."""
    completion: Completion
    """The reply: token ids and log-probs (empty for agents without a model) and its text."""
    action: str
    """The action parsed from the reply, sent to the env as it is."""
    repaired_from: str | None = None
    """The model's own reply when ``agent.repair_invalid`` replaced it (its action was not among the listed ones)."""


@runtime_checkable
class Agent(Protocol):
    """Anything that plays episodes in batches; see the module docstring for the call order."""

    def start_episode(self, start: EpisodeStart) -> Any:
        """Begin an episode; returns its handle (passed back to every other call for it)."""
        ...

    def act(self, episodes: Sequence[Any]) -> list[AgentStep]:
        """One step for each episode handle, in order (one generation batch for a model)."""
        ...

    def observe(self, episode: Any, step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        """The env's answer to ``step`` in an episode that goes on."""
        ...

    def end_episode(self, episode: Any, trajectory: Trajectory) -> None:
        """The episode is over; ``trajectory`` holds all of it."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep to resume this agent exactly."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        ...


def text_step(action: str) -> AgentStep:
    """An :class:`AgentStep` of an agent without a model: the action is the whole reply."""
    return AgentStep(prompt_ids=[], completion=Completion([], [], action, "stop"), action=action)
