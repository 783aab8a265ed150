"""Checkpoints a killed run can resume from.

A checkpoint is one ``torch.save`` file holding the policy's trainable weights, the
algorithm's state (optimisers, critics, replay buffer), every RNG state and the loop's
counters. It is written to a temporary name and renamed, so a kill mid-write leaves
the previous checkpoint intact; only the newest ``keep`` are kept.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

_NAME = re.compile(r"^ckpt-(\d{6})\.pt$")


def rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's global generators."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(directory: str | Path) -> list[Path]:
    """The checkpoints in ``directory``, oldest first."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def save_checkpoint(directory: str | Path, iteration: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint after ``iteration`` iterations; prune old ones."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ckpt-{iteration:06d}.pt"
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(path)
    for old in checkpoints(folder)[: -max(keep, 1)]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (our own file: full unpickling)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from err
