"""The training loop: collect → advantages → update → sync weights → log → checkpoint → eval.

One :class:`Trainer` serves every algorithm of the table
(:mod:`agentrl.trainer.algorithm`). :meth:`Trainer.setup` builds what the algorithm's
config :meth:`needs <agentrl.trainer.algorithm.Needs>` (a value head, a reference
policy) and the algorithm itself; each :meth:`Trainer.iteration` draws
``tasks_per_iteration`` task seeds (deterministic in the run seed and the iteration, and
kept below the evaluation seeds), plays ``rollout.group_size`` copies of each with the
current policy, hands the trajectories to the algorithm's ``update``, pushes the new
weights to a backend that does not share the model, and logs. :meth:`Trainer.evaluate`
is the one evaluation (:func:`agentrl.trainer.evaluate.evaluate`) on the env's held-out
split; it runs before training and every ``eval_every`` iterations. A checkpoint
(:meth:`Trainer.save`) after every ``checkpoint_every`` iterations lets ``resume=auto``
continue a killed run exactly where it stopped. :meth:`Trainer.finish` writes
``results.json`` and ``learning_curve.png``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentrl.agents.backends import (
    BackendConfig,
    check_reply_scorer,
    generation_dtype_name,
    make_backend,
    reply_scorer,
)
from agentrl.agents.generation import GenerationBackend, SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.models import ModelConfig, fingerprint, load_model
from agentrl.agents.types import Trajectory, Turn, save_jsonl
from agentrl.envs.config import EnvConfig
from agentrl.memory import CaseMemory, MemoryAgent, with_memory
from agentrl.memory.config import MemoryConfig
from agentrl.trainer import distributed, sharded
from agentrl.trainer.algorithm import AlgoContext, Algorithm, build_algorithm, spec_for
from agentrl.trainer.checkpoint import (
    checkpoints,
    load_checkpoint,
    load_init_weights,
    remove_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    sharded_folder,
)
from agentrl.trainer.evaluate import (
    EvalConfig,
    EvalResult,
    eval_env_overrides,
    eval_seeds,
    evaluate,
    git_revision,
    single_agent_env_id,
    summarize,
    training_seed_bound,
)
from agentrl.trainer.grpo import GRPO
from agentrl.trainer.learning_signal import no_signal_message, zero_signal
from agentrl.trainer.metrics import MetricLogger, plot_learning_curve, read_metrics
from agentrl.trainer.policy import Policy, PolicyConfig
from agentrl.trainer.ppo import PPO
from agentrl.trainer.resume import RESUME_MODES, check_resume, config_changes, record_changes
from agentrl.trainer.rollout import RolloutConfig, collect
from agentrl.trainer.sft import demonstration_fit, demonstration_turns, unseen_turns
from agentrl.trainer.trackers import MLflowConfig, WandbConfig, check_trackers, open_trackers
from agentrl.trainer.warmup import (
    WarmupConfig,
    collect_demonstrations,
    heldout_seeds,
    load_demonstrations,
    warm_up,
    warmup_seeds,
    warmup_steps,
)


def _train_sampling() -> AgentConfig:
    return AgentConfig(sampling=SamplingParams(temperature=1.0, max_new_tokens=24))


@dataclass
class LoopConfig:
    """The training loop's schedule and bookkeeping."""

    iterations: int = 20
    """Collect-and-update iterations."""
    tasks_per_iteration: int = 8
    """Task seeds per iteration (each played ``rollout.group_size`` times)."""
    seed: int = 0
    """Seeds the task draw, torch and NumPy."""
    output_dir: str = ""
    """Run folder ('' : runs/train/<env>-<algo>-<model>-s<seed>)."""
    resume: str = "auto"
    """auto: continue from the newest checkpoint in output_dir, if any, when the run's settings are unchanged
    (:mod:`agentrl.trainer.resume` lists what may change, e.g. ``train.iterations`` to extend a run); force:
    continue even with other settings (recorded in config_changes.jsonl and results.json); never: start over
    (deletes its checkpoints)."""
    checkpoint_every: int = 1
    """Iterations between checkpoints (0: only at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept on disk."""
    strategy: str = "ddp"
    """Under ``torchrun``: ``ddp`` (every rank holds the whole policy; gradients are averaged) or ``fsdp`` (FSDP2:
    weights, gradients and optimiser state sharded over the ranks, sharded checkpoints; full fine-tuning with the
    GRPO and PPO families; see :mod:`agentrl.trainer.sharded`). One process: the same either way."""
    eval_every: int = 5
    """Iterations between evaluations (0: only before and after training)."""
    eval_before: bool = True
    """Evaluate the starting weights before any training. ``false`` skips that evaluation when it is already
    known, e.g. a run with ``init_from`` whose start is the other run's final evaluation (results.json's
    ``success_before`` is then null). A run that would otherwise never evaluate (no iterations, no warm-up)
    still evaluates once."""
    tensorboard: bool = True
    """Write TensorBoard event files next to the JSONL log."""
    trackers: list[str] = field(default_factory=list)
    """Experiment trackers that get the config and every record too: wandb, mlflow (each an extra:
    ``pip install 'agentrl[wandb]'``). A resumed run logs into the same tracker run."""
    wandb: WandbConfig = field(default_factory=WandbConfig)
    """Weights & Biases settings (with ``trackers=[wandb]``)."""
    mlflow: MLflowConfig = field(default_factory=MLflowConfig)
    """MLflow settings (with ``trackers=[mlflow]``)."""
    save_trajectories: bool = False
    """Write every iteration's trajectories as JSONL (rollouts/iter-N.jsonl)."""
    init_from: str = ""
    """Start from the policy weights of another run: its folder (newest checkpoint) or a checkpoint file, e.g. an
    ``algo=sft`` run's (LoRA adapters are merged into the weights)."""
    max_env_steps: int = 0
    """Stop after the iteration in which the run's env steps (turns played in training rollouts) reach this budget,
    evaluating and checkpointing there (0: run every iteration). Compares methods at the same sample budget."""
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    """Supervised warm-up on the env's expert demonstrations before RL, evaluated before and after (skipped with
    ``init_from``, on resume and for algorithms that play no rollouts)."""


