"""Generation backends: ``hf`` (transformers, in-process) and ``openai`` (any OpenAI-compatible server)."""

from __future__ import annotations

from agentrl.agents.backends.hf import HFBackend
from agentrl.agents.backends.openai import OpenAIBackend, OpenAIBackendError

__all__ = ["HFBackend", "OpenAIBackend", "OpenAIBackendError"]
