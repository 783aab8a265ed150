"""Checkpoints a killed run can resume from.

A checkpoint is one ``torch.save`` file holding the policy's trainable weights, the
algorithm's state (optimisers, critics, replay buffer), every RNG state and the loop's
counters. It is written to a temporary name and renamed, so a kill mid-write leaves
the previous checkpoint intact; only the newest ``keep`` are kept. A sharded run
(``train.strategy=fsdp``) keeps its weights and optimiser moments beside it in a
``torch.distributed.checkpoint`` folder, ``ckpt-N.dcp`` (see :mod:`agentrl.trainer.sharded`).
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

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


def sharded_folder(iteration: int) -> str:
    """The name of the DCP folder holding a sharded run's weights after ``iteration`` iterations."""
    return f"ckpt-{iteration:06d}.dcp"


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint file and its sharded folder, if any."""
    path.unlink(missing_ok=True)
    shutil.rmtree(path.with_suffix(".dcp"), ignore_errors=True)


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
        remove_checkpoint(old)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (our own file: full unpickling)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from err


def checkpoint_of(source: str | Path, setting: str = "train.init_from") -> Path:
    """The checkpoint ``source`` names: a run folder's newest, or the file itself (``setting`` names the setting in
    the error when there is none)."""
    path = Path(source)
    if path.is_dir():
        found = checkpoints(path)
        if not found:
            raise ValueError(f"{setting}={source}: the folder holds no checkpoint (ckpt-*.pt)")
        return found[-1]
    if not path.is_file():
        raise ValueError(f"{setting}={source}: no such run folder or checkpoint file")
    return path


def run_settings(source: str | Path) -> dict[str, Any] | None:
    """The settings (``config.json``) of the training run ``source`` belongs to (a run folder, or a checkpoint file
    in one); None for a checkpoint with no run folder around it."""
    import json

    path = Path(source)
    config_file = (path if path.is_dir() else path.parent) / "config.json"
    if not config_file.is_file():
        return None
    try:
        settings: dict[str, Any] = json.loads(config_file.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the run's settings {config_file}: {err}") from err
    return settings


def load_init_weights(
    model: torch.nn.Module, source: str | Path, setting: str = "train.init_from", _seen: frozenset[Path] = frozenset()
) -> Path:
    """Load another run's policy weights into ``model`` (``train.init_from``); returns the checkpoint used.

    ``source`` is a run folder (its newest checkpoint) or a checkpoint file. A checkpoint holds the weights its run
    trained; a run that itself started from another run's weights (its own ``train.init_from``) has those loaded
    first, down the chain, so that a run training the top blocks of a fully fine-tuned model is loaded with the
    lower blocks it was trained on (:func:`init_source` finds them). A run trained
    with LoRA has its adapters merged into the base weights (its ``config.json`` says how
    they were built), so the new run starts from the fine-tuned model whether or not it
    uses LoRA itself. The source must have been trained from the same model. Errors name
    ``setting`` (``train.init_from``, ``prove.init_from``, ``init_from`` of ``agentrl eval``).
    """
    import copy

    from agentrl.agents.models import load_weights
    from agentrl.trainer.policy import Policy, PolicyConfig

    path = checkpoint_of(source, setting)
    state = load_checkpoint(path)
    if "policy" not in state:
        raise ValueError(f"{setting}={source}: {path} is not an agentrl training checkpoint")
    weights: dict[str, torch.Tensor] = state["policy"]
    if weights is None and state.get("sharded"):  # train.strategy=fsdp: the weights are in the DCP folder beside it
        from agentrl.trainer.sharded import gathered_weights

        weights = gathered_weights(path.parent / state["sharded"])
    settings = run_settings(path) or {}
    below = init_source(path, state, settings, setting)
    if below is not None:
        seen = _seen | {path.resolve()}
        if below.resolve() in seen:
            raise ValueError(f"{setting}={source}: the runs' train.init_from settings form a loop at {below}")
        load_init_weights(model, below, setting, seen)
    lora = any("lora_" in name for name in weights)
    if lora:
        if "policy" not in settings:
            raise ValueError(
                f"{setting}={source}: LoRA weights without {path.parent / 'config.json'} to say how they were built"
            )
        fields = {k: v for k, v in settings["policy"].items() if k in PolicyConfig.__dataclass_fields__}
        donor = Policy(copy.deepcopy(model), PolicyConfig(**fields))
        donor.load_trainable_state({k: v for k, v in weights.items() if not k.startswith("value_head.")})
        merged = donor.merged_state_dict()
        del donor
    else:
        merged = {k.removeprefix("model."): v for k, v in weights.items() if k.startswith("model.")}
    try:
        load_weights(model, merged)
    except ValueError as err:
        trained = settings.get("model", {}).get("name")
        other = f" (model.name={trained})" if trained else ""
        raise ValueError(f"{setting}={source}: {err}: it was trained from another model{other}") from err
    return path


def init_source(path: Path, state: dict[str, Any], settings: dict[str, Any], setting: str) -> Path | None:
    """The checkpoint the run of checkpoint ``path`` started from (its ``train.init_from``), or None.

    The checkpoint records it as the run found it (``state["init_from"]``); where that file has moved, the run's
    ``train.init_from`` is looked for as typed, from the folder the run was started in (the run folder less its
    ``train.output_dir``) and from the current one.

    Raises:
        ValueError: when the run started from other weights that are nowhere to be found: its checkpoints hold only
            the weights it trained, so loading them alone would give another model.
    """
    recorded = state.get("init_from")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    train = settings.get("train") or {}
    given = str(train.get("init_from") or "")
    if not given:
        return None
    candidates = [Path(given)]
    output_dir = Path(str(train.get("output_dir") or ""))
    run = path.parent.resolve()
    if output_dir.parts and not output_dir.is_absolute() and run.parts[-len(output_dir.parts) :] == output_dir.parts:
        candidates.insert(0, Path(*run.parts[: -len(output_dir.parts)]) / given)
    for candidate in candidates:
        if (candidate.is_dir() and checkpoints(candidate)) or candidate.is_file():
            found = checkpoint_of(candidate, setting)
            if recorded:
                logger.warning(
                    "%s started from %s, which is gone; loading %s under it instead (the same weights unless that "
                    "run trained on after)",
                    path,
                    recorded,
                    found,
                )
            return found
    raise ValueError(
        f"{setting}={path}: its run started from the weights of {given} (train.init_from), and its checkpoints hold "
        f"only the weights it trained; {given} is not found (looked for {', '.join(str(c) for c in candidates)}): "
        "put that run back, or run from the folder the run was started in"
    )
