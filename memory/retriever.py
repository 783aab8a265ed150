"""Case retrieval: cosine top-K, and AgentFly's learned retriever Q(s, c) trained online.

AgentFly (Memento, Zhou et al. 2025) reads memory through a case-selection policy
``mu(c | s, M)``. Non-parametric: the K cases whose embeddings are most cosine-similar to
the task's. Parametric: a network ``Q(s, c)`` scores each candidate case for the task;
the selection policy is ``softmax(Q / alpha)`` (:func:`soft_policy`, the maximiser of
``sum_c mu(c) (Q(c) - alpha log mu(c))``), sampled while learning and taken top-K for
evaluation. Q learns from (task, retrieved case, outcome) triples: binary cross-entropy
with ``sigmoid(Q)`` predicting success (the single-step form the paper trains), or the
soft-Q TD target ``r + gamma alpha logsumexp(Q(s', c') / alpha)`` where ``s'`` is the
next retrieval of the same episode (a planner-executor's next subtask) and the target is
``r`` at the last. Where it differs from the released code: Q is updated online, after
every episode, from a buffer of recent triples (the code trains offline between runs).

The network sees ``[s, c, s * c, cos(s, c), won(c)]`` — the task and case embeddings,
their product, their cosine and whether the case succeeded — so it can start from
similarity and learn which kinds of case help which kinds of task.
"""

from __future__ import annotations

import logging
import pickle
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentrl.memory.bank import top_k
from agentrl.memory.config import RetrieverConfig

logger = logging.getLogger(__name__)

KINDS = ("cosine", "learned")
LOSSES = ("bce", "soft_q")


def soft_policy(q: np.ndarray, alpha: float) -> np.ndarray:
    """``softmax(q / alpha)``: the case-selection distribution of Q-values ``q``."""
    z = np.asarray(q, dtype=np.float64) / alpha
    z = np.exp(z - z.max())
    return z / z.sum()


def soft_value(q: np.ndarray, alpha: float) -> float:
    """``alpha * logsumexp(q / alpha)``: the value of the soft policy (the TD target's bootstrap)."""
    z = np.asarray(q, dtype=np.float64) / alpha
    return float(alpha * (z.max() + np.log(np.exp(z - z.max()).sum())))


def regularised_objective(mu: np.ndarray, q: np.ndarray, alpha: float) -> float:
    """``sum_c mu(c) (q(c) - alpha log mu(c))``, which :func:`soft_policy` maximises (to :func:`soft_value`)."""
    mu = np.asarray(mu, dtype=np.float64)
    safe = np.where(mu > 0, mu, 1.0)
    return float(np.sum(mu * (np.asarray(q, dtype=np.float64) - alpha * np.log(safe))))


@dataclass
class Triple:
    """One learning example: the task embedding, a retrieved case's embedding and outcome flag, and the target."""

    task: np.ndarray
    case: np.ndarray
    case_won: bool
    reward: float
    """The outcome: 1.0 success, 0.0 failure (BCE's label; soft-Q's r)."""
    next_task: np.ndarray | None = None
    """The next retrieval's task embedding in the same episode (soft-Q only; None: terminal)."""
    next_cases: np.ndarray | None = None
    """The next retrieval's candidate embeddings ``[n, dim]``."""
    next_won: np.ndarray | None = None
    """Their outcome flags."""


