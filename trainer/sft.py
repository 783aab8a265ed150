"""Supervised fine-tuning on trajectory datasets (``algo=sft``).

Behaviour cloning as every agent-RL pipeline starts it (ArCHer's GPT-2 on WebShop
demonstrations, AgentGym's behaviour cloning before AgentEvol): maximise the
log-probability of the recorded replies given their prompts, with the loss on response
tokens only (``response_mask``), averaged over a step's tokens. The data are datasets
of :mod:`agentrl.agents.dataset` (``agentrl collect``), whose turns hold the exact
prompt and reply token ids an :class:`~agentrl.agents.llm_agent.LLMAgent` with the same
tokenizer and prompt settings produces, so training sees what a rollout shows.

Each iteration of the loop takes ``steps_per_iteration`` optimiser steps; a step is
``batch_size`` turns drawn from length-sorted buckets (turns of similar length share
a batch, so padding stays small; with ``pack_turns``, whole runs of an episode's turns
recorded with the whole history, each run trained in one row), accumulated over micro-batches of at most
``micro_batch_size`` rows and ``micro_batch_tokens`` padded tokens (the rule every
algorithm shares: :func:`~agentrl.trainer.batch.micro_batches`). The learning rate warms
up linearly and then follows ``schedule`` over the run. The loop evaluates on the held-out
split as for RL, and writes the same run folder, logs, checkpoints and plots.

With ``policy.train_top_layers`` the lower blocks are frozen, so their output for a turn
never changes: a :class:`~agentrl.trainer.policy.LowerCache` keeps it from a turn's first
pass (up to ``lower_cache_mb``) and later epochs run only the trainable blocks above it
(``benchmarks/sft_cache.py`` measures it).

Data that would leak into evaluation is refused: a dataset of the evaluation split of
the same env, or whose seeds reach the evaluation seeds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agentrl.agents.dataset import DatasetError, open_dataset
from agentrl.agents.llm_agent import AgentConfig
from agentrl.agents.types import Trajectory, Turn
from agentrl.envs.config import AgentDefaults
from agentrl.trainer.algorithm import AlgoContext, Needs, optimizer_step, register_algorithm
from agentrl.trainer.batch import chain_turns, micro_batches, pack_turns, turn_batch, unpack_turns
from agentrl.trainer.core_algos import aggregate_loss
from agentrl.trainer.pg import make_optimizer
from agentrl.trainer.policy import LowerCache, Policy

SCHEDULES = ("constant", "linear", "cosine")
logger = logging.getLogger(__name__)


@dataclass
class SupervisedConfig:
    """The supervised update shared by SFT and filtered BC."""

    lr: float = 1e-4
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    schedule: str = "cosine"
    """Learning-rate decay after warm-up over the run: constant, linear or cosine (to 10% of the peak)."""
    warmup_steps: int = 0
    """Optimiser steps of linear warm-up from 0."""
    batch_size: int = 16
    """Turns per optimiser step."""
    micro_batch_size: int = 4
    """Most turns per forward pass (gradient accumulation over a step)."""
    micro_batch_tokens: int = 4096
    """Most tokens (turns x longest turn, padding included) per forward pass: bounds memory whatever the history
    length; a turn longer than this goes through alone."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip."""
    loss_agg: str = "token-mean"
    """How the reply tokens' losses make a step's loss: ``token-mean`` (every demonstrated token weighs alike, so a
    50-token search query weighs ten times a 5-token click) or ``seq-mean-token-mean`` (each reply's mean, then the
    mean over replies: every turn weighs alike, so a one-word choice counts as much as a long query) or
    ``seq-mean-token-sum`` (each reply's sum, then the mean over replies)."""
    lower_cache_mb: int = 2048
    """Memory (MiB) for the output of the frozen lower blocks (``policy.train_top_layers``) of the turns seen so far,
    so later epochs skip those blocks; turns beyond it run the whole model every time (0: no cache)."""
    pack_turns: bool = True
    """Train the turns of an episode recorded with its whole history in the prompt (each turn's prompt begins with
    the one before's prompt and reply) in one row, the last turn's, as multi-turn SFT trains a whole conversation:
    the same loss and gradients up to float rounding, fewer tokens through the model (guess-the-number: a quarter).
    A batch then holds whole runs of at most ``batch_size`` turns in all; only with ``loss_agg=token-mean``."""


