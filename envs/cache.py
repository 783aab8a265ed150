"""agentrl's on-disk cache: generated games, converted models, sandbox root file systems.

Everything agentrl builds once and reuses lives under one folder, ``$AGENTRL_CACHE``
(default ``~/.cache/agentrl``), one subfolder per kind of thing.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """The cache folder for ``kind`` (``textworld``, ``alfworld``, ``models``, ``sandbox``); not created here."""
    return Path(os.environ.get("AGENTRL_CACHE", Path.home() / ".cache" / "agentrl")) / kind
