"""Agents and generation: the Agent protocol, trajectories, backends, prompting, parsing, LLMAgent, scripted players.

Light on import: the torch-backed pieces (``agentrl.agents.backends``,
``agentrl.agents.models``) load only when imported.
"""

from __future__ import annotations

from agentrl.agents.base import Agent, AgentStep, EpisodeStart
from agentrl.agents.generation import Completion, GenerationBackend, SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.parsing import parse_action
from agentrl.agents.scripted import ExpertAgent, RandomAgent, ScriptedAgentConfig
from agentrl.agents.types import Trajectory, Turn, load_jsonl, save_jsonl

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentStep",
    "Completion",
    "EpisodeStart",
    "ExpertAgent",
    "GenerationBackend",
    "LLMAgent",
    "RandomAgent",
    "SamplingParams",
    "ScriptedAgentConfig",
    "Trajectory",
    "Turn",
    "load_jsonl",
    "parse_action",
    "save_jsonl",
]
