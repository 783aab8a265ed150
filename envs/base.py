"""The base class of agentrl's single-agent text envs.

A :class:`TextEnv` is a ``gymnasium.Env[str, str]``: the observation is the text the
agent sees this turn and the action is the agent's raw utterance. Subclasses wrap an
*engine* (a game, simulator or website) and implement a few hooks; the base class
owns the parts every env must get the same way:

* seeding: ``reset(seed=s)`` always yields the same task and text; ``reset()`` without
  a seed draws the next task from the env's seeded generator;
* the ``info`` keys of :mod:`agentrl.envs.info`, and at reset the env's
  ``instructions`` (what the agent must know to act: rules and action grammar);
* invalid actions: an action the env cannot parse never reaches the engine and never
  raises; it returns a feedback observation with ``info["invalid_action"] = True``;
* the split of a step into engine step, text rendering and expert, which
  ``benchmarks/env_step.py`` times separately.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Generic, SupportsFloat, TypeVar

import gymnasium

from agentrl.envs.actions import describe_invalid
from agentrl.envs.spaces import TextSpace

CommandT = TypeVar("CommandT")

_SEED_BOUND = 2**31 - 1


class TextEnv(gymnasium.Env[str, str], Generic[CommandT], abc.ABC):
    """Base class for text envs; see the module docstring for the contract.

    Subclasses set :attr:`task`, :attr:`won` and :attr:`score` and implement
    ``_engine_reset``, ``_engine_step``, ``_render`` and ``parse_action``; they may
    override ``_admissible``, ``_compute_expert`` and ``invalid_feedback``, and should
    set :attr:`instructions` (or override :meth:`instructions_text`).

    Args:
        expert: Compute ``info["expert_action"]`` after every reset and step. Turn it
            off when nobody reads it and the planner is costly.
        render_mode: ``"ansi"`` (``render()`` returns the text) or ``"human"``
            (``render()`` prints it).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"]}  # noqa: RUF012 (gymnasium declares it so)
    max_action_length: ClassVar[int] = 8192
    max_observation_length: ClassVar[int] = 65536
    invalid_action_reward: ClassVar[float] = 0.0
    instructions: ClassVar[str] = ""
    """What the agent must know to act in this env: what it is and the action grammar, never the
    task (that is ``info["task"]``). ``reset`` gives it as ``info["instructions"]``; empty: no such key."""

    def __init__(self, *, expert: bool = True, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.observation_space = TextSpace(self.max_observation_length)
        self.action_space = TextSpace(self.max_action_length)
        self.render_mode = render_mode
        self.expert = expert
        self.task = ""
        self.won = False
        self.score = 0.0
        self._observation = ""
        self._expert_action: str | None = None

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        """Start a new episode of the engine from ``seed`` (and ``options``)."""

    @abc.abstractmethod
    def _engine_step(self, command: CommandT) -> tuple[SupportsFloat, bool, bool]:
        """Apply a parsed command; return ``(reward, terminated, truncated)``."""

    @abc.abstractmethod
    def _render(self) -> str:
        """The observation text of the current state."""

    @abc.abstractmethod
    def parse_action(self, action: str) -> CommandT | None:
        """The engine command ``action`` names, or None when it names none."""

    def _admissible(self) -> list[str] | None:
        """Actions valid now, or None when the env cannot list them."""
        return None

    def _compute_expert(self) -> str | None:
        """What a planner would do in the current state, or None."""
        return None

    def invalid_feedback(self, action: object) -> str:
        """The text shown after an invalid action (the current state is appended)."""
        return describe_invalid(action, self._admissible())

    def instructions_text(self) -> str:
        """The instructions of this env instance (:attr:`instructions` unless they depend on its arguments)."""
        return self.instructions

    # --------------------------------------------------------------- gymnasium
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode; the same ``seed`` (and options) gives the same task and text."""
        super().reset(seed=seed)
        engine_seed = seed if seed is not None else int(self.np_random.integers(_SEED_BOUND))
        self.won = False
        self.score = 0.0
        self._engine_reset(engine_seed, dict(options or {}))
        self._observation = self._render()
        self._expert_action = self._compute_expert() if self.expert else None
        info = self._info(False)
        instructions = self.instructions_text()
        if instructions:
            info["instructions"] = instructions
        return self._observation, info

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """Act on the agent's utterance; an unparseable one is an invalid action."""
        command = (
            self.parse_action(action) if isinstance(action, str) and len(action) <= self.max_action_length else None
        )
        if command is None:
            text = self.invalid_feedback(action) + "\n\n" + self._observation
            return text, self.invalid_action_reward, False, False, self._info(True)
        reward, terminated, truncated = self._engine_step(command)
        self._observation = self._render()
        if self.expert:
            self._expert_action = self._compute_expert()
        return self._observation, float(reward), terminated, truncated, self._info(False)

    def render(self) -> str | None:
        """Return (``ansi``) or print (``human``) the current observation."""
        if self.render_mode == "human":
            print(self._observation)
            return None
        return self._observation

    def _info(self, invalid: bool) -> dict[str, Any]:
        return {
            "task": self.task,
            "admissible_actions": self._admissible(),
            "won": self.won,
            "score": self.score,
            "invalid_action": invalid,
            "expert_action": self._expert_action,
        }
