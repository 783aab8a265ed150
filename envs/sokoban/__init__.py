"""Sokoban: the game engine, a reverse-play generator of solvable rooms, a solver, the text env."""

from __future__ import annotations

from agentrl.envs.sokoban.engine import Room, SokobanGame
from agentrl.envs.sokoban.env import SokobanEnv, render_room
from agentrl.envs.sokoban.generator import generate_room
from agentrl.envs.sokoban.solver import solve

__all__ = ["Room", "SokobanEnv", "SokobanGame", "generate_room", "render_room", "solve"]
