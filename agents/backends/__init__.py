"""Generation backends: ``hf`` (transformers, in-process). More (vllm, openai) plug in by name."""

from __future__ import annotations

from agentrl.agents.backends.hf import HFBackend

__all__ = ["HFBackend"]