@dataclass
class SFTConfig:
    """Supervised fine-tuning on recorded trajectories."""

    name: str = "sft"
    """Algorithm name (``algo=NAME`` picks a file of ``configs/algo``)."""
    data: list[str] = field(default_factory=list)
    """Dataset folders (``agentrl collect``); their token ids must come from this run's tokenizer."""
    heldout_data: list[str] = field(default_factory=list)
    """Dataset folders never trained on: their teacher-forced fit is logged every iteration (``heldout_loss``,
    ``heldout_token_prob``, ``heldout_reply_exact``), so over-fitting shows. Collect them on other seeds of the
    training split than ``data`` (``agentrl collect ... collect.seed=N``); data that shares an episode with ``data``
    is refused."""
    only_successful: bool = True
    """Train on won episodes only (expert data with failures would teach the failures)."""
    steps_per_iteration: int = 20
    """Optimiser steps per loop iteration (evaluation and checkpoints go by iterations)."""
    update: SupervisedConfig = field(default_factory=SupervisedConfig)
    """Learning rate, schedule and batching."""

    def needs(self) -> Needs:
        """No rollouts: the data comes from ``data``."""
        return Needs(supervised_data=True, rollouts=False)


def lr_factor(step: int, total: int, cfg: SupervisedConfig) -> float:
    """The learning rate's multiplier at optimiser step ``step`` (0-based) of ``total``."""
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {cfg.schedule!r}")
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant" or total <= cfg.warmup_steps:
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    if cfg.schedule == "linear":
        return 1.0 - 0.9 * progress
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator, runs: Sequence[Sequence[int]] | None = None
) -> list[list[int]]:
    """One epoch of batches: shuffle, sort within chunks of 8 batches by length, shuffle the batches.

    ``runs`` (:func:`~agentrl.trainer.batch.chain_turns` of the turns): a batch holds whole runs, of at most
    ``batch_size`` turns in all (a longer run alone), each run's turns in order; a run's length is its last turn's.
    With runs of one turn each the batches are those without ``runs``."""
    units = [list(run) for run in runs] if runs is not None else [[i] for i in range(len(lengths))]
    order = torch.randperm(len(units), generator=generator).tolist()
    chunk = batch_size * 8
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda u: lengths[units[u][-1]])
        current: list[int] = []
        for unit in part:
            if current and len(current) + len(units[unit]) > batch_size:
                batches.append(current)
                current = []
            current += units[unit]
        if current:
            batches.append(current)
    permutation = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in permutation]


def supervised_runs(turns: Sequence[Turn], cfg: SupervisedConfig) -> list[list[int]] | None:
    """The runs of ``turns`` that train in one row (``cfg.pack_turns``, token-mean loss), for
    :func:`bucketed_batches`; None when they do not pack."""
    if not cfg.pack_turns or cfg.loss_agg != "token-mean":
        return None
    runs = chain_turns(turns)
    return runs if len(runs) < len(turns) else None