@dataclass
class TrainRunConfig:
    """Settings of ``agentrl train``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The env (``env=NAME`` picks a file of ``configs/env``)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy's starting model (``model=NAME``)."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """What generates rollouts: the policy itself (``hf``), an ``agentrl serve-model`` or vLLM server
    (``backend.name=openai backend.url=http://host:port/v1``) or vLLM in-process (``vllm``, GPU). The new weights
    are pushed to the last two after every update."""
    algo: Any = None
    """The algorithm (``algo=NAME`` picks a file of ``configs/algo``; ``agentrl algos`` lists them)."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """Full fine-tuning or LoRA."""
    agent: AgentConfig = field(default_factory=_train_sampling)
    """Prompting and sampling during training rollouts (the env's ``agent`` block sets the defaults; evaluation
    decodes greedily)."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Batching, group size and the turn limit."""
    train: LoopConfig = field(default_factory=LoopConfig)
    """Iterations, seeds, checkpoints, logging."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """The fixed-seed evaluation protocol (on the env's held-out split by default)."""
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    """AgentFly's case memory inside RL (``memory=on``): rollouts retrieve cases into the prompt and write one per
    training episode; evaluation reads the memory (top K) and never writes."""


class Hooks:
    """Progress callbacks (the CLI draws progress bars with them); every method is optional."""

    def iteration_start(self, iteration: int, total: int, episodes: int) -> None: ...

    def episode_done(self, trajectory: Trajectory) -> None: ...

    def evaluation_start(self, episodes: int) -> None: ...

    def record(self, record: dict[str, Any]) -> None: ...

    def message(self, text: str) -> None: ...


def run_dir(cfg: TrainRunConfig) -> Path:
    if cfg.train.output_dir:
        return Path(cfg.train.output_dir)
    env = cfg.env.id.split("/")[-1].split(":")[-1]
    return Path("runs/train") / f"{env}-{cfg.algo.name}-{Path(cfg.model.name).name}-s{cfg.train.seed}"


def task_seeds(cfg: TrainRunConfig, iteration: int) -> list[int]:
    """The training task seeds of ``iteration`` (below the first eval seed and the test seeds, so never evaluated
    on: :func:`~agentrl.trainer.evaluate.training_seed_bound`)."""
    rng = np.random.default_rng([cfg.train.seed, iteration])
    return [int(s) for s in rng.integers(0, training_seed_bound(cfg.eval), size=cfg.train.tasks_per_iteration)]


def rollout_stats(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    summary = summarize(trajectories)
    return {
        "episodes": float(summary["episodes"]),
        "success": summary["success"]["mean"],
        "return": summary["return"]["mean"],
        "mean_turns": summary["mean_turns"],
        "invalid_action_rate": summary["invalid_action_rate"],
        "repaired_rate": summary["repaired_rate"],
        "response_tokens": float(np.mean([len(t.response_ids) for tr in trajectories for t in tr.turns] or [0])),
    }


class Trainer:
    """One training run: :meth:`setup`, then :meth:`iteration` / :meth:`evaluate` / :meth:`save`, then :meth:`finish`.

    :meth:`run` does all of it (and resumes a run whose folder holds a checkpoint).

    Args:
        cfg: The run's settings.
        env_factory: Builds one env as ``cfg.env`` describes; keyword arguments override
            the config's (the evaluation passes its split). The CLI passes
            ``functools.partial(agentrl.factory.make_from_config, cfg.env)``.
        hooks: Progress callbacks.
    """

    def __init__(self, cfg: TrainRunConfig, env_factory: Callable[..., Any], hooks: Hooks | None = None):
        if cfg.algo is None:
            raise ValueError("no algorithm: pass algo=NAME (agentrl algos lists them)")
        if cfg.train.iterations < 0 or cfg.train.tasks_per_iteration < 1:
            raise ValueError("train.iterations must be >= 0 and train.tasks_per_iteration >= 1")
        if cfg.train.resume not in RESUME_MODES:
            raise ValueError(f"train.resume must be one of {', '.join(RESUME_MODES)}, got {cfg.train.resume!r}")
        if cfg.agent.sampling.temperature <= 0:
            raise ValueError("training samples from the policy: agent.sampling.temperature must be > 0")
        check_reply_scorer(cfg.backend, cfg.agent.repair_invalid)  # before the model loads
        spec_for(cfg.algo)  # an unknown algorithm fails before the model loads
        check_trackers(cfg.train.trackers)  # so does a tracker whose package is missing
        self.cfg, self.env_factory, self.hooks = cfg, env_factory, hooks or Hooks()
        self.out = run_dir(cfg)
        self.evals: list[dict[str, Any]] = []
        self.env_steps = 0
        self.start_iteration = 0
        self.resumed = False
        self.started = time.perf_counter()
        self.log: MetricLogger | None = None
        self.warned_no_signal = False

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Join the data-parallel group, load the model, build policy, backend, agents and algorithm; resume."""
        cfg = self.cfg
        # Data parallel under torchrun: join the group; each rank uses its own GPU.
        cfg = self.cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, device=distributed.init(cfg.model.device))
        )
        self.rank, ranks = distributed.rank(), distributed.world_size()
        self.main = self.rank == 0
        if cfg.train.tasks_per_iteration < ranks:
            raise ValueError(
                f"train.tasks_per_iteration={cfg.train.tasks_per_iteration} leaves some of {ranks} ranks idle"
            )
        if not self.main:
            self.hooks = Hooks()  # progress and messages from rank 0 only
        if cfg.train.resume == "never" and self.main:
            for path in checkpoints(self.out):
                remove_checkpoint(path)
        distributed.barrier()  # no rank lists checkpoints while rank 0 deletes them
        existing = checkpoints(self.out)
        # Before anything loads: a resume must not mix two runs' settings in one folder.
        changes = check_resume(self.out, cfg) if existing else {}
        state = load_checkpoint(existing[-1]) if existing else None
        if state is not None and len(state["ranks"]) != ranks:
            raise ValueError(
                f"{existing[-1]} was written by {len(state['ranks'])} ranks: resume it with as many, not {ranks}"
            )
        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        self.env_id = single_agent_env_id(self.env_factory, cfg.env.id, "agentrl train")

        self.hooks.message(f"loading model {cfg.model.name}")
        model, tokenizer = load_model(cfg.model)
        self.init_checkpoint: Path | None = None
        if cfg.train.init_from:
            loaded = load_init_weights(model, cfg.train.init_from)
            self.hooks.message(f"starting from the weights of {loaded}")
            self.init_checkpoint = loaded.resolve()
        needs = self.needs = cfg.algo.needs()
        self.fsdp = cfg.train.strategy == "fsdp" and ranks > 1
        rollout_model = copy.deepcopy(model) if self.fsdp and cfg.backend.name == "hf" else model
        self.policy = Policy(model, cfg.policy, value_head=needs.value_head, reference=needs.reference)
        if cfg.policy.mixed_precision == "auto":
            self.hooks.message(self.policy.precision_reason)
        if self.fsdp:
            sharded.check_supported(cfg.policy)
            distributed.broadcast_parameters(p for _, p in self.policy.trainable_named_parameters())
            sharded.shard_policy(self.policy, cfg.model.device)
        self.backend: GenerationBackend = make_backend(cfg.backend, cfg.model, tokenizer, rollout_model)
        if cfg.backend.dtype == "auto":
            self.hooks.message(f"backend.dtype=auto: generating in {generation_dtype_name(self.backend)}")
        if self.fsdp and cfg.backend.name == "hf":
            self.backend.weights_shared = False  # it generates with its own full copy; sync_weights fills it
        scorer = reply_scorer(self.backend, cfg.agent.repair_invalid)
        self.agent = LLMAgent(self.backend, tokenizer, cfg.agent, scorer=scorer)
        greedy = dataclasses.replace(cfg.agent, sampling=dataclasses.replace(cfg.agent.sampling, temperature=0.0))
        self.eval_agent = LLMAgent(self.backend, tokenizer, greedy, scorer=scorer)
        self.rollout_agent: Any = self.agent
        self.eval_rollout_agent: Any = self.eval_agent
        self.memory: CaseMemory | None = None
        self.memory_agent: MemoryAgent | None = None
        if cfg.memory.enabled:  # memory inside RL: training episodes write cases, evaluation episodes only read
            self.memory = CaseMemory(cfg.memory)
            own: dict[str, Any] = {"backend": self.backend, "tokenizer": tokenizer}
            own["source"] = cfg.memory.source or str(self.out)
            self.memory_agent = with_memory(self.agent, self.memory, write=True, sample=True, **own)
            self.rollout_agent = self.memory_agent
            self.eval_rollout_agent = with_memory(self.eval_agent, self.memory, write=False, sample=False, **own)
        ctx = AlgoContext(
            policy=self.policy,
            agent=self.agent,
            backend=self.backend,
            sampling=cfg.agent.sampling,
            pad_id=int(tokenizer.pad_token_id),
            seed=cfg.train.seed,
            sync_weights=self.sync_weights,
            tokenizer=tokenizer,
            iterations=cfg.train.iterations,
            eval_env_id=self.env_id,
            eval_split=eval_env_overrides(cfg.env, cfg.eval)[0],
            eval_seeds=eval_seeds(cfg.eval),
            train_below=training_seed_bound(cfg.eval),
            env_factory=self.env_factory,
        )
        self.algorithm: Algorithm = build_algorithm(cfg.algo, ctx)
        self.algorithm_context, self.tokenizer, self.pad_id = ctx, tokenizer, int(tokenizer.pad_token_id)
        if self.fsdp and not isinstance(self.algorithm, (GRPO, PPO)):
            raise ValueError(
                f"train.strategy=fsdp runs the GRPO and PPO families (their passes keep the ranks in step), "
                f"not algo={cfg.algo.name}: use train.strategy=ddp"
            )
        if self.fsdp and cfg.train.warmup.enabled and not cfg.train.init_from:
            raise ValueError(
                "train.strategy=fsdp does not run the supervised warm-up (its passes do not keep the ranks in step): "
                "train.warmup.episodes=0, or warm up with train.strategy=ddp and start from it with train.init_from"
            )
        if ranks > 1 and not self.fsdp:
            distributed.broadcast_parameters(p for _, p in self.policy.trainable_named_parameters())
        if ranks > 1:
            torch.manual_seed(cfg.train.seed + self.rank)  # the ranks sample differently; rank 0 as a single process
            np.random.seed(cfg.train.seed + self.rank)

        if state is not None:
            mine = state["ranks"][self.rank]
            if state.get("sharded"):
                if not self.fsdp:
                    raise ValueError(f"{existing[-1]} holds sharded weights: resume it with train.strategy=fsdp")
                algo, tensors = sharded.join_state(mine["algo"], sharded.mesh_of(self.policy))
                sharded.load_sharded(self.out / state["sharded"], self.policy, tensors)
                self.algorithm.load_state_dict(algo)
            else:
                if self.fsdp:
                    raise ValueError(f"{existing[-1]} holds whole weights: resume it with train.strategy=ddp")
                self.policy.load_trainable_state(state["policy"])
                self.algorithm.load_state_dict(mine["algo"])
            set_rng_state(mine["rng"])
            self.agent.load_state_dict(mine["agent"])
            self.start_iteration, self.env_steps, self.evals = state["iteration"], state["env_steps"], state["evals"]
            self.resumed = True
            changed = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changes.items())
            self.hooks.message(
                f"resuming {self.out} after iteration {self.start_iteration}"
                + (f" (changed: {changed})" if changed else "")
            )
        self.sync_weights()
        if self.main:
            trackers = open_trackers(
                cfg.train.trackers,
                self.out,
                asdict(cfg),
                wandb=cfg.train.wandb,
                mlflow=cfg.train.mlflow,
                resume=state is not None,
            )
            self.log = MetricLogger(
                self.out,
                tensorboard=cfg.train.tensorboard,
                resume_from=self.start_iteration if state else None,
                trackers=trackers,
            )
            record_changes(self.out, self.start_iteration if state else None, cfg.train.resume, changes)
            (self.out / "config.json").write_text(json.dumps(asdict(cfg), indent=2, default=str))

    def sync_weights(self) -> None:
        """Push the policy's weights to a backend that keeps its own copy (rank 0 pushes; every rank waits)."""
        if self.backend.weights_shared:
            return
        if self.fsdp:  # every rank gathers the sharded weights; each hf backend is that rank's own
            weights = sharded.full_state_dict(self.policy.model)
            if self.main or self.cfg.backend.name == "hf":
                self.backend.update_weights(weights)
        elif self.main:
            self.backend.update_weights(self.policy.merged_state_dict())
        distributed.barrier()  # no rank generates again before the push has landed

    # -------------------------------------------------------------- the loop
    def iteration(self, iteration: int) -> dict[str, Any]:
        """Collect, update, sync; returns the logged record."""
        cfg = self.cfg
        tick = time.perf_counter()
        seeds = distributed.shard(task_seeds(cfg, iteration)) if self.needs.rollouts else []  # whole groups per rank
        self.hooks.iteration_start(iteration, cfg.train.iterations, len(seeds) * cfg.rollout.group_size)
        self.policy.eval()
        trajectories = collect(
            self.env_factory,
            self.rollout_agent,
            seeds,
            cfg.rollout,
            env_id=self.env_id,
            on_episode=self.hooks.episode_done,
        )
        rollout_seconds = time.perf_counter() - tick
        everyone = distributed.gather(trajectories)
        self.env_steps += sum(len(t.turns) for t in everyone)
        stats = _mean_stats(distributed.gather_one(self.algorithm.update(trajectories, iteration)))
        if cfg.train.save_trajectories:  # after the update: the turns carry the advantages it recorded
            saved = distributed.gather(trajectories)
            if self.main:
                save_jsonl(saved, self.out / "rollouts" / f"iter-{iteration:05d}.jsonl")
        self.sync_weights()
        no_signal = zero_signal(stats)
        if no_signal and not self.warned_no_signal:  # once per run: metrics.jsonl marks every one
            self.warned_no_signal = True
            self.hooks.message(no_signal_message(iteration, cfg.train.iterations, everyone, stats))
        stats["zero_signal"] = float(no_signal)
        tokens = sum(len(t.response_ids) for tr in everyone for t in tr.turns)
        record = {
            "kind": "train",
            "iteration": iteration,
            "env_steps": self.env_steps,
            **(rollout_stats(everyone) if everyone else {}),
            **stats,
            **self.agent.take_prompt_stats(),  # this rank's prompts: lengths, turns the budget left out
            **(self.memory_agent.take_stats() if self.memory_agent is not None else {}),
            "rollout_seconds": rollout_seconds,
            "rollout_tokens_per_s": tokens / rollout_seconds if everyone else 0.0,
            **peak_memory(cfg.model.device),
            "seconds": time.perf_counter() - tick,
        }
        self._log(record)
        return record

    def budget_spent(self) -> bool:
        """Whether the run has played ``train.max_env_steps`` env steps (never, without a budget)."""
        return bool(self.cfg.train.max_env_steps) and self.env_steps >= self.cfg.train.max_env_steps

    def warmup_applies(self) -> bool:
        """Whether this run warms up from demonstrations before RL (see :mod:`agentrl.trainer.warmup`)."""
        warmup = self.cfg.train.warmup
        if not warmup.enabled:
            return False
        if self.cfg.train.init_from:
            self.hooks.message(f"no warm-up: the run starts from the weights of {self.cfg.train.init_from}")
            return False
        if not self.needs.rollouts:  # algo=sft is the warm-up itself; an env recipe's warm-up settings do not apply
            self.hooks.message(f"no warm-up: algo={self.cfg.algo.name} plays no rollouts (train.warmup is for RL)")
            return False
        return True

    def warm_up(self) -> dict[str, Any]:
        """Fine-tune on expert demonstrations (collected now, or ``train.warmup.data``) before RL."""
        cfg, warmup = self.cfg, self.cfg.train.warmup
        tick = time.perf_counter()

        def expert_plays(seeds: list[int], folder: str) -> list[Trajectory]:
            self.hooks.iteration_start(-1, cfg.train.iterations, len(seeds))
            # A demonstration is a whole solved task: rollout.max_turns is the RL horizon (a training budget), so the
            # expert plays to the env's own step limit when that is longer.
            horizon = max(cfg.rollout.max_turns, cfg.env.max_episode_steps or 0)
            return collect_demonstrations(
                self.env_factory,
                self.tokenizer,
                cfg.agent,
                seeds,
                dataclasses.replace(cfg.rollout, max_turns=horizon),
                env_id=self.env_id,
                out=self.out / folder,
                manifest={
                    "env": {"id": self.env_id, "split": cfg.env.kwargs.get("split"), "config": asdict(cfg.env)},
                    "agent": {"kind": "expert"},
                    "model": {"name": cfg.model.name, "fingerprint": fingerprint(self.policy.model)},
                },
                on_episode=self.hooks.episode_done,
            )

        if warmup.data:
            self.hooks.message(f"warming up on the demonstrations of {', '.join(warmup.data)}")
            trajectories = load_demonstrations(warmup.data, self.algorithm_context)
        else:
            self.hooks.message(
                f"warming up: {self.env_id}'s expert plays {warmup.episodes} training tasks, then "
                f"supervised steps on its turns (train.warmup.episodes=0 skips this; "
                f"train.init_from=RUN starts from a run's weights instead)"
            )
            trajectories = expert_plays(
                warmup_seeds(cfg.train.seed, warmup.episodes, training_seed_bound(cfg.eval)), "warmup-data"
            )
        heldout: list[Turn] = []
        fit_before: dict[str, float] = {}
        if warmup.heldout_episodes:
            demonstrated = {t.seed for t in trajectories}
            seeds = heldout_seeds(cfg.train.seed, warmup.heldout_episodes, training_seed_bound(cfg.eval), demonstrated)
            self.hooks.message(f"held out: the expert plays {len(seeds)} other training tasks, never trained on")
            played = demonstration_turns(expert_plays(seeds, "warmup-heldout"), warmup.only_successful)
            trained = demonstration_turns(trajectories, warmup.only_successful)
            heldout = unseen_turns(played, trained)
            if len(heldout) < len(played):
                self.hooks.message(
                    f"{len(played) - len(heldout)} of their {len(played)} turns repeat a demonstrated turn"
                )
            fit_before = demonstration_fit(self.policy, heldout, warmup.update, self.pad_id) if heldout else {}
        demo_seconds = time.perf_counter() - tick
        total = warmup_steps(warmup, sum(len(t.turns) for t in trajectories if t.won or not warmup.only_successful))

        def step_done(step: int, stats: dict[str, float]) -> None:
            if (step + 1) % 10 == 0 or step + 1 == total:
                self.hooks.message(
                    f"warm-up step {step + 1}/{total}: loss {stats.get('sft_loss', float('nan')):.3f}, "
                    f"reply-token probability {stats.get('token_prob', float('nan')):.3f}, "
                    f"replies written exactly {stats.get('reply_exact', float('nan')):.2f}"
                )

        stats = warm_up(
            self.policy,
            trajectories,
            warmup,
            pad_id=self.pad_id,
            seed=cfg.train.seed,
            max_new_tokens=cfg.agent.sampling.max_new_tokens,
            on_step=step_done,
        )
        self.sync_weights()
        if heldout:
            fit = demonstration_fit(self.policy, heldout, warmup.update, self.pad_id)
            self.hooks.message(
                f"held-out demonstrations ({len(heldout)} turns): loss {fit_before['loss']:.3f} -> {fit['loss']:.3f}, "
                f"replies written exactly {fit_before['reply_exact']:.2f} -> {fit['reply_exact']:.2f}"
            )
            stats.update({f"heldout_{key}": value for key, value in fit.items()})
            stats.update({f"heldout_{key}_before": value for key, value in fit_before.items()})
            stats["heldout_turns"] = float(len(heldout))
        record = {
            "kind": "warmup",
            "iteration": 0,
            "env_steps": self.env_steps,
            "demonstrations": float(len(trajectories)),
            "demonstration_success": float(np.mean([t.won for t in trajectories])) if trajectories else 0.0,
            "demonstration_steps": float(sum(len(t.turns) for t in trajectories)),
            **stats,
            "collect_seconds": demo_seconds,
            "seconds": time.perf_counter() - tick,
            **peak_memory(self.cfg.model.device),  # the process's peak so far: each phase's record says if it rose
        }
        self._log(record)
        return record

    def evaluate(self, iteration: int, phase: str = "") -> EvalResult:
        """The fixed-seed evaluation of the greedy policy on the evaluation split.

        ``phase`` labels the record: ``start`` (iteration 0, before any update), ``warm-up`` (after the warm-up),
        ``train`` (after RL iterations) by default.
        """
        self.hooks.evaluation_start(self.cfg.eval.episodes)
        result = evaluate(
            self.eval_rollout_agent,
            self.env_factory,
            self.cfg.env,
            self.cfg.eval,
            self.cfg.rollout,
            env_id=self.env_id,
            on_episode=self.hooks.episode_done,
        )
        phase = phase or ("start" if iteration == 0 else "train")
        episodes = Path("evals") / f"iter-{iteration:05d}-{phase}.jsonl"  # what the policy did, to read or view
        if self.main:
            save_jsonl(result.trajectories, self.out / episodes)
        record = {
            "kind": "eval",
            "iteration": iteration,
            "phase": phase,
            "env_steps": self.env_steps,
            **result.record(),
            **self.eval_agent.take_prompt_stats(),
            **peak_memory(self.cfg.model.device),
            "trajectories": str(episodes),
        }
        self.evals.append(record)
        self._log(record)
        return result

    def save(self, done: int) -> None:
        """Checkpoint after ``done`` iterations: shared weights, and each rank's own state."""
        distributed.check_in_sync(p for _, p in self.policy.trainable_named_parameters())
        # Each rank's own state (optimiser shuffles, replay buffer, RNG) beside the shared weights.
        algo = self.algorithm.state_dict()
        folder = None
        if self.fsdp:  # the sharded weights and optimiser moments go into a DCP folder, written by every rank
            algo, tensors = sharded.split_state(algo)
            folder = sharded_folder(done)
            sharded.save_sharded(self.out / f"{folder}.partial", self.policy, tensors)
            distributed.barrier()
            if self.main:
                shutil.rmtree(self.out / folder, ignore_errors=True)  # a kill between rename and ckpt file
                (self.out / f"{folder}.partial").replace(self.out / folder)
        own = {"algo": algo, "rng": rng_state(), "agent": self.agent.state_dict()}
        if self.memory is not None:
            self.memory.save()  # the learned retriever's checkpoint, next to the case bank
        shards = distributed.gather_one(own)
        if self.main:
            save_checkpoint(
                self.out,
                done,
                {
                    "iteration": done,
                    "env_steps": self.env_steps,
                    "evals": self.evals,
                    "policy": None if self.fsdp else self.policy.trainable_state(),
                    # the weights it started from (the untrained ones are not in "policy"): load_init_weights
                    "init_from": str(self.init_checkpoint) if self.init_checkpoint else None,
                    "sharded": folder,
                    "ranks": shards,
                },
                keep=self.cfg.train.keep_checkpoints,
            )
        if self.fsdp:
            distributed.barrier()  # no rank trains on while rank 0 still writes the checkpoint that names the folder

    def run(self) -> dict[str, Any]:
        """Set up, train every remaining iteration (evaluating and checkpointing on schedule), finish."""
        self.setup()
        train = self.cfg.train
        try:
            if not self.resumed:
                warmup = self.warmup_applies()
                if train.eval_before or not (warmup or self.start_iteration < train.iterations):
                    self.evaluate(0)
                if warmup:
                    self.warm_up()
                    self.evaluate(0, phase="warm-up")
                    self.save(0)
            for iteration in range(self.start_iteration, train.iterations):
                if self.budget_spent():
                    break
                self.iteration(iteration)
                done = iteration + 1
                last = done == train.iterations or self.budget_spent()
                if last or (train.eval_every and done % train.eval_every == 0):
                    self.evaluate(done)
                if last or (train.checkpoint_every and done % train.checkpoint_every == 0):
                    self.save(done)
        except BaseException as err:  # Ctrl-C too: status.json and the trackers record how the run ended
            if self.log is not None:
                self.log.close(err)
            raise
        finally:
            if self.log is not None:
                self.log.close()
            self.backend.close()
            if self.memory is not None:
                self.memory.close()
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Write ``results.json`` and the learning curve (rank 0); returns the results ({} on other ranks)."""
        # Sharded weights are hashed whole: every rank takes part in gathering them, before the group goes.
        weights = sharded.full_state_dict(self.policy.model) if self.fsdp else self.policy.model
        distributed.shutdown()
        if self.log is None:  # not rank 0: rank 0 writes the results
            return {}
        cfg = self.cfg
        protocol = _eval_protocol(cfg)
        records = read_metrics(self.log.path)
        title = f"{self.env_id} · {cfg.algo.name} · {cfg.model.name}"
        plot = plot_learning_curve(records, self.out / "learning_curve.png", title)
        after = self.evals[-1]
        start = [e for e in self.evals if e["iteration"] == 0 and e.get("phase", "start") == "start"]
        before = start[0] if start else {"success": None, "success_ci95": None, "return": None}
        results = {
            "env": {"id": self.env_id, "config": asdict(cfg.env)},
            "model": {**asdict(cfg.model), "fingerprint": fingerprint(weights)},
            "algo": asdict(cfg.algo),
            "mixed_precision": self.policy.precision,
            "generation_dtype": generation_dtype_name(self.backend),
            "iterations": cfg.train.iterations,
            "iterations_done": max((r["iteration"] + 1 for r in records if r["kind"] == "train"), default=0),
            "env_steps": self.env_steps,
            "eval": protocol,
            "eval_seeds": protocol["seeds"],
            "train_seeds_below": training_seed_bound(cfg.eval),
            "success_before": before["success"],
            "success_before_ci95": before["success_ci95"],
            "success_after": after["success"],
            "success_after_ci95": after["success_ci95"],
            "return_before": before["return"],
            "return_after": after["return"],
            **_warmup_results(self.evals),
            "evals": self.evals,
            "seconds_this_session": round(time.perf_counter() - self.started, 2),
            "git_revision": git_revision(),
            "learning_curve": str(plot),
            "metrics": str(self.log.path),
            "run_dir": str(self.out),
            "config_changes": config_changes(self.out),
        }
        (self.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        return results

    def _log(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.log(record)
        self.hooks.record(record)


def train(cfg: TrainRunConfig, env_factory: Callable[..., Any], hooks: Hooks | None = None) -> dict[str, Any]:
    """Run (or resume) a training run; returns what ``results.json`` holds (see :class:`Trainer`)."""
    return Trainer(cfg, env_factory, hooks).run()


def _warmup_results(evals: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The evaluation after the warm-up from demonstrations, when the run had one."""
    warm = [e for e in evals if e.get("phase") == "warm-up"]
    if not warm:
        return {}
    return {
        "success_after_warmup": warm[0]["success"],
        "success_after_warmup_ci95": warm[0]["success_ci95"],
        "return_after_warmup": warm[0]["return"],
    }


def _eval_protocol(cfg: TrainRunConfig) -> dict[str, Any]:
    """What every evaluation of the run played: the split, the seeds and the evaluation env's arguments."""
    split, overrides = eval_env_overrides(cfg.env, cfg.eval)
    return {"split": split, "seeds": eval_seeds(cfg.eval), "env_kwargs": {**dict(cfg.env.kwargs), **overrides}}


def peak_memory(device: str) -> dict[str, float]:
    """Peak memory so far, in GB: the GPU's allocations on CUDA, else the process's resident set."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return {"gpu_peak_memory_gb": torch.cuda.max_memory_allocated(torch.device(device)) / 1e9}
    import resource

    return {"cpu_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}  # Linux: KiB


def _mean_stats(per_rank: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each statistic averaged over the ranks that report it."""
    keys = sorted({key for stats in per_rank for key in stats})
    return {key: float(np.mean([stats[key] for stats in per_rank if key in stats])) for key in keys}
