"""What every generation backend takes and returns.

Backends turn token-id prompts into completions carrying token ids and log-probs, so
that what the model saw and produced is never re-derived from text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


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
    """What every generation backend implements (``hf``, ``openai``, ``vllm``, test fakes).

    Nothing calling a backend probes it for optional attributes: a backend that has no
    use for a method implements it as a no-op.
    """

    eos_ids: set[int]
    """Token ids that end a reply (the model's and the tokenizer's end-of-turn tokens)."""
    weights_shared: bool
    """True when the backend generates with the trainer's own model object, so an optimiser step
    is visible to the next generation without :meth:`update_weights`."""

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        """One completion per prompt, in order."""
        ...

    def update_weights(self, state_dict: Mapping[str, Any]) -> int:
        """Load new policy weights (full model, HF names); returns the backend's weight version."""
        ...

    def stats(self) -> dict[str, float]:
        """Counters worth recording with results (e.g. ``prompt_drift`` of text-prompt servers)."""
        ...

    def close(self) -> None:
        """Release connections, workers or engines; idempotent."""
        ...
