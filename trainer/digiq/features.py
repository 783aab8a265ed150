"""Digi-Q's frozen features: an intermediate layer of a frozen LM, computed once and cached on disk.

The feature of a token sequence is the hidden state of its last token after the model's first ``layer``
transformer blocks (:func:`agentrl.trainer.policy.block_output`, the forward path the frozen-block cache uses
too). A state's feature reads its prompt; a state-action feature reads prompt + reply + the Stage I question
(``"Does this action change the state?"``), so its last token is the answer position the paper reads.

:class:`FeatureStore` keeps features by content in a folder named by what they depend on: the feature model's
weights (fingerprint), the layer and the longest input (``digest`` of those); prompt settings are part of the
token ids themselves. Features are written in shards as they are computed, so a killed run keeps them and a second
run with the same model and layer computes nothing (``computed`` counts what this process computed).

Stage I (:func:`representation_finetune`, optional): before freezing, the model is fine-tuned to answer the
question with " yes" or " no" for the dataset's own actions (yes: the env accepted the action and the observation
changed), so its hidden states carry what an action does. The tuned weights are kept in the cache by what they
depend on, and their fingerprint then names the features.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agentrl.agents.models import fingerprint
from agentrl.agents.types import Turn
from agentrl.trainer.batch import micro_batches
from agentrl.trainer.pg import make_optimizer
from agentrl.trainer.policy import Policy, block_output, decoder_layers
from agentrl.trainer.sft import SupervisedConfig, supervised_step

log = logging.getLogger(__name__)


def sequence_key(ids: Sequence[int]) -> str:
    """The cache key of one input sequence."""
    return hashlib.sha1(array("q", ids).tobytes()).hexdigest()


class FeatureStore:
    """Features by input sequence in ``folder/features-NNNNN.pt`` (see the module docstring).

    Args:
        folder: The store's folder.
        compute: ``[n, H]`` features of a list of sequences.
        shard_rows: Features per shard file (written as each fills, and at :meth:`flush`).
    """

    def __init__(self, folder: Path, compute: Callable[[list[list[int]]], torch.Tensor], shard_rows: int = 2048):
        self.folder, self.compute, self.shard_rows = folder, compute, shard_rows
        folder.mkdir(parents=True, exist_ok=True)
        self.table: dict[str, torch.Tensor] = {}
        self.shards = sorted(folder.glob("features-*.pt"))
        for path in self.shards:
            self.table.update(torch.load(path, weights_only=True))
        self.computed = 0
        """Sequences whose features this process computed (0: everything came from disk)."""
        self._pending: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.table)

    def get(self, sequences: Sequence[Sequence[int]], chunk: int = 256) -> torch.Tensor:
        """``[n, H]`` features of ``sequences`` (float32), computing only those not stored yet."""
        keys = [sequence_key(s) for s in sequences]
        missing: dict[str, list[int]] = {}
        for key, sequence in zip(keys, sequences, strict=True):
            if key not in self.table and key not in missing:
                missing[key] = list(sequence)
        items = list(missing.items())
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            values = self.compute([seq for _, seq in part]).to(torch.float16).cpu()
            for (key, _), value in zip(part, values, strict=True):
                self.table[key] = self._pending[key] = value.clone()
            self.computed += len(part)
            if len(self._pending) >= self.shard_rows:
                self.flush()
        self.flush()
        return torch.stack([self.table[k] for k in keys]).float() if keys else torch.zeros(0)

    def flush(self) -> None:
        """Write the features computed since the last flush as a new shard (atomically)."""
        if not self._pending:
            return
        path = self.folder / f"features-{len(self.shards):05d}.pt"
        partial = path.with_suffix(".pt.partial")
        torch.save(self._pending, partial)
        os.replace(partial, path)
        self.shards.append(path)
        self._pending = {}


def resolve_layer(model: Any, layer: int) -> int:
    """Blocks run for the features: ``layer`` (1..number of blocks), or half of them, rounded up, for 0."""
    blocks = len(decoder_layers(model))
    chosen = layer or (blocks + 1) // 2
    if not 1 <= chosen <= blocks:
        raise ValueError(f"algo.feature_layer must be in 0..{blocks} (this model has {blocks} blocks), got {layer}")
    return chosen


def extractor(
    model: Any, layer: int, pad_id: int, max_tokens: int, micro_batch_size: int, micro_batch_tokens: int
) -> Callable[[list[list[int]]], torch.Tensor]:
    """``[n, H]``: the hidden state of each sequence's last token after ``layer`` blocks of the frozen ``model``
    (sequences keep their last ``max_tokens`` tokens; passes of at most ``micro_batch_size`` rows and
    ``micro_batch_tokens`` tokens, right-padded, so a row's feature does not depend on its pass)."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def compute(sequences: list[list[int]]) -> torch.Tensor:
        rows = [s[-max_tokens:] for s in sequences]
        out: list[torch.Tensor | None] = [None] * len(rows)
        for part in micro_batches([len(r) for r in rows], micro_batch_size, micro_batch_tokens):
            width = max(len(rows[i]) for i in part)
            ids = torch.full((len(part), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(part), width), dtype=torch.long)
            for k, i in enumerate(part):
                ids[k, : len(rows[i])] = torch.tensor(rows[i], dtype=torch.long)
                mask[k, : len(rows[i])] = 1
            hidden = block_output(model, ids.to(device), mask.to(device), layer)
            last = mask.sum(1).to(hidden.device) - 1
            picked = hidden[torch.arange(len(part), device=hidden.device), last].float().cpu()
            for k, i in enumerate(part):
                out[i] = picked[k]
        return torch.stack([o for o in out if o is not None])

    return compute


@dataclass
class RepresentationConfig:
    """Stage I: fine-tune the feature model on "does this action change the state?" before freezing it."""

    steps: int = 0
    """Optimiser steps (0: no Stage I; the features come from the model as it is)."""
    lr: float = 1e-5
    """Learning rate (AdamW)."""
    batch_size: int = 16
    """Examples per step."""
    micro_batch_size: int = 4
    """Most examples per forward pass."""
    micro_batch_tokens: int = 4096
    """Most tokens (rows x longest row) per forward pass."""


def representation_finetune(
    model: Any,
    examples: Sequence[tuple[list[int], bool]],
    answer_ids: tuple[list[int], list[int]],
    cfg: RepresentationConfig,
    pad_id: int,
    seed: int,
    folder: Path,
) -> Any:
    """Stage I: a copy of ``model`` fine-tuned to answer yes/no (see the module docstring), or the weights kept in
    ``folder`` by an earlier run with the same inputs.

    Args:
        model: The feature model (not changed).
        examples: ``(prompt + reply + question ids, changed)`` per dataset action.
        answer_ids: The token ids of " yes" and of " no".
        cfg: Steps, learning rate, batching.
        pad_id: The tokenizer's padding id.
        seed: Order of the examples.
        folder: Where the tuned weights are kept (named by what they depend on).
    """
    tuned = copy.deepcopy(model)
    path = folder / "model.pt"
    if path.is_file():
        tuned.load_state_dict(torch.load(path, weights_only=True))
        log.info("Stage I: reusing the tuned feature model in %s", folder)
        return tuned.eval().requires_grad_(False)
    tuned.requires_grad_(True)
    policy = Policy(tuned)
    update = SupervisedConfig(
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        micro_batch_size=cfg.micro_batch_size,
        micro_batch_tokens=cfg.micro_batch_tokens,
        lower_cache_mb=0,
    )
    optimizer = make_optimizer((p for _, p in policy.trainable_named_parameters()), cfg.lr, 0.0)
    turns = [
        Turn(list(ids), list(answer_ids[0] if changed else answer_ids[1]), [], "", "", 0.0, False, False)
        for ids, changed in examples
    ]
    generator = torch.Generator().manual_seed(seed)
    policy.train()
    for step in range(cfg.steps):
        rows = torch.randint(len(turns), (min(cfg.batch_size, len(turns)),), generator=generator).tolist()
        stats = supervised_step(policy, optimizer, [turns[i] for i in rows], update, pad_id, cfg.lr)
        if (step + 1) % 10 == 0 or step + 1 == cfg.steps:
            log.info("Stage I step %d/%d: loss %.3f", step + 1, cfg.steps, stats.get("sft_loss", float("nan")))
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".pt.partial")
    torch.save(tuned.state_dict(), partial)
    os.replace(partial, path)
    return tuned.eval().requires_grad_(False)


def feature_model_key(model: Any) -> str:
    """What names a feature model in cache folders: its weights' fingerprint."""
    return str(fingerprint(model))
