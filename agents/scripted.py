"""Scripted players: the env's expert and a uniformly random agent.

They implement the :class:`~agentrl.agents.base.Agent` protocol, so ``agentrl eval
env=X agent=expert`` and ``agent=random`` play exactly the episodes (seeds, split, turn
limit) a model is evaluated on, and give its reference points: the expert's success is
what the env's planner reaches, the random agent's is chance.

* :class:`ExpertAgent` plays ``info["expert_action"]``. An env that has no expert says so
  at the first step (a clear error, not a silent fallback); a state where the expert has
  no move is played as an empty (invalid) action unless ``fallback_seed`` is set, in
  which case a random admissible action stands in (``agentrl play`` does that).
* :class:`RandomAgent` picks uniformly among ``info["admissible_actions"]``, from a
  generator seeded by (its seed, the episode's seed), so an episode's moves do not
  depend on which other episodes share the batch.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentrl.agents.base import AgentStep, EpisodeStart, text_step
from agentrl.agents.types import Trajectory

KINDS = ("expert", "random")


@dataclass
class ScriptedAgentConfig:
    """A scripted player (``agent=expert`` or ``agent=random``)."""

    kind: str = "expert"
    """``expert`` (the env's planner, ``info["expert_action"]``) or ``random`` (uniform over the admissible actions)."""
    seed: int = 0
    """Seeds the random agent (and the expert's random fallback, where one is asked for)."""


@dataclass
class _Episode:
    env_id: str
    info: dict[str, Any]
    rng: np.random.Generator
    steps: int = 0


class _Scripted(abc.ABC):
    """Shared bookkeeping: the latest info of each episode and counters for the results."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.episodes = 0
        self.missing_expert_actions = 0

    def start_episode(self, start: EpisodeStart) -> _Episode:
        self.episodes += 1
        rng = np.random.default_rng([self.seed, start.seed & 0xFFFFFFFF])
        return _Episode(start.env_id, dict(start.info), rng)

    def act(self, episodes: Sequence[_Episode]) -> list[AgentStep]:
        steps = [text_step(self._choose(episode)) for episode in episodes]
        for episode in episodes:
            episode.steps += 1
        return steps

    @abc.abstractmethod
    def _choose(self, episode: _Episode) -> str:
        """The action for ``episode`` now."""

    def observe(self, episode: _Episode, step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        episode.info = dict(info)

    def end_episode(self, episode: _Episode, trajectory: Trajectory) -> None:
        """Nothing to learn between episodes."""
        return  # a hook: wrappers (case memory) learn here

    def state_dict(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "missing_expert_actions": self.missing_expert_actions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episodes = int(state["episodes"])
        self.missing_expert_actions = int(state["missing_expert_actions"])


def _random_admissible(episode: _Episode) -> str:
    choices = episode.info.get("admissible_actions")
    if not choices:
        raise ValueError(
            f"{episode.env_id} lists no admissible actions here, so a random agent cannot pick one; "
            "evaluate a model or the expert instead"
        )
    return str(choices[int(episode.rng.integers(len(choices)))])


class ExpertAgent(_Scripted):
    """Plays the env's expert action.

    Args:
        fallback_seed: When the expert has no move in a state, play a random admissible
            action from a generator with this seed (None: play an empty, invalid action and
            count it in ``missing_expert_actions``).
    """

    def __init__(self, fallback_seed: int | None = None):
        super().__init__(seed=fallback_seed or 0)
        self.fallback = fallback_seed is not None

    def _choose(self, episode: _Episode) -> str:
        action = episode.info.get("expert_action")
        if action:
            return str(action)
        if episode.steps == 0 and not self.fallback:
            raise ValueError(
                f"{episode.env_id} gives no expert action (info['expert_action'] is None at reset): "
                "it has no expert, or it was turned off (env.kwargs.expert=false); use agent=random or a model"
            )
        self.missing_expert_actions += 1
        return _random_admissible(episode) if self.fallback else ""


class RandomAgent(_Scripted):
    """Plays a uniformly random admissible action (seeded per episode)."""

    def _choose(self, episode: _Episode) -> str:
        return _random_admissible(episode)


def make_scripted(cfg: ScriptedAgentConfig) -> ExpertAgent | RandomAgent:
    """The scripted player ``cfg`` names."""
    if cfg.kind == "expert":
        return ExpertAgent()
    if cfg.kind == "random":
        return RandomAgent(seed=cfg.seed)
    raise ValueError(f"agent kind must be one of {', '.join(KINDS)} (or a model: agent=llm), not {cfg.kind!r}")
