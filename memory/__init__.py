"""Case-based memory for agents: AgentFly (Memento) without touching the model's weights.

* :mod:`agentrl.memory.bank` — the case bank (SQLite, WAL): :class:`CaseBank`, :class:`Case`.
* :mod:`agentrl.memory.embedding` — task embeddings (the packaged MiniLM, or hashed words).
* :mod:`agentrl.memory.retriever` — cosine top-K and the learned retriever Q(s, c).
* :mod:`agentrl.memory.case_memory` — :class:`CaseMemory`: bank + embedder + retriever.
* :mod:`agentrl.memory.agent` — :class:`MemoryAgent` (wraps any agent) and the planner-executor.
* :mod:`agentrl.memory.config` — :class:`MemoryConfig` (``memory=on`` in ``agentrl eval``/``train``).

See ``docs/memory.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentrl.memory.agent import MemoryAgent, PlannerExecutorAgent, with_memory
    from agentrl.memory.bank import Case, CaseBank, CaseBankError
    from agentrl.memory.case_memory import CaseMemory
    from agentrl.memory.config import MemoryConfig, RetrieverConfig

# Each name is imported from its module when first used, so that importing one module (the viewer's index
# uses agentrl.memory.bank's SQLite helper) does not import the agents and the retriever's models too.
_MODULE_OF = {
    "Case": "bank",
    "CaseBank": "bank",
    "CaseBankError": "bank",
    "CaseMemory": "case_memory",
    "MemoryAgent": "agent",
    "MemoryConfig": "config",
    "PlannerExecutorAgent": "agent",
    "RetrieverConfig": "config",
    "with_memory": "agent",
}

__all__ = [
    "Case",
    "CaseBank",
    "CaseBankError",
    "CaseMemory",
    "MemoryAgent",
    "MemoryConfig",
    "PlannerExecutorAgent",
    "RetrieverConfig",
    "with_memory",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
