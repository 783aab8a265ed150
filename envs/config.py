"""The config of one env, as the CLI's ``env=`` group and ``agentrl.make`` read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
