"""The config of one env, as the CLI's ``env=`` group and ``agentrl.make`` read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AgentDefaults:
    """The agent settings this env needs (reply length, action tags, history window); `agentrl train`/`eval` start
    from them."""

    max_new_tokens: int = 48
    """Reply length (tokens) that can hold one of this env's actions as the agent writes it."""
    tagged_actions: bool = True
    """Ask for the action inside <action>...</action>."""
    show_actions: bool = True
    """List the admissible actions under each observation."""
    history_actions: bool = True
    """Keep past turns' lists of admissible actions in the prompt (False: only the latest observation lists them)."""
    history: int | None = 10
    """Past turns kept in the prompt (None: the whole episode); the prompt's token budget may keep fewer."""
    history_drop: int = 1
    """Oldest turns leaving a full history window at once (1: it slides every turn, and no prompt is then a prefix of
    the next, so the hf backend's kept states serve only the instructions). Long episodes set more."""


@dataclass
class EnvConfig:
    """Which env to build and with what arguments (``configs/env/<name>.yaml``)."""

    id: str = "agentrl/BabyAI-v0"
    """A registered id (``agentrl/Sokoban-v0``), any gymnasium id, or ``module:Class``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments, e.g. ``{level: BabyAI-GoToLocal-v0}``."""
    max_episode_steps: int | None = None
    """Override the registered step limit (single-agent envs only)."""
    remote: str | None = None
    """URL of an ``agentrl serve-env`` server to run the env on (None: in this process)."""
    held_out_split: str | None = None
    """The env's held-out split (its ``split`` argument), on which evaluation runs by default (None: it has none;
    evaluation then uses the env as configured, on seeds kept apart from training's)."""
    agent: AgentDefaults = field(default_factory=AgentDefaults)
    """Agent settings this env needs; ``agent=llm`` in train/eval takes them unless overridden."""
    train_recipe: list[str] = field(default_factory=list)
    """Overrides ``agentrl train env=NAME`` starts from (model, warm-up, schedule), e.g. ``[model=smollm2,
    train.warmup.episodes=100]``; any setting you give yourself wins (choosing a group, ``algo=ppo``, drops the
    recipe's settings of that group). ``agentrl train --print-config env=NAME`` shows the result."""
