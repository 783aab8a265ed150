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

from agentrl.memory.agent import MemoryAgent, PlannerExecutorAgent, with_memory
from agentrl.memory.bank import Case, CaseBank, CaseBankError
from agentrl.memory.case_memory import CaseMemory
from agentrl.memory.config import MemoryConfig, RetrieverConfig

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
