"""Key/value states of past prompts, kept so that a multi-turn episode's history is computed once.

Each turn of an episode is prompted with the previous turn's prompt, its reply and the
env's answer (the token-in/token-out contract of :mod:`agentrl.agents.prompting`), so
the attention keys and values of all but the newest tokens were computed on the turn
before. :class:`PrefixCache` keeps them, keyed by the exact token ids they belong to:
a prompt reuses the states of its longest common prefix with any kept entry, and
everything after that is computed as usual. Correctness never depends on the caller:
a prompt that shares nothing with the entries (a new episode, a history window that
dropped its oldest turn) simply reuses nothing, and the cache is emptied as soon as the
model's weights change (an optimiser step on the shared model, a weight push).

The cache is bounded in bytes; the least recently used entries go first, and an entry
is dropped when a longer one extending it is stored (its states are in the new one).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

logger = logging.getLogger(__name__)


@dataclass
class Entry:
    """The states of one token sequence: ``keys[layer]`` and ``values[layer]`` are ``[heads, len, dim]``."""

    ids: torch.Tensor
    """The tokens, int64 on the CPU."""
    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


@dataclass
class CacheStats:
    """What the cache saved: prompt tokens looked up and how many of them came from kept states."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    resets: int = 0
    """Times the cache was emptied because the weights changed."""


class PrefixCache:
    """Kept key/value states of token sequences, bounded by ``max_bytes``.

    Args:
        max_bytes: Memory for the kept states (0 keeps nothing).
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max(0, int(max_bytes))
        self.stats = CacheStats()
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._next = 0
        self._used = 0
        self._weights: tuple[tuple[int, int], ...] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def used_bytes(self) -> int:
        return self._used

    def clear(self) -> None:
        self._entries.clear()
        self._used = 0

    def check_weights(self, model: Any) -> None:
        """Empty the cache if any parameter of ``model`` changed since the last call (in-place updates bump a
        tensor's version counter; a replaced tensor has another address)."""
        fingerprint = tuple((p.data_ptr(), p._version) for p in model.parameters())
        if fingerprint != self._weights:
            if self._entries:
                self.stats.resets += 1
            self.clear()
            self._weights = fingerprint

    def lookup(self, prompt: Sequence[int]) -> tuple[Entry | None, int]:
        """The entry sharing the longest prefix with ``prompt`` and that prefix's length (at most
        ``len(prompt) - 1``: the last prompt token is always fed, its logits start the reply)."""
        ids = torch.as_tensor(list(prompt), dtype=torch.long)
        best_key, best = -1, 0
        for key, entry in self._entries.items():
            n = min(len(entry.ids), len(ids) - 1)
            if n <= best:
                continue
            differ = (entry.ids[:n] != ids[:n]).nonzero()
            shared = int(differ[0]) if len(differ) else n
            if shared > best:
                best_key, best = key, shared
        self.stats.prompt_tokens += len(ids)
        if best == 0:
            return None, 0
        self._entries.move_to_end(best_key)
        self.stats.reused_tokens += best
        return self._entries[best_key], best

    def store(self, entry: Entry) -> None:
        """Keep ``entry``, dropping entries it extends and then the least recently used ones past the bound."""
        size = entry.nbytes
        if size > self.max_bytes:
            return
        for key in [k for k, e in self._entries.items() if _extends(entry.ids, e.ids)]:
            self._drop(key)
        while self._entries and self._used + size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[self._next] = entry
        self._next += 1
        self._used += size

    def _drop(self, key: int) -> None:
        self._used -= self._entries.pop(key).nbytes


def _extends(longer: torch.Tensor, shorter: torch.Tensor) -> bool:
    return len(shorter) <= len(longer) and bool(torch.equal(longer[: len(shorter)], shorter))


def prefilled_cache(model: Any, rows: Sequence[tuple[Entry | None, int]], width: int) -> Any:
    """A ``DynamicCache`` of ``width`` columns for a left-padded batch: row ``r`` holds the states of its
    entry's first ``n`` tokens in its last ``n`` columns (``rows[r] = (entry, n)``) and zeros before them
    (padding, masked out by the attention mask)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    if width == 0:
        return cache
    sample = next(entry for entry, n in rows if entry is not None and n > 0)
    for layer in range(len(sample.keys)):
        heads, _, dim = sample.keys[layer].shape
        shape = (len(rows), heads, width, dim)
        keys = sample.keys[layer].new_zeros(shape)
        values = sample.values[layer].new_zeros(shape)
        for row, (entry, n) in enumerate(rows):
            if entry is not None and n > 0:
                keys[row, :, width - n :] = entry.keys[layer][:, :n]
                values[row, :, width - n :] = entry.values[layer][:, :n]
        cache.update(keys, values, layer)
    return cache


def row_entry(cache: Any, row: int, start: int, ids: Sequence[int]) -> Entry:
    """Row ``row``'s states of the ``len(ids)`` tokens from column ``start`` of ``cache``, as an entry (copied, so
    the batch's cache can be freed)."""
    end = start + len(ids)
    keys = [layer.keys[row, :, start:end].clone() for layer in cache.layers]
    values = [layer.values[row, :, start:end].clone() for layer in cache.layers]
    return Entry(torch.as_tensor(list(ids), dtype=torch.long), keys, values)
