"""What every generation backend takes and returns.

Backends turn token-id prompts into completions carrying token ids and log-probs, so
that what the model saw and produced is never re-derived from text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass
class SamplingParams:
    """How to sample a completion."""

    max_new_tokens: int = 64
    """Most tokens to generate per completion."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 disables it)."""
    stop: list[str] = field(default_factory=list)
    """Strings that end a completion (kept in the text, like an end-of-turn token)."""
    seed: int | None = None
    """Seed for sampling; the same seed and prompts give the same completions."""


@dataclass
class Completion:
    """One generated continuation."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str
    """``"stop"`` (end token or stop string) or ``"length"``."""


@runtime_checkable
class GenerationBackend(Protocol):
    """Anything that completes batches of token-id prompts."""

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        """One completion per prompt, in order."""
        ...