def supervised_step(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    turns: Sequence[Turn],
    cfg: SupervisedConfig,
    pad_id: int,
    lr: float,
    cache: LowerCache | None = None,
) -> dict[str, float]:
    """One optimiser step of ``-mean log pi(reply token | prompt, earlier reply tokens)`` over ``turns``, the mean
    taken as ``cfg.loss_agg`` says (the frozen lower blocks' output from ``cache`` where it holds it). The logged
    ``sft_loss`` and ``token_prob`` are per-token means whatever the aggregation, so runs compare; ``reply_exact`` is
    the share of the replies whose every token is the model's most likely one (greedy decoding would write the reply
    given its prompt), measured before the step: a mean token probability near 1 can hide a short, decisive reply
    the model never writes."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    lengths = [len(t.prompt_ids) + len(t.response_ids) for t in turns]
    total = sum(len(t.response_ids) for t in turns)
    if total == 0:
        return {}
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    optimizer.zero_grad(set_to_none=True)
    fits = []
    # Turns that extend the turn before share a row (cfg.pack_turns): the runs go through the model whole.
    runs = supervised_runs(turns, cfg) or [[i] for i in range(len(turns))]
    for parts in micro_batches([lengths[run[-1]] for run in runs], cfg.micro_batch_size, cfg.micro_batch_tokens):
        chunk = [turns[i] for part in parts for i in runs[part]]
        batch = turn_batch(chunk, pad_id)
        local, at = [], 0
        for part in parts:
            local.append(list(range(at, at + len(runs[part]))))
            at += len(runs[part])
        shared = len(local) < len(chunk)
        packed = (pack_turns(batch, local) if shared else batch).to(policy.device)
        lower = cache.lower([chunk[run[-1]] for run in local], packed) if cache is not None else None
        out = policy.forward_batch(packed, 1.0, lower=lower, greedy=True)
        mask = packed.response_mask
        # Each micro-batch weighs its share of the step (tokens or turns), so the sum is the step's mean.
        share = float(mask.sum()) / total if cfg.loss_agg == "token-mean" else len(chunk) / len(turns)
        (aggregate_loss(-out.logprobs, mask, cfg.loss_agg) * share).backward()
        assert out.greedy is not None
        logprobs, greedy = out.logprobs.detach(), out.greedy
        if shared:  # the figures are per turn: each turn's tokens back on a row of its own
            logprobs, greedy = unpack_turns(logprobs.cpu(), batch, local), unpack_turns(greedy.cpu(), batch, local)
            mask = batch.response_mask
        fits.append(_row_fits(logprobs, greedy, mask))
    norm = optimizer_step(optimizer, parameters, cfg.max_grad_norm)
    fit = fit_figures(torch.cat(fits))
    return {
        "sft_loss": fit["loss"],
        "token_prob": fit["token_prob"],
        "reply_exact": fit["reply_exact"],
        "grad_norm": norm,
        "lr": lr,
    }


class OnlineSupervised:
    """The supervised half of the online imitation algorithms (filtered BC, DAgger), whose turns change every
    iteration: the optimiser over the trainable weights, the batch order and the step count, all kept in
    checkpoints.

    Args:
        update: Learning rate, schedule and batching.
        epochs: Passes over each call's turns.
        ctx: The policy, pad id, seed (batch order) and the run's length (the schedule).
    """

    def __init__(self, update: SupervisedConfig, epochs: int, ctx: AlgoContext):
        self.update, self.epochs, self.ctx = update, epochs, ctx
        params = (p for _, p in ctx.policy.trainable_named_parameters())
        self.optimizer = make_optimizer(params, update.lr, update.weight_decay)
        self.generator = torch.Generator().manual_seed(ctx.seed)
        self.step = 0

    def train(self, turns: Sequence[Turn]) -> dict[str, float]:
        """``epochs`` passes over ``turns`` in length-bucketed batches of ``update.batch_size``, one
        :func:`supervised_step` each, the learning rate following the schedule over the run (its length estimated
        from this call's turns, whose count varies by iteration); the frozen blocks' output is kept across the
        passes when there are several.

        Returns:
            The mean ``sft_loss`` and ``reply_exact`` of the steps (empty when no step had a reply token).
        """
        cfg = self.update
        total = math.ceil(len(turns) / cfg.batch_size) * self.epochs * max(self.ctx.iterations, 1)
        lengths = [len(t.prompt_ids) + len(t.response_ids) for t in turns]
        runs = supervised_runs(turns, cfg)
        cache = LowerCache(self.ctx.policy, cfg.lower_cache_mb if self.epochs > 1 else 0)
        losses: list[float] = []
        exact: list[float] = []
        self.ctx.policy.train()
        for _ in range(self.epochs):
            for rows in bucketed_batches(lengths, cfg.batch_size, self.generator, runs):
                lr = cfg.lr * lr_factor(self.step, total, cfg)
                batch = [turns[i] for i in rows]
                out = supervised_step(self.ctx.policy, self.optimizer, batch, cfg, self.ctx.pad_id, lr, cache)
                self.step += 1
                if out:
                    losses.append(out["sft_loss"])
                    exact.append(out["reply_exact"])
        if not losses:
            return {}
        return {"sft_loss": sum(losses) / len(losses), "reply_exact": sum(exact) / len(exact)}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(), "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])


def _row_fits(logprobs: torch.Tensor, greedy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row of a pass (its label-aligned log-probs and greedy marks, :class:`Forward`): its reply tokens' summed
    loss and probability, 1 if greedy decoding writes the reply whole (else 0), and its reply tokens (columns of
    :func:`fit_figures`' input)."""
    logprobs = logprobs.detach().float()
    tokens = mask.sum(-1).float()
    whole = ((greedy * mask).sum(-1) == tokens).float()
    return torch.stack([-(logprobs * mask).sum(-1), (logprobs.exp() * mask).sum(-1), whole, tokens], -1).cpu()


def fit_figures(fits: torch.Tensor) -> dict[str, float]:
    """``loss`` and ``token_prob`` per reply token, ``reply_exact`` per reply, of rows of :func:`turn_fits`."""
    loss, prob, whole, tokens = fits.sum(0).tolist()
    return {"loss": loss / tokens, "token_prob": prob / tokens, "reply_exact": whole / len(fits)}


@torch.no_grad()
def turn_fits(policy: Policy, turns: Sequence[Turn], cfg: SupervisedConfig, pad_id: int) -> torch.Tensor:
    """The teacher-forced fit of each of ``turns`` (a row each, in their order; nothing is updated): any subset of
    the rows gives its figures through :func:`fit_figures`, so a grouping (by turn number) costs no second pass."""
    was_training = policy.training
    policy.eval()
    fits = torch.zeros(len(turns), 4)
    lengths = [len(t.prompt_ids) + len(t.response_ids) for t in turns]
    try:
        for rows in micro_batches(lengths, cfg.micro_batch_size, cfg.micro_batch_tokens):
            batch = turn_batch([turns[i] for i in rows], pad_id).to(policy.device)
            out = policy.forward_batch(batch, 1.0, greedy=True)
            assert out.greedy is not None
            fits[rows] = _row_fits(out.logprobs, out.greedy, batch.response_mask)
    finally:
        policy.train(was_training)
    return fits


def demonstration_fit(policy: Policy, turns: Sequence[Turn], cfg: SupervisedConfig, pad_id: int) -> dict[str, float]:
    """How well the policy fits demonstrated ``turns`` it is not trained on, teacher-forced (nothing is updated):
    ``loss`` (mean negative log-probability of a reply token), ``token_prob`` (mean probability) and
    ``reply_exact`` (the share of replies greedy decoding would write whole), as :func:`supervised_step` logs
    them for the turns it trains on. A training loss that falls while these stall or turn back is over-fitting:
    memorised replies rather than the rule that writes them."""
    if sum(len(t.response_ids) for t in turns) == 0:
        return {}
    return fit_figures(turn_fits(policy, turns, cfg, pad_id))


def unseen_turns(turns: Sequence[Turn], trained: Sequence[Turn]) -> list[Turn]:
    """The ``turns`` whose prompt and reply are not those of a ``trained`` turn. Held-out episodes on other seeds
    can still repeat trained turns: an env may map several seeds to one task (WebShop's seed modulo its split's
    size), and episodes of different tasks can open alike (guess-the-number's first guess)."""
    seen = {(tuple(t.prompt_ids), tuple(t.response_ids)) for t in trained}
    return [t for t in turns if (tuple(t.prompt_ids), tuple(t.response_ids)) not in seen]


def demonstration_turns(trajectories: Sequence[Trajectory], only_successful: bool) -> list[Turn]:
    """The turns to imitate: every turn with a reply, of won episodes when ``only_successful``."""
    return [
        turn
        for t in trajectories
        if t.won or not only_successful
        for turn in t.turns
        if turn.response_ids and turn.prompt_ids
    ]


def reply_fits(turn: Turn, max_new_tokens: int) -> bool:
    """Whether the policy may write ``turn``'s demonstrated reply whole within ``max_new_tokens``
    (``agent.sampling.max_new_tokens``): the reply ends with the end-of-turn token, which may be cut (the action
    before it is whole)."""
    return len(turn.response_ids) - 1 <= max_new_tokens


def check_reply_budget(turns: Sequence[Turn], max_new_tokens: int) -> None:
    """Refuse demonstrated replies longer than the policy may write (``agent.sampling.max_new_tokens``): a policy
    trained on them is cut off before it finishes them, and a cut reply is an invalid action at every such turn.
    A demonstrated reply ends with the end-of-turn token, which may be cut (the action before it is whole).

    Raises:
        DatasetError: saying how many replies are too long and the budget they need.
    """
    long = [len(t.response_ids) - 1 for t in turns if not reply_fits(t, max_new_tokens)]
    if long:
        raise DatasetError(
            f"{len(long)} of {len(turns)} demonstrated replies are longer than agent.sampling.max_new_tokens="
            f"{max_new_tokens} (the longest: {max(long)} tokens before its end token): the trained policy would be "
            f"cut off before finishing them, and a cut reply is an invalid action. Set "
            f"agent.sampling.max_new_tokens={max(long)} or more"
        )


@register_algorithm("sft", SFTConfig, summary="SFT: supervised fine-tuning on recorded (expert) trajectories")
class SFT:
    """Supervised fine-tuning on datasets; see the module docstring.

    Args:
        cfg: Data, schedule and batching.
        ctx: The policy, tokenizer (the datasets' token ids must come from it), pad id,
            seed (batch order) and the run's length (the schedule).
    """

    def __init__(self, cfg: SFTConfig, ctx: AlgoContext):
        if not cfg.data:
            raise ValueError("algo=sft needs data: algo.data=[DATASET_DIR, ...] (make one with agentrl collect)")
        self.cfg, self.ctx = cfg, ctx
        trajectories: list[Trajectory] = []
        config = getattr(ctx.agent, "config", None)
        trained: set[tuple[Any, Any, int]] = set()
        for path in cfg.data:
            dataset = open_dataset(path)
            check_dataset(dataset.manifest, ctx)
            trained |= dataset_episodes(dataset.manifest)
            prompt = dataset.manifest.prompt or {}
            changed = prompt_differences(prompt, config) if isinstance(config, AgentConfig) else {}
            if changed:
                described = ", ".join(f"{k}={was!r} (this run: {now!r})" for k, (was, now) in changed.items())
                env_block = [(k, was) for k, (was, _) in changed.items() if k in ENV_AGENT_FIELDS]
                fix = " ".join(f"env.agent.{k}={_value(was)}" for k, was in env_block)
                logger.warning(
                    "%s was collected with other prompt settings than this run's agent: %s. Training on it teaches "
                    "prompts this run's rollouts never show; collect it again with this run's settings%s",
                    path,
                    described,
                    f" (or train with {fix})" if fix else "",
                )
            trajectories += dataset.trajectories()
        self.turns = demonstration_turns(trajectories, cfg.only_successful)
        check_reply_budget(self.turns, ctx.sampling.max_new_tokens)
        if not self.turns:
            raise DatasetError(
                f"{', '.join(cfg.data)} holds no turns to learn from (only_successful={cfg.only_successful})"
            )
        check_vocabulary(self.turns, len(ctx.tokenizer), ", ".join(cfg.data))
        self.lengths = [len(t.prompt_ids) + len(t.response_ids) for t in self.turns]
        self.runs = supervised_runs(self.turns, cfg.update)
        self.heldout = unseen_turns(load_heldout(cfg.heldout_data, ctx, trained, cfg.only_successful), self.turns)
        if cfg.heldout_data and not self.heldout:
            raise DatasetError(f"every turn of {', '.join(cfg.heldout_data)} is also in the training data")
        self.cache = LowerCache(ctx.policy, cfg.update.lower_cache_mb)
        params = (p for _, p in ctx.policy.trainable_named_parameters())
        self.optimizer = make_optimizer(params, cfg.update.lr, cfg.update.weight_decay)
        self.generator = torch.Generator().manual_seed(ctx.seed)
        self.step = 0
        self._queue: list[list[int]] = []

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        """``steps_per_iteration`` supervised steps (``trajectories`` is empty: this algorithm plays no rollouts)."""
        total = self.cfg.steps_per_iteration * max(self.ctx.iterations, 1)
        stats: dict[str, list[float]] = {}
        self.ctx.policy.train()
        for _ in range(self.cfg.steps_per_iteration):
            if not self._queue:
                self._queue = bucketed_batches(self.lengths, self.cfg.update.batch_size, self.generator, self.runs)
            rows = self._queue.pop()
            lr = self.cfg.update.lr * lr_factor(self.step, total, self.cfg.update)
            out = supervised_step(
                self.ctx.policy,
                self.optimizer,
                [self.turns[i] for i in rows],
                self.cfg.update,
                self.ctx.pad_id,
                lr,
                self.cache,
            )
            self.step += 1
            for key, value in out.items():
                stats.setdefault(key, []).append(value)
        result = {key: sum(v) / len(v) for key, v in stats.items()}
        result["sft_turns"] = float(len(self.turns))
        if self.heldout:
            result["heldout_turns"] = float(len(self.heldout))
            fit = demonstration_fit(self.ctx.policy, self.heldout, self.cfg.update, self.ctx.pad_id)
            result.update({f"heldout_{key}": value for key, value in fit.items()})
        return result

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "step": self.step,
            "queue": self._queue,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step, self._queue = int(state["step"]), [list(b) for b in state["queue"]]


PROMPT_FIELDS = tuple(f.name for f in dataclasses.fields(AgentConfig) if f.name != "sampling")
"""The agent settings that shape a prompt's token ids (the sampling settings shape only the replies)."""
ENV_AGENT_FIELDS = frozenset(f.name for f in dataclasses.fields(AgentDefaults))
"""Those an env's ``agent`` block sets (``env.agent.X``)."""


def prompt_differences(prompt: dict[str, Any], config: AgentConfig) -> dict[str, tuple[Any, Any]]:
    """The prompt-shaping settings (:data:`PROMPT_FIELDS`) in which a dataset's ``prompt`` (its manifest's) differs
    from ``config``: ``{name: (dataset's, config's)}``; a setting the dataset predates counts as its default."""
    defaults = AgentConfig()
    out = {}
    for name in PROMPT_FIELDS:
        was, now = prompt.get(name, getattr(defaults, name)), getattr(config, name)
        if was != now:
            out[name] = (was, now)
    return out


def _value(value: Any) -> str:
    """``value`` as an override writes it."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def check_vocabulary(turns: Sequence[Turn], vocab: int, source: str) -> None:
    """Refuse ``turns`` (from ``source``) holding token ids beyond a vocabulary of ``vocab``: data collected for
    another model."""
    if max(max(t.prompt_ids + t.response_ids) for t in turns) >= vocab:
        raise DatasetError(
            f"{source}: token ids beyond this tokenizer's vocabulary ({vocab}): the data was collected for another "
            "model; collect it with model=<this run's model>"
        )


def dataset_episodes(manifest: Any) -> set[tuple[Any, Any, int]]:
    """A dataset's episodes as ``(env id, split, seed)``: two datasets share an episode when they share one."""
    return {(manifest.env.get("id"), manifest.env.get("split"), int(seed)) for seed in manifest.seeds}


def load_heldout(
    paths: Sequence[str], ctx: AlgoContext, trained: set[tuple[Any, Any, int]], only_successful: bool
) -> list[Turn]:
    """The turns of the held-out datasets ``paths`` (the same turns training would take from them).

    Raises:
        DatasetError: a dataset that shares an episode with the training data ``trained`` (it would not be held
            out), that would leak into the evaluation (:func:`check_dataset`), whose token ids this tokenizer
            does not have, or that holds no turn.
    """
    turns: list[Turn] = []
    for path in paths:
        dataset = open_dataset(path)
        check_dataset(dataset.manifest, ctx)
        shared = dataset_episodes(dataset.manifest) & trained
        if shared:
            seeds = sorted(seed for _, _, seed in shared)
            raise DatasetError(
                f"{path} shares {len(shared)} episodes with the training data (seeds {seeds[0]}..{seeds[-1]}), so it "
                "is not held out: collect it on other seeds (agentrl collect ... collect.seed=N)"
            )
        found = demonstration_turns(dataset.trajectories(), only_successful)
        if not found:
            raise DatasetError(f"{path} holds no turns to score (only_successful={only_successful})")
        check_vocabulary(found, len(ctx.tokenizer), path)
        turns += found
    return turns


def check_dataset(manifest: Any, ctx: AlgoContext) -> None:
    """Refuse data that would leak into this run's evaluation: the evaluation split of the same env, or (for an
    env without splits) its evaluation seeds."""
    env = manifest.env
    if env.get("id") != ctx.eval_env_id or env.get("split") != ctx.eval_split:
        return
    if ctx.eval_split is not None:
        raise DatasetError(
            f"the dataset was collected on {env.get('id')}'s {env.get('split')} split, which this run evaluates on; "
            "collect it on a training split"
        )
    if any(seed in set(ctx.eval_seeds) for seed in manifest.seeds):
        raise DatasetError(
            f"the dataset holds evaluation seeds of {env.get('id')} (this run evaluates on seeds "
            f"{min(ctx.eval_seeds)}..{max(ctx.eval_seeds)}); collect below them"
        )
    if ctx.train_below and max(manifest.seeds, default=0) >= ctx.train_below:
        raise DatasetError(
            f"the dataset holds seeds of {env.get('id')} from {ctx.train_below} on ({max(manifest.seeds)}), where the "
            f"test seeds lie (or eval.train_below puts them): training seeds stay below {ctx.train_below}; "
            "collect below it"
        )
