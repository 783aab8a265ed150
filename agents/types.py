"""The data that flows from rollouts to training: turns and trajectories.

A :class:`Trajectory` is one episode of one env played by one policy. Each
:class:`Turn` keeps the exact token ids the model saw (``prompt_ids``) and produced
(``response_ids``, with their log-probs): a trainer never re-tokenizes text to recover
them. Trajectories round-trip through JSONL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrl.envs.info import json_safe


@dataclass
class Turn:
    """One model call and the env step it led to."""

    prompt_ids: list[int]
    """Every token the model was conditioned on for this turn."""
    response_ids: list[int]
    """The tokens it generated (the end-of-turn token included when it produced one)."""
    response_logprobs: list[float]
    """Log-probability of each response token under the sampling distribution."""
    action_text: str
    """The action parsed from the response and sent to the env."""
    observation_text: str
    """What the env answered."""
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)
    """The env's info after the step (JSON-safe values only survive export)."""
    response_text: str = ""
    """The decoded response, for reading logs."""


@dataclass
class Trajectory:
    """An episode: the turns plus where it came from."""

    env_id: str
    seed: int
    task_id: str
    group_id: int
    """Index of the group of same-seed copies this episode belongs to."""
    initial_observation: str = ""
    task: str = ""
    turns: list[Turn] = field(default_factory=list)

    @property
    def total_reward(self) -> float:
        return float(sum(turn.reward for turn in self.turns))

    @property
    def won(self) -> bool:
        return bool(self.turns and self.turns[-1].info.get("won", False))

    @property
    def score(self) -> float:
        return float(self.turns[-1].info.get("score", self.total_reward)) if self.turns else 0.0

    @property
    def done(self) -> bool:
        return bool(self.turns and (self.turns[-1].terminated or self.turns[-1].truncated))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for turn in data["turns"]:
            turn["info"] = json_safe(turn["info"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trajectory:
        turns = [Turn(**turn) for turn in data.get("turns", [])]
        return cls(**{**data, "turns": turns})


def save_jsonl(trajectories: Iterable[Trajectory], path: str | Path) -> Path:
    """Write one trajectory per line; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for trajectory in trajectories:
            handle.write(json.dumps(trajectory.to_dict(), ensure_ascii=False) + "\n")
    return path


def load_jsonl(path: str | Path) -> Iterator[Trajectory]:
    """Read trajectories written by :func:`save_jsonl`; a bad line names its number."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield Trajectory.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError) as err:
                raise ValueError(f"{path}:{number}: not a trajectory: {err}") from err
