"""Warm-up from demonstrations: supervised fine-tuning on the env's expert before RL.

Every agent-RL recipe that works starts RL from a competent policy (ArCHer fine-tunes
GPT-2 on WebShop demonstrations, AgentGym clones behaviour before AgentEvol, Digi-Q
starts from AutoUI). A small instruct model that has never seen an env's action syntax
answers every turn with an invalid action, every return is equal, every advantage is
zero, and RL has nothing to learn from. So ``agentrl train`` can warm the policy up
first, in the same run:

1. the env's expert (``info["expert_action"]``) plays ``episodes`` training tasks (seeds
   drawn below the evaluation seeds, on the env's training split, each to the longer of
   ``rollout.max_turns`` and the env's ``max_episode_steps``), recorded by a
   :class:`~agentrl.agents.llm_agent.DemonstrationAgent` with this run's tokenizer and
   prompt settings, so each turn holds the exact token ids a rollout will show the model
   (kept in the run folder as a dataset: ``agentrl data show RUN/warmup-data``); or the
   datasets in ``data`` (``agentrl collect``) are used instead;
2. ``steps`` supervised steps on their turns (the update of ``algo=sft``: loss on reply
   tokens only, length-bucketed batches, micro-batched, its own learning-rate schedule);
3. the run evaluates again (phase ``warm-up``) and checkpoints, then RL starts.

The run's results then hold three points on the held-out split: zero-shot, after the
warm-up, after RL. A run given ``train.init_from`` starts from those weights instead and
skips the warm-up; so does a resumed run (its checkpoint holds the warmed-up weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentrl.agents.dataset import DatasetError, DatasetWriter, open_dataset
from agentrl.agents.llm_agent import AgentConfig, DemonstrationAgent
from agentrl.agents.scripted import ExpertAgent
from agentrl.agents.types import Trajectory, Turn
from agentrl.trainer.algorithm import AlgoContext
from agentrl.trainer.pg import make_optimizer
from agentrl.trainer.policy import LowerCache, Policy
from agentrl.trainer.rollout import RolloutConfig, collect
from agentrl.trainer.sft import (
    SupervisedConfig,
    bucketed_batches,
    check_dataset,
    check_reply_budget,
    demonstration_turns,
    lr_factor,
    supervised_runs,
    supervised_step,
)


def _warmup_update() -> SupervisedConfig:
    return SupervisedConfig(lr=1e-4, schedule="cosine", warmup_steps=3, batch_size=8, micro_batch_size=4)


@dataclass
class WarmupConfig:
    """Supervised warm-up on expert demonstrations before RL (see :mod:`agentrl.trainer.warmup`)."""

    episodes: int = 0
    """Expert episodes to collect on training tasks and fine-tune on before RL (0: no warm-up). Skipped when
    ``train.init_from`` is given or the run resumes."""
    data: list[str] = field(default_factory=list)
    """Datasets (``agentrl collect``, made with this run's model and prompt settings) to fine-tune on instead of
    collecting; ``episodes`` is then ignored."""
    steps: int = 40
    """Supervised optimiser steps."""
    epochs: float = 0.0
    """When > 0: passes over the demonstrations' turns instead of ``steps`` (``ceil(epochs * turns / batch_size)``
    steps), so the step count follows the amount of data."""
    only_successful: bool = True
    """Fine-tune on won episodes only."""
    heldout_episodes: int = 0
    """Expert episodes on other training tasks than the demonstrations', never trained on: how well the policy fits
    them (teacher-forced loss and the share of replies greedy decoding writes whole) before and after the warm-up
    goes in the warm-up's record and on screen, so over-fitting shows (0: none)."""
    update: SupervisedConfig = field(default_factory=_warmup_update)
    """Learning rate, schedule and batching of the supervised steps (as ``algo=sft``'s ``update``)."""

    @property
    def enabled(self) -> bool:
        return self.episodes > 0 or bool(self.data)


def warmup_seeds(seed: int, episodes: int, below: int) -> list[int]:
    """``episodes`` distinct task seeds below ``below`` (:func:`~agentrl.trainer.evaluate.training_seed_bound`),
    drawn from ``seed``.

    Raises:
        ValueError: when fewer than ``episodes`` seeds lie below ``below``.
    """
    if episodes > below:
        raise ValueError(
            f"train.warmup.episodes={episodes} needs as many training seeds, which lie below {below} (eval.seed, "
            "at most 10000 unless eval.train_below says otherwise): lower it or raise eval.seed"
        )
    rng = np.random.default_rng([seed, 0x5EED])
    return sorted(int(s) for s in rng.choice(below, size=episodes, replace=False))


