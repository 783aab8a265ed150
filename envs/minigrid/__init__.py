"""MiniGrid and BabyAI as text: the egocentric describer and the env."""

from __future__ import annotations

from agentrl.envs.minigrid.describer import describe
from agentrl.envs.minigrid.env import ACTIONS, MiniGridTextEnv, level_ids

__all__ = ["ACTIONS", "MiniGridTextEnv", "describe", "level_ids"]
