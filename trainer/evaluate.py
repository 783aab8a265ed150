"""The fixed-seed evaluation protocol: same seeds, same split, numbers with error bars.

:func:`evaluate` is THE evaluation: ``agentrl eval`` and the evaluations inside
``agentrl train`` both call it and both get an :class:`EvalResult`. It plays
``episodes`` episodes on the seeds ``seed, seed+1, ...`` (one copy each) of the env on
its evaluation split — by default the env config's ``held_out_split`` (ALFWorld's
``eval_unseen``, ScienceWorld's ``test`` variations, WebShop's ``test`` goals), else the
env as configured on seeds kept apart from training's — and reports the success rate
with a Wilson 95% interval and the mean score and return with normal 95% intervals.
The result records what produced the numbers: env id, split and the evaluation env's
arguments, and the seeds; the CLI adds model, sampling, version and git revision.

:class:`EvalRecord` keeps an evaluation on disk as it goes — each finished episode
appended to a JSONL file, the results so far rewritten after each — so that a killed
evaluation loses nothing and a rerun with the same settings plays only the episodes
still missing (``evaluate(..., finished=...)``), ending with the files an
uninterrupted run writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrl.agents.base import Agent
from agentrl.agents.types import Trajectory, save_jsonl
from agentrl.envs.actions import normalize
from agentrl.envs.config import EnvConfig
from agentrl.trainer import distributed
from agentrl.trainer.rollout import RolloutConfig, collect

Z95 = 1.959963984540054


TEST_SEED = 10_000
"""The first of the default evaluation (test) seeds; training seeds stay below it."""


@dataclass
class EvalConfig:
    """The evaluation protocol."""

    episodes: int = 20
    """Episodes to play, one per seed."""
    seed: int = TEST_SEED
    """First seed; eval seeds are ``seed .. seed + episodes - 1`` (kept apart from training seeds). The default
    seeds are the test seeds; choose settings on validation seeds above them (``eval.seed=20000``)."""
    train_below: int = 0
    """Training and demonstration task seeds are drawn below this. 0: below ``eval.seed`` and below 10,000 (the
    default test seeds), so that a run evaluated on validation seeds above the test seeds never trains on the test
    seeds; set it to the first test seed when your test seeds are other than the default."""
    output_dir: str = "runs/eval"
    """Where the results JSON and the trajectories JSONL go (``agentrl eval``; written as episodes finish, and a
    rerun with the same settings continues an evaluation found there)."""
    split: str = "auto"
    """The split to evaluate on: ``auto`` (the env config's ``held_out_split`` where it names one, else the env as
    configured), a split name (passed as the env's ``split`` argument), or ``configured`` (the env as configured)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Arguments of the evaluation env that override the env config's (e.g. ``{n_games: 40}``)."""


def eval_env_overrides(env: EnvConfig, cfg: EvalConfig) -> tuple[str | None, dict[str, Any]]:
    """The split evaluated on and the evaluation env's argument overrides.

    Returns ``(split, overrides)``: ``split`` is None when the env is evaluated as
    configured; ``overrides`` go to the env factory on top of the env config's kwargs.
    """
    if cfg.split == "configured":
        split = None
    elif cfg.split == "auto":
        split = env.held_out_split
    else:
        split = cfg.split
    overrides = dict(cfg.env_kwargs)
    if split is not None:
        overrides["split"] = split
    elif "split" in env.kwargs or "split" in overrides:
        split = str(overrides.get("split", env.kwargs.get("split")))
    return split, overrides


@dataclass
class EvalResult:
    """One evaluation: what was played, on what, and the figures."""

    env_id: str
    split: str | None
    """The env's split (None: it has none)."""
    env_kwargs: dict[str, Any]
    """The evaluation env's arguments (the env config's with the overrides applied)."""
    seeds: list[int]
    trajectories: list[Trajectory]
    seconds: float
    summary: dict[str, Any] = field(init=False)
    """:func:`summarize` of the trajectories."""

    def __post_init__(self) -> None:
        self.summary = summarize(self.trajectories)

    @property
    def success(self) -> float:
        return float(self.summary["success"]["mean"])

    def record(self) -> dict[str, Any]:
        """The flat figures a metrics log or a progress line wants."""
        s = self.summary
        return {
            "success": s["success"]["mean"],
            "success_ci95": s["success"]["ci95"],
            "score": s["score"]["mean"],
            "return": s["return"]["mean"],
            "invalid_action_rate": s["invalid_action_rate"],
            "repaired_rate": s["repaired_rate"],
            "expert_agreement": s["expert_agreement"],
            "mean_turns": s["mean_turns"],
            "split": self.split,
            "episodes": s["episodes"],
        }

    def to_json(self) -> dict[str, Any]:
        """Everything but the trajectories: figures, split, env arguments, seeds, per-episode outcomes."""
        return {
            "env": {"id": self.env_id, "split": self.split, "kwargs": self.env_kwargs},
            "seeds": self.seeds,
            "seconds": round(self.seconds, 2),
            **self.summary,
            "per_episode": [
                {"seed": t.seed, "won": t.won, "score": t.score, "return": t.total_reward, "turns": len(t.turns)}
                for t in self.trajectories
            ],
        }


def evaluate(
    agent: Agent,
    env_factory: Callable[..., Any],
    env: EnvConfig,
    cfg: EvalConfig,
    rollout: RolloutConfig,
    *,
    env_id: str = "",
    on_episode: Callable[[Trajectory], None] | None = None,
    finished: Sequence[Trajectory] = (),
) -> EvalResult:
    """Play the evaluation episodes and summarise them.

    Args:
        agent: Who plays (a model's greedy agent, the expert, a random agent, a memory agent).
        env_factory: Builds one env as ``env`` describes; called with the evaluation
            overrides as keyword arguments (the split, ``cfg.env_kwargs``).
        env: The env's config (its ``held_out_split`` and kwargs).
        cfg: Episodes, first seed, split.
        rollout: Batching and the turn limit (one copy per seed is played whatever its group size).
        env_id: Recorded in the trajectories.
        on_episode: Called with each finished episode (progress).
        finished: Episodes of this evaluation played before (a stopped run's): their seeds are not
            played again, and they count in the result as if they had been.

    Under ``torchrun`` each rank plays its share of the seeds and every rank gets all the
    trajectories back.
    """
    seeds = eval_seeds(cfg)
    split, overrides = eval_env_overrides(env, cfg)
    done = {t.seed: t for t in finished if t.seed in seeds}
    position = {seed: index for index, seed in enumerate(seeds)}

    def ended(trajectory: Trajectory) -> None:
        trajectory.group_id = position[trajectory.seed]  # the seed's place in the protocol, however it was played
        if on_episode is not None:
            on_episode(trajectory)

    start = time.perf_counter()
    trajectories = distributed.gather(
        collect(
            lambda: env_factory(**overrides),
            agent,
            distributed.shard([seed for seed in seeds if seed not in done]),
            dataclasses.replace(rollout, group_size=1),
            env_id=env_id,
            on_episode=ended,
        )
    )
    trajectories = sorted([*done.values(), *trajectories], key=lambda t: t.seed)
    kwargs = {**dict(env.kwargs), **overrides}
    return EvalResult(env_id, split, kwargs, seeds, trajectories, time.perf_counter() - start)


class EvalRecord:
    """An evaluation's files in ``directory``, written as it goes; a rerun with the same settings continues them.

    ``NAME.trajectories.jsonl`` gets each finished episode appended (flushed, so a kill loses at
    most the episodes under way) and ``NAME.json`` the results so far, replaced atomically after
    each episode (``"complete": false`` until the end). ``NAME`` is ``prefix`` and a digest of
    ``settings`` — everything the episodes depend on — so the same command finds its files again
    and an evaluation with other settings gets files of its own. :meth:`finish` writes the
    trajectories in seed order, so a continued evaluation ends with the files an uninterrupted
    one writes.

    Args:
        directory: Where the files go.
        prefix: The readable part of the file names (env and agent).
        settings: What the episodes depend on (JSON-able): env, split, seeds, agent, model, turn limit.
    """

    def __init__(self, directory: str | Path, prefix: str, settings: dict[str, Any]):
        self.settings = json.loads(json.dumps(settings, sort_keys=True, default=str))
        digest = hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:8]
        self.directory = Path(directory)
        self.name = f"{prefix}-{digest}"
        self.results_path = self.directory / f"{self.name}.json"
        self.trajectories_path = self.directory / f"{self.name}.trajectories.jsonl"

    def resume(self) -> tuple[list[Trajectory], dict[str, Any] | None]:
        """The episodes and the last results a stopped (or finished) evaluation left here; ``([], None)`` if none.

        A line cut short by a kill is dropped. Raises ValueError when the files hold an evaluation with
        other settings or a line that is not a trajectory.
        """
        if not self.results_path.is_file():
            return [], None  # written before the first episode: trajectories without it are no run of ours
        try:
            previous = json.loads(self.results_path.read_text())
        except ValueError as err:
            raise ValueError(f"{self.results_path} is not a results file ({err}): delete it to evaluate again") from err
        if previous.get("settings") != self.settings:
            raise ValueError(
                f"{self.results_path} holds an evaluation with other settings: delete it (and "
                f"{self.trajectories_path.name}) or give another eval.output_dir"
            )
        lines = (
            self.trajectories_path.read_text(encoding="utf-8").splitlines() if self.trajectories_path.exists() else []
        )
        trajectories: dict[int, Trajectory] = {}
        for number, line in enumerate(lines, start=1):
            try:
                trajectory = Trajectory.from_dict(json.loads(line))
            except (ValueError, TypeError) as err:
                if number == len(lines):  # the line a kill cut short
                    break
                raise ValueError(f"{self.trajectories_path}:{number}: not a trajectory ({err})") from err
            trajectories.setdefault(trajectory.seed, trajectory)
        finished = list(trajectories.values())
        save_jsonl(finished, self.trajectories_path)  # without a cut line, so appends start on a fresh one
        return finished, previous

    def write(self, results: dict[str, Any]) -> None:
        """Replace the results file atomically (``results`` gets the settings added)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.results_path.with_suffix(".json.partial")
        partial.write_text(json.dumps({**results, "settings": self.settings}, indent=2, default=str))
        partial.replace(self.results_path)

    def add(self, trajectory: Trajectory) -> None:
        """Append a finished episode to the trajectories file, flushed to disk."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.trajectories_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(trajectory.to_dict(self.directory), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def finish(self, trajectories: Sequence[Trajectory], results: dict[str, Any]) -> None:
        """Rewrite the trajectories in seed order, then the final results."""
        partial = self.trajectories_path.with_suffix(".jsonl.partial")
        save_jsonl(sorted(trajectories, key=lambda t: t.seed), partial).replace(self.trajectories_path)
        self.write(results)


