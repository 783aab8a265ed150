"""LSPO's abstract game: speeches embedded into latent strategies, and the payoff matrix over them.

:func:`embed_texts` turns candidate utterances into unit-length MiniLM embeddings (the
``embed`` stage; the ``play`` stage scores new candidates with them); k-means centroids
over those embeddings are the latent strategies. :func:`estimate_payoff` is the abstract
game's payoff: the werewolf side's mean shaped return per (werewolf strategy, village
strategies) cell, shrunk towards an additive model where few games back a cell.
"""

from __future__ import annotations

import numpy as np

from agentrl.agents.encoders import embed_texts

__all__ = ["embed_texts", "estimate_payoff"]


def estimate_payoff(sums: np.ndarray, counts: np.ndarray, shrink: float) -> np.ndarray:
    """Cell means shrunk towards the additive model ``mean + row effect + column effect``.

    A cell with n games weighs its own mean by n / (n + shrink); cells without games are the additive model.
    """
    total = counts.sum()
    if total == 0:
        return np.zeros_like(sums)
    mean = sums.sum() / total
    with np.errstate(invalid="ignore", divide="ignore"):
        row = np.where(counts.sum(1) > 0, sums.sum(1) / counts.sum(1), mean) - mean
        col = np.where(counts.sum(0) > 0, sums.sum(0) / counts.sum(0), mean) - mean
        cell = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    additive = mean + row[:, None] + col[None, :]
    weight = counts / (counts + shrink)
    return weight * cell + (1 - weight) * additive
