"""Digi-Q's data: the dataset's states and transitions, and the candidate actions stored per state.

Any env's trajectory dataset (:mod:`agentrl.agents.dataset`, written by ``agentrl collect``) becomes a list of
:class:`Step` s, one per turn: the state is the turn's prompt (the exact token ids the policy saw), the action its
reply, and the next state the next turn's prompt. The episode's last turn ends it (``done``) whether the env
terminated it or the turn limit cut it: a dataset holds no prompt after the last turn to bootstrap from.

Candidates (:class:`CandidateStore`): for every state, the dataset's own action and ``N - 1`` replies sampled from
the behaviour policy, written one trajectory at a time to ``candidates.jsonl`` in a folder named by what they
depend on (the datasets, the behaviour model's fingerprint, N, the sampling settings), so a killed run continues
where it stopped and a second run with the same inputs samples nothing. Each candidate carries whether the env can
parse it in that state: the trajectory is replayed in the env (reset with its seed, its recorded actions stepped)
and every candidate is put to the env's ``parse_action`` there (envs are deterministic per seed: design.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrl.agents.dataset import Dataset
from agentrl.agents.parsing import parse_action
from agentrl.agents.types import Trajectory
from agentrl.envs.base import TextEnv

log = logging.getLogger(__name__)


@dataclass
class Step:
    """One state of the dataset with the action taken there and what followed."""

    trajectory: int
    """Index of its trajectory in the loaded data."""
    turn: int
    """Index of the turn in its trajectory."""
    prompt_ids: list[int]
    """The state: the prompt the policy saw."""
    action_ids: list[int]
    """The dataset's action: the reply's token ids."""
    action_text: str
    """The reply as text."""
    reward: float
    done: bool
    """The episode ended at this step (no bootstrap)."""
    next_step: int | None
    """Index of the next state's :class:`Step` (None when ``done``)."""
    valid: bool
    """Whether the env accepted the dataset action."""
    changed: bool
    """Whether the dataset action changed the state (accepted, and the observation after differs from the one
    before): Stage I's label."""


def build_steps(trajectories: Sequence[Trajectory]) -> list[Step]:
    """Every turn with a prompt and a reply of ``trajectories``, in order, linked to the next one."""
    steps: list[Step] = []
    for number, trajectory in enumerate(trajectories):
        turns = [turn for turn in trajectory.turns if turn.prompt_ids and turn.response_ids]
        before = trajectory.initial_observation
        for t, turn in enumerate(turns):
            last = t == len(turns) - 1
            valid = not turn.info.get("invalid_action", False)
            steps.append(
                Step(
                    trajectory=number,
                    turn=t,
                    prompt_ids=list(turn.prompt_ids),
                    action_ids=list(turn.response_ids),
                    action_text=turn.response_text or turn.action_text,
                    reward=float(turn.reward),
                    done=last or bool(turn.terminated),
                    next_step=None if last or turn.terminated else len(steps) + 1,
                    valid=valid,
                    changed=valid and turn.observation_text != before,
                )
            )
            before = turn.observation_text
    return steps


def digest(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (cache folder names)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def datasets_digest(datasets: Sequence[Dataset]) -> str:
    """What identifies the data: every shard's SHA-256, in order."""
    return digest([[shard["sha256"] for shard in d.manifest.shards] for d in datasets])


@dataclass
class Candidates:
    """A state's candidate actions: index 0 is the dataset's own."""

    ids: list[list[int]]
    texts: list[str]
    valid: list[bool]


class CandidateStore:
    """Candidates per state, appended to ``folder/candidates.jsonl`` one trajectory at a time (see the module
    docstring); a line a kill cut short is dropped on load.

    Args:
        folder: The store's folder (its name says what the candidates depend on).
        settings: Those settings, written to ``folder/settings.json`` for a reader.
    """

    def __init__(self, folder: Path, settings: dict[str, Any]):
        self.folder = folder
        self.path = folder / "candidates.jsonl"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "settings.json").write_text(json.dumps(settings, indent=2, default=str))
        self.items: dict[int, Candidates] = {}
        self.sampled = 0
        """Candidates sampled by this process (0 when every state came from disk)."""
        if self.path.is_file():
            good = 0
            with self.path.open("rb") as handle:
                for line in handle:
                    try:
                        rows = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a kill cut this line: it and anything after are sampled again
                    if not line.endswith(b"\n"):
                        break
                    for row in rows:
                        self.items[int(row["step"])] = Candidates(row["ids"], row["texts"], row["valid"])
                    good += len(line)
            if good < self.path.stat().st_size:
                with self.path.open("r+b") as handle:
                    handle.truncate(good)

    def __contains__(self, step: int) -> bool:
        return step in self.items

    def __getitem__(self, step: int) -> Candidates:
        return self.items[step]

    def add(self, rows: dict[int, Candidates]) -> None:
        """Append one trajectory's states (flushed to disk before returning)."""
        line = [{"step": i, "ids": c.ids, "texts": c.texts, "valid": c.valid} for i, c in sorted(rows.items())]
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.items.update(rows)


