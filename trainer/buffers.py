"""Replay buffers: ArCHer's off-policy critic, DAgger's aggregated labelled turns.

A :class:`ReplayBuffer` is a ring of dataclass items (utterance-level transitions by
default) with seeded uniform sampling; its whole state (contents, write position,
generator) goes into checkpoints.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar


@dataclass
class Transition:
    """One utterance-level step ``(s, a, r, s', done)``."""

    state: str
    """The state as text (task and episode so far)."""
    action: str
    """The utterance the policy produced."""
    reward: float
    next_state: str
    done: bool
    """True when the episode terminated (no bootstrap from ``next_state``)."""
    prompt_ids: list[int] = field(default_factory=list)
    """The token ids the policy saw in ``state`` (to sample fresh actions from it)."""


Item = TypeVar("Item")


class ReplayBuffer(Generic[Item]):
    """A fixed-capacity ring of dataclass items with seeded uniform sampling.

    Args:
        capacity: Most items kept; the oldest leave first.
        seed: Seeds :meth:`sample`.
        item: The items' dataclass (rebuilt from its fields by :meth:`load_state_dict`).
    """

    def __init__(self, capacity: int, seed: int = 0, item: type[Item] = Transition):  # type: ignore[assignment]
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.item = item
        self._items: list[Item] = []
        self._next = 0
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Item) -> None:
        if len(self._items) < self.capacity:
            self._items.append(item)
        else:
            self._items[self._next] = item
        self._next = (self._next + 1) % self.capacity

    def extend(self, items: list[Item]) -> None:
        for item in items:
            self.add(item)

    def sample(self, n: int) -> list[Item]:
        """``n`` items drawn uniformly with replacement."""
        if not self._items:
            raise ValueError("the replay buffer is empty")
        return [self._items[self._rng.randrange(len(self._items))] for _ in range(n)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "items": [asdict(t) for t in self._items],  # type: ignore[call-overload]
            "next": self._next,
            "rng": self._rng.getstate(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.capacity = state["capacity"]
        self._items = [self.item(**t) for t in state["items"]]
        self._next = state["next"]
        self._rng.setstate(state["rng"])
