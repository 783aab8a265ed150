"""``CaseMemory``: the case bank, its embedder and its retriever behind three calls.

:meth:`CaseMemory.retrieve` embeds a task and returns the cases to show (cosine top-K, or
the learned retriever's choice among the most similar candidates); :meth:`CaseMemory.write`
stores finished episodes; :meth:`CaseMemory.learn` trains the learned retriever on an
episode's (task, shown case, outcome) triples and checkpoints it next to the bank
(``<bank>.retriever.pt``), so the next run, or another process, starts from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentrl.memory.bank import Case, CaseBank, top_k
from agentrl.memory.config import MemoryConfig
from agentrl.memory.embedding import Embedder
from agentrl.memory.retriever import KINDS, LearnedRetriever, Triple

logger = logging.getLogger(__name__)


@dataclass
class Retrieved:
    """What one retrieval showed: the task's embedding, the shown cases and the candidates they came from."""

    query: np.ndarray
    cases: list[Case]
    vectors: np.ndarray
    """Embeddings of :attr:`cases`, row by row."""
    similarity: list[float]
    candidates: np.ndarray
    """Embeddings of every candidate scored (the soft-Q bootstrap of the previous retrieval uses them)."""
    candidates_won: np.ndarray


class CaseMemory:
    """A case bank with its embedder and retriever.

    Args:
        config: The memory settings (``memory.*``).
        checkpoint_every: Episodes between saves of the learned retriever (it is also saved by :meth:`save`).
    """

    def __init__(self, config: MemoryConfig, *, checkpoint_every: int = 10):
        if config.retriever.kind not in KINDS:
            raise ValueError(f"memory.retriever.kind={config.retriever.kind!r}: one of {', '.join(KINDS)}")
        self.config = config
        self.embedder = Embedder(config.encoder)
        self.bank = CaseBank(config.path, encoder=self.embedder.name, dim=self.embedder.dim)
        self.retriever: LearnedRetriever | None = None
        self.checkpoint_every, self.episodes = checkpoint_every, 0
        if config.retriever.kind == "learned":
            self.retriever = LearnedRetriever(self.embedder.dim, config.retriever)
            if self.retriever_path.exists():
                self.retriever.load(self.retriever_path)
                logger.info("learned retriever loaded from %s", self.retriever_path)

    @property
    def retriever_path(self) -> Path:
        """Where the learned retriever is checkpointed: next to the bank."""
        return self.bank.path.with_name(self.bank.path.name + ".retriever.pt")

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder(texts)

    def retrieve(
        self, env_id: str, text: str, *, kind: str = "task", k: int | None = None, sample: bool | None = None
    ) -> Retrieved:
        """The cases to show for ``text`` (of ``env_id`` when ``memory.same_env``), best first."""
        cfg = self.config.retriever
        k = cfg.k if k is None else k
        query = self.embed([text])[0]
        ids, vectors = self.bank.matrix(env_id if self.config.same_env else None, kind)
        if not len(ids):
            empty = np.zeros((0, self.embedder.dim), np.float32)
            return Retrieved(query, [], empty, [], empty, np.zeros(0))
        sims = vectors @ query
        if self.retriever is None:
            chosen = top_k(sims, k)
            pool = chosen
            cases = self.bank.get(int(ids[i]) for i in chosen)
            won = np.array([c.won for c in cases], dtype=np.float32)
        else:
            pool = top_k(sims, cfg.candidates)
            pool_cases = self.bank.get(int(ids[i]) for i in pool)
            won = np.array([c.won for c in pool_cases], dtype=np.float32)
            picks = self.retriever.select(query, vectors[pool], won, k, sample=cfg.sample if sample is None else sample)
            cases = [pool_cases[i] for i in picks]
            chosen = pool[picks]
        return Retrieved(query, cases, vectors[chosen], [float(sims[i]) for i in chosen], vectors[pool], won)

    def write(self, cases: list[Case], texts: list[str] | None = None) -> list[int]:
        """Store ``cases``, embedding ``texts`` (default: each case's task)."""
        texts = texts if texts is not None else [c.task for c in cases]
        return self.bank.add(cases, self.embed(texts))

    def learn(self, retrievals: list[Retrieved], won: bool) -> dict[str, float]:
        """Train the learned retriever on one episode: every shown case of every retrieval, labelled with the
        episode's outcome (soft-Q: bootstrapped from the next retrieval of the episode)."""
        if self.retriever is None:
            return {}
        single_step = self.retriever.config.loss == "bce"
        triples = []
        for i, got in enumerate(retrievals):
            after = retrievals[i + 1] if i + 1 < len(retrievals) else None
            for case, vector in zip(got.cases, got.vectors, strict=True):
                last = single_step or after is None or not len(after.candidates)
                triples.append(
                    Triple(
                        task=got.query,
                        case=vector,
                        case_won=case.won,
                        reward=float(won) if last else 0.0,
                        next_task=None if last else after.query,  # type: ignore[union-attr]
                        next_cases=None if last else after.candidates,  # type: ignore[union-attr]
                        next_won=None if last else after.candidates_won,  # type: ignore[union-attr]
                    )
                )
        if not triples:
            return {}
        stats = self.retriever.record(triples)
        self.episodes += 1
        if self.episodes % self.checkpoint_every == 0:
            self.save()
        return stats

    def save(self) -> None:
        """Checkpoint the learned retriever (nothing to do for cosine retrieval)."""
        if self.retriever is not None:
            self.retriever.save(self.retriever_path)

    def close(self) -> None:
        self.save()
        self.bank.close()
