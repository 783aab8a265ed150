"""agentrl: a gym of text, web and multi-agent envs for LLM agents, and an RL trainer.

The top-level namespace stays light: subpackages and helpers load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "make", "testing"]

if TYPE_CHECKING:
    from agentrl import testing
    from agentrl.factory import make


def __getattr__(name: str) -> Any:
    if name == "make":
        return importlib.import_module("agentrl.factory").make
    if name == "testing":
        return importlib.import_module("agentrl.testing")
    raise AttributeError(f"module 'agentrl' has no attribute {name!r}")
