"""Resuming a run: which settings a rerun into the same run folder may change, and the record of what it changed.

Running ``agentrl train`` again into a run folder that holds a checkpoint continues that
run (``train.resume=auto``). The run's settings are in its ``config.json``; a rerun may
extend the run (``train.iterations``), change its bookkeeping or where things run
(:data:`RESUME_MAY_CHANGE`), but not what it learns from, how, or how it is measured:
those are refused with the differences listed, so a run folder never mixes two runs
(``results.json`` would compare success on two different tasks). ``train.resume=force``
continues anyway and records the changes in ``config_changes.jsonl`` (and
``results.json``); what the checkpoint's state is built for (:data:`RESUME_NEVER_CHANGES`:
the algorithm, the model, the LoRA shape) cannot change even then.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentrl.trainer.loop import TrainRunConfig

CHANGES_FILE = "config_changes.jsonl"
"""In the run folder: one line per resume that changed settings."""

RESUME_MODES = ("auto", "force", "never")
"""The values of ``train.resume``."""

RESUME_MAY_CHANGE: tuple[str, ...] = (
    "train.iterations",
    "train.resume",
    "train.output_dir",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.eval_every",
    "train.tensorboard",
    "train.trackers",
    "train.wandb",
    "train.mlflow",
    "train.save_trajectories",
    "model.device",
    "env.remote",
    "backend.url",
    "backend.timeout",
    "backend.max_concurrency",
    "backend.api_key_env",
    "backend.gpu_memory_utilization",
    "backend.prefix_cache_mb",
    "rollout.executor",
    "eval.output_dir",
)
"""Settings (and groups of them) a resumed run may change without ``train.resume=force``: its length, its
bookkeeping and where things run; not what it learns from, how, or how it is measured."""

RESUME_NEVER_CHANGES: tuple[str, ...] = (
    "algo.name",
    "model.name",
    "policy.lora",
    "policy.lora_rank",
    "policy.lora_target_modules",
    "policy.train_top_layers",
)
"""Settings the checkpoint's state is built for: not even ``train.resume=force`` changes them."""

_UNSET = "<unset>"


def settings_changes(saved: dict[str, Any], cfg: TrainRunConfig) -> dict[str, tuple[Any, Any]]:
    """Setting -> (saved value, value in ``cfg``) for each setting that differs from ``saved`` (a run's config.json).

    Settings ``saved`` does not hold (fields added by a later agentrl) are not compared; the keys of free-form
    dicts (``env.kwargs``) are, one by one (``<unset>`` where a side lacks the key).
    """
    changes: dict[str, tuple[Any, Any]] = {}
    _diff(saved, cfg, json.loads(json.dumps(asdict(cfg), default=str)), "", changes)
    return changes


def _diff(saved: dict[str, Any], obj: Any, now: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for f in dataclasses.fields(obj):
        if f.name not in saved:
            continue
        name, old, new = prefix + f.name, saved[f.name], now[f.name]
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and isinstance(old, dict):
            _diff(old, value, new, f"{name}.", out)
        elif isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new), key=str):
                if old.get(key, _UNSET) != new.get(key, _UNSET):
                    out[f"{name}.{key}"] = (old.get(key, _UNSET), new.get(key, _UNSET))
        elif old != new:
            out[name] = (old, new)


def check_resume(out: Path, cfg: TrainRunConfig) -> dict[str, tuple[Any, Any]]:
    """The settings that resuming the run in ``out`` with ``cfg`` changes (see :func:`settings_changes`).

    Raises:
        ValueError: when ``cfg`` changes a setting of ``RESUME_NEVER_CHANGES`` (the checkpoint cannot be loaded),
            or, unless ``train.resume=force``, one outside ``RESUME_MAY_CHANGE``; the message lists them.
    """
    path = out / "config.json"
    if not path.is_file():  # a run from before config.json was written: nothing to compare
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path} ({err}): train.resume=never starts that run over") from err
    changes = settings_changes(saved, cfg)
    fixed = {k: v for k, v in changes.items() if k in RESUME_NEVER_CHANGES}
    if "algo.name" in fixed:
        old, new = fixed["algo.name"]
        raise ValueError(
            f"{out} holds a {old} run (its config.json says algo.name={old}), so algo={new} cannot resume it: "
            f"give another train.output_dir, or train.resume=never to replace that run"
        )
    if fixed:
        raise ValueError(
            f"{out} holds a run whose checkpoint cannot be loaded with these settings:\n{_describe(fixed)}\n"
            f"give another train.output_dir (train.init_from={out} starts a new run from its weights), "
            f"or train.resume=never to replace that run"
        )
    blocked = {k: v for k, v in changes.items() if not any(k == p or k.startswith(f"{p}.") for p in RESUME_MAY_CHANGE)}
    if blocked and cfg.train.resume != "force":
        raise ValueError(
            f"{out} holds a run with other settings; resuming it with these would mix two runs in one:\n"
            f"{_describe(blocked)}\nrerun with the run's settings, give another train.output_dir, "
            f"train.resume=force to continue with the new settings (recorded in config_changes.jsonl), "
            f"or train.resume=never to start that run over"
        )
    return changes


def _describe(changes: dict[str, tuple[Any, Any]]) -> str:
    return "\n".join(f"  {name}: {old!r} -> {new!r}" for name, (old, new) in changes.items())


def record_changes(out: Path, iteration: int | None, resume: str, changes: dict[str, tuple[Any, Any]]) -> None:
    """Append a resume's ``changes`` (after ``iteration`` iterations) to the run's record; ``iteration`` None: the
    run starts afresh, and an earlier run's record is dropped."""
    path = out / CHANGES_FILE
    if iteration is None:
        path.unlink(missing_ok=True)
    elif changes:
        record = {"iteration": iteration, "resume": resume, "changes": changes}
        with path.open("a") as fh:
            fh.write(json.dumps(record, default=str) + "\n")


def config_changes(out: Path) -> list[dict[str, Any]]:
    """The settings changed by resumes of the run in ``out`` (config_changes.jsonl), oldest first."""
    path = out / CHANGES_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []
