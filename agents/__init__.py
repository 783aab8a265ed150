"""Agents and generation: trajectories, backends, prompting, parsing, ``LLMAgent``.

Light on import: the torch-backed pieces (``agentrl.agents.backends``,
``agentrl.agents.models``) load only when imported.
"""

from __future__ import annotations

from agentrl.agents.generation import Completion, GenerationBackend, SamplingParams
from agentrl.agents.llm_agent import AgentConfig, AgentStep, LLMAgent
from agentrl.agents.parsing import parse_action
from agentrl.agents.types import Trajectory, Turn, load_jsonl, save_jsonl

__all__ = [
    "AgentConfig",
    "AgentStep",
    "Completion",
    "GenerationBackend",
    "LLMAgent",
    "SamplingParams",
    "Trajectory",
    "Turn",
    "load_jsonl",
    "parse_action",
    "save_jsonl",
]
