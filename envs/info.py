"""The ``info`` keys every agentrl env reports, and their types.

Envs may add keys freely; these names are fixed so that agents, rollouts and the
trainer can read any env the same way.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

import numpy as np

TASK = "task"
ADMISSIBLE_ACTIONS = "admissible_actions"
WON = "won"
SCORE = "score"
INVALID_ACTION = "invalid_action"
EXPERT_ACTION = "expert_action"
IMAGE = "image"
INSTRUCTIONS = "instructions"

REQUIRED_KEYS: tuple[str, ...] = (TASK, ADMISSIBLE_ACTIONS, WON, SCORE, INVALID_ACTION, EXPERT_ACTION)


class StepInfo(TypedDict, total=False):
    """What ``reset`` and ``step`` put in ``info`` (``image`` only for visual envs, ``instructions`` only at reset)."""

    task: str
    """The instruction the agent is pursuing."""
    admissible_actions: list[str] | None
    """Actions valid in the current state, or None when the env cannot list them."""
    won: bool
    """Whether the task has been accomplished."""
    score: float
    """The env's own score (for example BabyAI's discounted success, Sokoban's return)."""
    invalid_action: bool
    """Whether the last action could not be parsed or executed."""
    expert_action: str | None
    """What a planner or walkthrough would do now, or None."""
    image: Any
    """PNG bytes or an RGB array, for visual envs."""
    instructions: str
    """What the agent must know to act in this env (rules, action grammar); given by reset."""


def info_type_errors(info: Any) -> list[str]:
    """List what is wrong with ``info`` against the contract (empty when it conforms)."""
    if not isinstance(info, dict):
        return [f"info must be a dict, got {type(info).__name__}"]
    errors = [f"info lacks the key {key!r}" for key in REQUIRED_KEYS if key not in info]
    checks: dict[str, tuple[Any, str]] = {
        TASK: (lambda v: isinstance(v, str), "a str"),
        ADMISSIBLE_ACTIONS: (
            lambda v: v is None or (isinstance(v, list) and all(isinstance(a, str) for a in v)),
            "a list[str] or None",
        ),
        WON: (lambda v: isinstance(v, bool | np.bool_), "a bool"),
        SCORE: (
            lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool),
            "a float",
        ),
        INVALID_ACTION: (lambda v: isinstance(v, bool | np.bool_), "a bool"),
        EXPERT_ACTION: (lambda v: v is None or isinstance(v, str), "a str or None"),
        IMAGE: (lambda v: isinstance(v, bytes | np.ndarray), "PNG bytes or an array"),
        INSTRUCTIONS: (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty str"),
    }
    for key, (ok, what) in checks.items():
        if key in info and not ok(info[key]):
            errors.append(f"info[{key!r}] must be {what}, got {type(info[key]).__name__}: {info[key]!r:.80}")
    return errors


def json_safe(value: Any) -> Any:
    """``value`` without what JSON cannot hold: arrays, images and objects are dropped,
    numpy scalars become Python numbers, non-finite floats become None."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = json_safe(item)
            if item is not _DROP:
                out[str(key)] = item
        return out
    if isinstance(value, list | tuple):
        return [item for item in (json_safe(v) for v in value) if item is not _DROP]
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return _DROP


_DROP = object()