class LearnedRetriever:
    """Q(s, c): an MLP over task/case embedding features, trained online (see the module docs).

    Args:
        dim: Embedding width.
        config: Loss, temperature, optimiser and buffer settings.
    """

    def __init__(self, dim: int, config: RetrieverConfig):
        import torch
        from torch import nn

        if config.loss not in LOSSES:
            raise ValueError(f"memory.retriever.loss={config.loss!r}: one of {', '.join(LOSSES)}")
        if config.alpha <= 0:
            raise ValueError("memory.retriever.alpha must be > 0")
        self.dim, self.config = dim, config
        with torch.random.fork_rng():
            torch.manual_seed(config.seed)
            self.net = nn.Sequential(
                nn.Linear(3 * dim + 2, config.hidden),
                nn.ReLU(),
                nn.Linear(config.hidden, config.hidden),
                nn.ReLU(),
                nn.Linear(config.hidden, 1),
            )
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.buffer: deque[Triple] = deque(maxlen=config.buffer_size)
        self.rng = np.random.default_rng(config.seed)
        self.updates = 0

    def _features(self, task: np.ndarray, cases: np.ndarray, won: np.ndarray) -> Any:
        import torch

        s = torch.as_tensor(np.asarray(task, dtype=np.float32)).expand(len(cases), -1)
        c = torch.as_tensor(cases, dtype=torch.float32)
        cos = (s * c).sum(-1, keepdim=True)
        flag = torch.as_tensor(np.asarray(won, dtype=np.float32)).reshape(-1, 1)
        return torch.cat([s, c, s * c, cos, flag], dim=-1)

    def q_values(self, task: np.ndarray, cases: np.ndarray, won: np.ndarray) -> np.ndarray:
        """Q(s, c) of each row of ``cases`` (``[n, dim]``) for the task embedding ``task``."""
        import torch

        if not len(cases):
            return np.zeros(0)
        with torch.no_grad():
            return self.net(self._features(task, cases, won)).squeeze(-1).double().numpy()

    def select(self, task: np.ndarray, cases: np.ndarray, won: np.ndarray, k: int, *, sample: bool) -> np.ndarray:
        """Indices of the ``k`` cases to show: the top-K by Q, or K draws without replacement from
        softmax(Q/alpha)."""
        q = self.q_values(task, cases, won)
        k = min(k, len(q))
        if not sample or k == 0:
            return top_k(q, k)
        return self.rng.choice(len(q), size=k, replace=False, p=soft_policy(q, self.config.alpha))

    def record(self, triples: list[Triple]) -> dict[str, float]:
        """Add an episode's triples and take ``updates_per_episode`` gradient steps; the mean loss."""
        self.buffer.extend(triples)
        losses = [self.step() for _ in range(self.config.updates_per_episode)]
        return {"memory/q_loss": float(np.mean(losses))} if losses else {}

    def step(self) -> float:
        """One gradient step on a minibatch of the buffer."""
        import torch
        import torch.nn.functional as F

        size = min(self.config.batch_size, len(self.buffer))
        batch = [self.buffer[int(i)] for i in self.rng.choice(len(self.buffer), size=size, replace=False)]
        features = torch.cat([self._features(t.task, t.case[None, :], np.array([t.case_won])) for t in batch])
        q = self.net(features).squeeze(-1)
        rewards = torch.tensor([t.reward for t in batch], dtype=torch.float32)
        if self.config.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(q, rewards)
        else:
            bootstrap = [
                soft_value(self.q_values(t.next_task, t.next_cases, t.next_won), self.config.alpha)
                if t.next_task is not None and t.next_cases is not None and t.next_won is not None and len(t.next_cases)
                else 0.0
                for t in batch
            ]
            target = rewards + self.config.gamma * torch.tensor(bootstrap, dtype=torch.float32)
            loss = F.mse_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        return float(loss.item())

    def state_dict(self) -> dict[str, Any]:
        """Network, optimiser, step count and sampling generator (not the buffer: it refills from new episodes)."""
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
            "rng": self.rng.bit_generator.state,
            "dim": self.dim,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["dim"]) != self.dim:
            raise ValueError(f"a retriever checkpoint of width {state['dim']} does not fit embeddings of {self.dim}")
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self.rng.bit_generator.state = state["rng"]

    def save(self, path: str | Path) -> None:
        """Write :meth:`state_dict` atomically (a killed write leaves the previous checkpoint)."""
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), tmp)
        tmp.replace(path)

    def load(self, path: str | Path) -> None:
        """Read a checkpoint written by :meth:`save`; a file that is not one raises ValueError naming it."""
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            self.load_state_dict(state)
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as err:
            raise ValueError(
                f"{path}: not a retriever checkpoint of this memory ({err}); move it away to start anew"
            ) from err
