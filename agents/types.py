"""The data that flows from rollouts to training: turns and trajectories.

A :class:`Trajectory` is one episode of one env played by one policy. Each
:class:`Turn` keeps the exact token ids the model saw (``prompt_ids``) and produced
(``response_ids``, with their log-probs): a trainer never re-tokenizes text to recover
them. Trajectories round-trip through JSONL.

Screenshots (``info["image"]``: PNG bytes or an RGB array) do not fit in JSON: written with
an ``image_dir``, each becomes a PNG file ``images/<digest>.png`` in that folder (named by
its content, so a page seen twice is stored once) and the turn's info gets its path relative
to the folder as ``info["image_file"]``; ``agentrl view`` shows them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrl.envs.info import IMAGE, json_safe

logger = logging.getLogger(__name__)

IMAGE_FILE = "image_file"
"""The info key of a screenshot written to a file: its path relative to the trajectory file's folder."""


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
    advantages: list[float] | None = None
    """The advantage of each response token in the update that trained on this turn, recorded by algorithms that
    compute one per token or turn (the GRPO family); None otherwise."""
    expert_action: str | None = None
    """The env's expert action in the state this turn acted in (``info["expert_action"]`` of the reset or of the
    step before, which :attr:`info` does not hold: it is the info after the step). None where the env names none.
    DAgger (``algo=dagger``) trains on it."""
    repaired_from: str | None = None
    """The model's own reply where ``agent.repair_invalid`` replaced it with the listed action the model scored
    highest (then :attr:`response_ids` are that action's reply); None where the reply was played as written."""


def expert_action_of(info: dict[str, Any]) -> str | None:
    """The env's expert action named in ``info`` (``info["expert_action"]``), None where it names none."""
    action = info.get("expert_action")
    return action if isinstance(action, str) else None


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

    def to_dict(self, image_dir: str | Path | None = None) -> dict[str, Any]:
        """The trajectory as JSON-able data.

        Args:
            image_dir: Where screenshots go (see the module docstring); None drops them.
        """
        data = asdict(self)
        for turn, original in zip(data["turns"], self.turns, strict=True):
            turn["info"] = json_safe(turn["info"])
            image = original.info.get(IMAGE)
            if image_dir is not None and image is not None:
                name = write_image(image, Path(image_dir))
                if name is not None:
                    turn["info"][IMAGE_FILE] = name
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trajectory:
        turns = [Turn(**turn) for turn in data.get("turns", [])]
        return cls(**{**data, "turns": turns})


def write_image(image: Any, directory: Path) -> str | None:
    """Write a screenshot (PNG bytes or an RGB array) as ``directory/images/<digest>.png``; its relative path.

    None (with a warning) for an image that cannot be written as a PNG.
    """
    if isinstance(image, bytes | bytearray):
        data = bytes(image)
    else:
        try:
            import numpy as np
            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
            data = buffer.getvalue()
        except (ImportError, TypeError, ValueError) as err:
            logger.warning("an info['image'] of type %s is not stored (%s)", type(image).__name__, err)
            return None
    name = f"images/{hashlib.sha256(data).hexdigest()[:20]}.png"
    target = directory / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".png.partial")
        partial.write_bytes(data)
        partial.replace(target)  # readers never see half an image
    return name


def save_jsonl(trajectories: Iterable[Trajectory], path: str | Path) -> Path:
    """Write one trajectory per line (screenshots as PNG files in ``images/`` beside it); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for trajectory in trajectories:
            handle.write(json.dumps(trajectory.to_dict(path.parent), ensure_ascii=False) + "\n")
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
