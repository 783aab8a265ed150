"""Text embedders for the case bank: the packaged MiniLM, or a feature-hashing bag of words.

``minilm`` is the default and what AgentFly's retrieval assumes: all-MiniLM-L6-v2 (384
wide) through :func:`agentrl.agents.encoders.embed_texts`, the loader ArCHer and LSPO
use too. ``hash`` hashes words and word pairs into 384 signed buckets: no model, about
10 µs a text, similar texts share buckets — for large benchmarks and tests where
loading a transformer would dominate, and a fallback where the MiniLM package is missing.
Both return unit-length float32 rows.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

ENCODERS = ("minilm", "hash")
DIM = 384
_WORD = re.compile(r"[a-z0-9]+")


class Embedder:
    """Embeds texts into unit-length rows of width :attr:`dim`."""

    def __init__(self, name: str, seed: int = 0):
        if name not in ENCODERS:
            raise ValueError(f"memory.encoder={name!r}: one of {', '.join(ENCODERS)}")
        self.name, self.seed, self.dim = name, seed, DIM

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """``[len(texts), dim]`` float32, each row unit length (a text without words: a zero row)."""
        if self.name == "minilm":
            from agentrl.agents.encoders import embed_texts

            return embed_texts(texts, "minilm", self.seed).astype(np.float32)
        return np.stack([_hashed(t, self.dim) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def _hashed(text: str, dim: int) -> np.ndarray:
    words = _WORD.findall(text.lower())
    vector = np.zeros(dim, dtype=np.float32)
    for token in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
        digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
        vector[digest % dim] += 1.0 if (digest >> 32) & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