def replay_validity(
    env: Any, trajectory: Trajectory, per_turn: Sequence[Sequence[str]], require_tag: bool
) -> list[list[bool]] | None:
    """Which of each turn's candidate replies the env can parse in that turn's state.

    The env is reset with the trajectory's seed and its recorded actions are stepped; before each step, every
    candidate's action (:func:`~agentrl.agents.parsing.parse_action` of the reply) is put to the env's
    ``parse_action``. An env that is not a :class:`~agentrl.envs.base.TextEnv` cannot be asked: None (every
    candidate counts as valid). A replay that leaves the recorded episode (another observation than the recorded
    one) also gives None, with a warning.
    """
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, TextEnv):
        return None
    observation, _ = env.reset(seed=trajectory.seed)
    if observation != trajectory.initial_observation and trajectory.initial_observation:
        log.warning("replaying %s seed %d: the reset differs from the recorded one", trajectory.env_id, trajectory.seed)
        return None
    out: list[list[bool]] = []
    turns = [turn for turn in trajectory.turns if turn.prompt_ids and turn.response_ids]
    for turn, replies in zip(turns, per_turn, strict=True):
        out.append([base.parse_action(parse_action(reply, require_tag=require_tag)) is not None for reply in replies])
        observation, *_ = env.step(turn.action_text)
        if observation != turn.observation_text:
            log.warning(
                "replaying %s seed %d: a step differs from the recorded one", trajectory.env_id, trajectory.seed
            )
            return None
    return out


def sample_candidates(
    store: CandidateStore,
    steps: Sequence[Step],
    trajectories: Sequence[Trajectory],
    sample: Callable[[list[list[int]]], list[Any]],
    count: int,
    *,
    env_factory: Callable[..., Any] | None,
    env_kwargs: dict[str, Any],
    require_tag: bool,
    batch_size: int = 64,
    on_trajectory: Callable[[int, int], None] | None = None,
) -> None:
    """Fill ``store`` with ``count`` candidates for every step it lacks (the dataset action first, then ``count - 1``
    replies of ``sample``), with their validity from :func:`replay_validity`.

    Args:
        store: Where they go.
        steps: The dataset's steps (:func:`build_steps` of ``trajectories``).
        trajectories: The data.
        sample: Fresh replies (``Completion`` s with ``token_ids`` and ``text``) for a list of prompts.
        count: N, candidates per state (the dataset action included).
        env_factory: Builds the env to replay in (None: no replay, every sampled candidate valid).
        env_kwargs: Arguments for ``env_factory`` (the dataset's split).
        require_tag: Whether actions must be in ``<action>`` tags (the data's prompt settings).
        batch_size: Prompts per ``sample`` call.
        on_trajectory: Called with (trajectories done, total) for progress.
    """
    by_trajectory: dict[int, list[int]] = {}
    for index, step in enumerate(steps):
        by_trajectory.setdefault(step.trajectory, []).append(index)
    todo = [t for t, members in by_trajectory.items() if not all(i in store for i in members)]
    if not todo:
        return
    env = env_factory(**env_kwargs) if env_factory is not None else None
    try:
        for done, number in enumerate(todo):
            members = by_trajectory[number]
            prompts = [steps[i].prompt_ids for i in members for _ in range(count - 1)]
            replies: list[Any] = []
            for start in range(0, len(prompts), batch_size):
                replies += sample(prompts[start : start + batch_size])
            store.sampled += len(replies)
            rows: dict[int, Candidates] = {}
            for k, i in enumerate(members):
                mine = replies[k * (count - 1) : (k + 1) * (count - 1)]
                ids = [steps[i].action_ids] + [list(r.token_ids) for r in mine]
                texts = [steps[i].action_text] + [r.text for r in mine]
                rows[i] = Candidates(ids, texts, [steps[i].valid] + [True] * len(mine))
            if env is not None:
                validity = replay_validity(env, trajectories[number], [rows[i].texts for i in members], require_tag)
                if validity is not None:
                    for i, flags in zip(members, validity, strict=True):
                        rows[i].valid = [steps[i].valid, *flags[1:]]
            store.add(rows)
            if on_trajectory is not None:
                on_trajectory(done + 1, len(todo))
    finally:
        if env is not None:
            env.close()