def heldout_seeds(seed: int, episodes: int, below: int, exclude: set[int]) -> list[int]:
    """``episodes`` distinct task seeds below ``below`` and outside ``exclude`` (the demonstrations'), drawn from
    ``seed`` (another stream than :func:`warmup_seeds`', which they leave as they are).

    Raises:
        ValueError: when fewer than ``episodes`` such seeds are left.
    """
    free = [s for s in range(below) if s not in exclude]
    if episodes > len(free):
        raise ValueError(
            f"train.warmup.heldout_episodes={episodes} needs as many training seeds below {below} besides the "
            f"demonstrations' {len(exclude)} (eval.seed, at most 10000 unless eval.train_below says otherwise): "
            "lower it or raise eval.seed"
        )
    rng = np.random.default_rng([seed, 0x5EED, 1])
    return sorted(free[i] for i in rng.choice(len(free), size=episodes, replace=False))


def collect_demonstrations(
    env_factory: Callable[..., Any],
    tokenizer: Any,
    prompt: AgentConfig,
    seeds: Sequence[int],
    rollout: RolloutConfig,
    *,
    env_id: str,
    out: Path,
    manifest: dict[str, Any],
    context_length: int | None = None,
    on_episode: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """The expert's episodes on ``seeds``, recorded with ``prompt``'s token ids and written as a dataset to ``out``.

    ``manifest`` gives the dataset's ``env``, ``agent`` and ``model`` provenance (see
    :class:`~agentrl.agents.dataset.DatasetWriter`).
    """
    expert = ExpertAgent()
    agent = DemonstrationAgent(expert, tokenizer, prompt, context_length=context_length)
    writer = DatasetWriter(out, prompt=asdict(prompt), overwrite=True, **manifest)

    def done(trajectory: Trajectory) -> None:
        writer.add(trajectory)
        if on_episode is not None:
            on_episode(trajectory)

    config = RolloutConfig(**{**asdict(rollout), "group_size": 1})
    try:
        trajectories = collect(env_factory, agent, seeds, config, env_id=env_id, on_episode=done)
    finally:
        writer.close()
    if expert.missing_expert_actions and not any(t.won for t in trajectories):
        raise DatasetError(
            f"{env_id} gave no expert action (info['expert_action']) in {expert.missing_expert_actions} states: "
            "it cannot warm up from its own expert; give train.warmup.data=[DATASET] or train.warmup.episodes=0"
        )
    return trajectories


def load_demonstrations(paths: Sequence[str], ctx: AlgoContext) -> list[Trajectory]:
    """The trajectories of the datasets ``paths``, refusing data that would leak into the run's evaluation."""
    trajectories: list[Trajectory] = []
    for path in paths:
        dataset = open_dataset(path)
        check_dataset(dataset.manifest, ctx)
        trajectories += dataset.trajectories()
    return trajectories


def warmup_steps(cfg: WarmupConfig, turns: int) -> int:
    """The warm-up's optimiser steps on ``turns`` demonstrated turns."""
    if cfg.epochs > 0:
        return max(1, math.ceil(cfg.epochs * turns / cfg.update.batch_size))
    return cfg.steps


def warm_up(
    policy: Policy,
    trajectories: Sequence[Trajectory],
    cfg: WarmupConfig,
    *,
    pad_id: int,
    seed: int,
    max_new_tokens: int | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, float]:
    """``cfg.steps`` supervised steps on the turns of ``trajectories``; returns the last step's statistics.

    Raises:
        DatasetError: when no turn is left to learn from (no won episode with ``only_successful``), or a
            demonstrated reply is longer than ``max_new_tokens``, the policy's reply budget
            (:func:`~agentrl.trainer.sft.check_reply_budget`).
    """
    turns: list[Turn] = demonstration_turns(trajectories, cfg.only_successful)
    if not turns:
        raise DatasetError(
            f"the warm-up has no turns to learn from ({len(trajectories)} episodes, "
            f"only_successful={cfg.only_successful}, {sum(t.won for t in trajectories)} won): give demonstrations "
            "that win (train.warmup.data), train.warmup.only_successful=false, or train.warmup.episodes=0"
        )
    if max_new_tokens is not None:
        check_reply_budget(turns, max_new_tokens)
    lengths = [len(t.prompt_ids) + len(t.response_ids) for t in turns]
    runs = supervised_runs(turns, cfg.update)
    total = warmup_steps(cfg, len(turns))
    optimizer = make_optimizer(
        (p for _, p in policy.trainable_named_parameters()), cfg.update.lr, cfg.update.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    queue: list[list[int]] = []
    stats: dict[str, float] = {}
    cache = LowerCache(policy, cfg.update.lower_cache_mb)
    policy.train()
    for step in range(total):
        if not queue:
            queue = bucketed_batches(lengths, cfg.update.batch_size, generator, runs)
        rows = queue.pop()
        lr = cfg.update.lr * lr_factor(step, total, cfg.update)
        stats = {**supervised_step(policy, optimizer, [turns[i] for i in rows], cfg.update, pad_id, lr, cache)}
        stats["cached_turns"] = float(len(cache))
        stats["warmup_turns"] = float(len(turns))
        if on_step is not None:
            on_step(step, stats)
    policy.eval()
    return stats