def eval_seeds(cfg: EvalConfig) -> list[int]:
    if cfg.episodes < 1:
        raise ValueError(f"eval.episodes must be at least 1, got {cfg.episodes}")
    return list(range(cfg.seed, cfg.seed + cfg.episodes))


def training_seed_bound(cfg: EvalConfig) -> int:
    """Training and demonstration task seeds lie in ``0 .. bound - 1``: below the evaluation seeds and below the
    default test seeds (:data:`TEST_SEED`), or below ``eval.train_below`` when it is set.

    Raises:
        ValueError: when ``eval.train_below`` reaches the evaluation seeds or is negative.
    """
    if cfg.train_below < 0:
        raise ValueError(f"eval.train_below must be 0 (automatic) or a positive seed, got {cfg.train_below}")
    if cfg.train_below > cfg.seed:
        raise ValueError(
            f"eval.train_below={cfg.train_below} would train on the evaluation seeds ({cfg.seed}..): keep it at most "
            f"eval.seed"
        )
    return max(cfg.train_below or min(cfg.seed, TEST_SEED), 1)


def single_agent_env_id(env_factory: Callable[..., Any], fallback: str, command: str) -> str:
    """Build one env to check it is single-agent; returns its registered id (``fallback`` when it has none)."""
    from pettingzoo import AECEnv

    probe = env_factory()
    try:
        if isinstance(probe, AECEnv):
            raise ValueError(f"{fallback} is a multi-agent env; {command} plays single-agent envs")
        spec = probe.spec
        return spec.id if spec is not None else fallback
    finally:
        probe.close()


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (well-behaved at 0 and 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def mean_interval(values: Sequence[float], z: float = Z95) -> dict[str, Any]:
    """Mean with a normal-approximation 95% interval (the interval is the mean alone for n < 2)."""
    mean = statistics.fmean(values) if values else 0.0
    if len(values) < 2:
        return {"mean": mean, "ci95": [mean, mean]}
    half = z * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": mean, "ci95": [mean - half, mean + half]}


def summarize(trajectories: Sequence[Trajectory]) -> dict[str, Any]:
    """Success, score, return, length, invalid-action rate and the share of replies ``agent.repair_invalid``
    replaced, over episodes."""
    wins = sum(t.won for t in trajectories)
    n = len(trajectories)
    turns = sum(len(t.turns) for t in trajectories)
    invalid = sum(bool(turn.info.get("invalid_action")) for t in trajectories for turn in t.turns)
    repaired = sum(turn.repaired_from is not None for t in trajectories for turn in t.turns)
    agreement, by_turn = expert_agreement(trajectories)
    return {
        "episodes": n,
        "success": {"mean": wins / n if n else 0.0, "ci95": list(wilson_interval(wins, n))},
        "score": mean_interval([t.score for t in trajectories]),
        "return": mean_interval([t.total_reward for t in trajectories]),
        "mean_turns": turns / n if n else 0.0,
        "invalid_action_rate": invalid / turns if turns else 0.0,
        "repaired_rate": repaired / turns if turns else 0.0,
        "expert_agreement": agreement,
        "expert_agreement_by_turn": by_turn,
    }


def expert_agreement(trajectories: Sequence[Trajectory]) -> tuple[float | None, list[float | None]]:
    """How often the policy, playing on its own, took the action the env's expert names in the state it reached.

    Returns the share over every turn whose env names an expert action (``Turn.expert_action``), and the share at
    each turn index (first turn, second, ...; None at an index where no episode names one); ``(None, [])`` when
    no turn does. Actions are compared as the envs compare commands (:func:`~agentrl.envs.actions.normalize`).
    Unlike a teacher-forced figure (an SFT run's ``reply_exact``, scored after the expert's own history), this
    scores replies after the policy's own: a model that copies the expert's first moves but not how they depend
    on the observations shows it here as agreement that falls with the turn index. It is a diagnostic, not a
    score: an env may accept other actions than its expert's (WebShop's search words).
    """
    agree: list[int] = []
    named: list[int] = []
    for trajectory in trajectories:
        for index, turn in enumerate(trajectory.turns):
            if turn.expert_action is None:
                continue
            while len(named) <= index:
                named.append(0)
                agree.append(0)
            named[index] += 1
            agree[index] += normalize(turn.action_text) == normalize(turn.expert_action)
    if not any(named):
        return None, []
    by_turn = [a / k if k else None for a, k in zip(agree, named, strict=True)]
    return sum(agree) / sum(named), by_turn


def git_revision(path: str | Path | None = None) -> str:
    """The commit of the checkout holding ``path`` (agentrl's own by default), or ``unknown``."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=where, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
