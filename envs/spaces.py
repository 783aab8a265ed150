"""Text spaces for observations and actions.

Gymnasium's :class:`~gymnasium.spaces.Text` only accepts characters from a fixed
charset, and its default charset has no space, punctuation or unicode, so it cannot
hold a sentence. :class:`TextSpace` keeps Gymnasium's type (so its checkers and
wrappers accept it) but contains *any* string up to ``max_length`` characters.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium.spaces import Text

# What ``sample()`` draws from: printable ASCII plus a few non-ASCII letters, so random
# samples exercise unicode handling without producing unreadable noise.
SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " " + "éüßøλж中"


class TextSpace(Text):
    """A space of arbitrary unicode strings of bounded length.

    Args:
        max_length: The longest string the space contains.
        min_length: The shortest string the space contains (0 allows ``""``).
        seed: Seed for :meth:`sample`.
    """

    def __init__(self, max_length: int = 65536, *, min_length: int = 0, seed: int | None = None):
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        """Return whether ``x`` is a string whose length lies within the bounds."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """Draw a random string (lengths 1..min(max_length, 64)) for smoke testing."""
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        length = int(self.np_random.integers(max(1, self.min_length), min(self.max_length, 64) + 1))
        chars = np.array(list(SAMPLE_CHARSET))
        return "".join(self.np_random.choice(chars, size=length))

    def __repr__(self) -> str:
        return f"TextSpace(min_length={self.min_length}, max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, TextSpace) and self.min_length == other.min_length and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((TextSpace, self.min_length, self.max_length))
