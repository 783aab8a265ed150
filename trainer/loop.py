"""The training loop: collect → advantages → update → sync weights → log → checkpoint → eval.

One loop serves every algorithm. Each iteration draws ``tasks_per_iteration`` task seeds
(deterministic in the run seed and the iteration, and kept below the evaluation seeds),
plays ``rollout.group_size`` copies of each with the current policy, hands the
trajectories to the algorithm's ``update``, pushes the new weights to the rollout
backend when it lives in another process, and logs. The fixed-seed evaluation runs
before training and every ``eval_every`` iterations; a checkpoint after every
``checkpoint_every`` iterations lets ``resume=auto`` continue a killed run exactly
where it stopped. The end of a run writes ``results.json`` and ``learning_curve.png``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from agentrl.agents.backends import BackendConfig, make_backend
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.models import ModelConfig, fingerprint, load_model
from agentrl.agents.types import Trajectory, save_jsonl
from agentrl.envs.config import EnvConfig
from agentrl.trainer import distributed
from agentrl.trainer.checkpoint import checkpoints, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from agentrl.trainer.evaluate import EvalConfig, eval_seeds, git_revision, summarize
from agentrl.trainer.metrics import MetricLogger, plot_learning_curve, read_metrics
from agentrl.trainer.policy import Policy, PolicyConfig
from agentrl.trainer.rollout import RolloutConfig, collect


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
    """auto: continue from the newest checkpoint in output_dir, if any; never: start over (deletes its checkpoints)."""
    checkpoint_every: int = 1
    """Iterations between checkpoints (0: only at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept on disk."""
    eval_every: int = 5
    """Iterations between evaluations (0: only before and after training)."""
    tensorboard: bool = True
    """Write TensorBoard event files next to the JSONL log."""
    save_trajectories: bool = False
    """Write every iteration's trajectories as JSONL (rollouts/iter-N.jsonl)."""


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
    """The algorithm (``algo=NAME`` picks a file of ``configs/algo``)."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """Full fine-tuning or LoRA."""
    agent: AgentConfig = field(default_factory=_train_sampling)
    """Prompting and sampling during training rollouts (evaluation decodes greedily)."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Batching, group size and the turn limit."""
    train: LoopConfig = field(default_factory=LoopConfig)
    """Iterations, seeds, checkpoints, logging."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """The fixed-seed evaluation protocol."""


class Algorithm(Protocol):
    """What the loop needs from an algorithm."""

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Hooks:
    """Progress callbacks (the CLI draws progress bars with them); every method is optional."""

    def iteration_start(self, iteration: int, total: int, episodes: int) -> None: ...

    def episode_done(self, trajectory: Trajectory) -> None: ...

    def evaluation_start(self, episodes: int) -> None: ...

    def record(self, record: dict[str, Any]) -> None: ...

    def message(self, text: str) -> None: ...


def build_algorithm(cfg: TrainRunConfig, policy: Policy, agent: LLMAgent, pad_id: int) -> Algorithm:
    """The algorithm object ``cfg.algo`` describes."""
    from agentrl.trainer.archer import Archer, ArcherConfig
    from agentrl.trainer.grpo import GRPO, GRPOConfig
    from agentrl.trainer.ppo import PPO, PPOConfig

    temperature = cfg.agent.sampling.temperature
    if temperature <= 0:
        raise ValueError("training samples from the policy: agent.sampling.temperature must be > 0")
    algo = cfg.algo
    if isinstance(algo, GRPOConfig):
        return GRPO(policy, algo, temperature=temperature, pad_id=pad_id, seed=cfg.train.seed)
    if isinstance(algo, PPOConfig):
        return PPO(policy, algo, temperature=temperature, pad_id=pad_id, seed=cfg.train.seed)
    if isinstance(algo, ArcherConfig):
        return Archer(policy, agent, algo, pad_id=pad_id, seed=cfg.train.seed)
    raise ValueError(f"unknown algorithm config {type(algo).__name__}: pick algo=ppo|grpo|rloo|gigpo|archer")


def run_dir(cfg: TrainRunConfig) -> Path:
    if cfg.train.output_dir:
        return Path(cfg.train.output_dir)
    env = cfg.env.id.split("/")[-1].split(":")[-1]
    return Path("runs/train") / f"{env}-{cfg.algo.name}-{Path(cfg.model.name).name}-s{cfg.train.seed}"


def task_seeds(cfg: TrainRunConfig, iteration: int) -> list[int]:
    """The training task seeds of ``iteration`` (below the first eval seed, so never evaluated on)."""
    rng = np.random.default_rng([cfg.train.seed, iteration])
    return [int(s) for s in rng.integers(0, max(cfg.eval.seed, 1), size=cfg.train.tasks_per_iteration)]


def rollout_stats(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    summary = summarize(trajectories)
    return {
        "episodes": float(summary["episodes"]),
        "success": summary["success"]["mean"],
        "return": summary["return"]["mean"],
        "mean_turns": summary["mean_turns"],
        "invalid_action_rate": summary["invalid_action_rate"],
        "response_tokens": float(np.mean([len(t.response_ids) for tr in trajectories for t in tr.turns] or [0])),
    }


def train(cfg: TrainRunConfig, env_factory: Callable[[], Any], hooks: Hooks | None = None) -> dict[str, Any]:
    """Run (or resume) a training run; returns what ``results.json`` holds.

    Args:
        cfg: The run's settings.
        env_factory: Builds one env as ``cfg.env`` describes (the CLI passes ``agentrl.make``'s).
        hooks: Progress callbacks.
    """
    from agentrl.trainer.ppo import PPOConfig

    hooks = hooks or Hooks()
    if cfg.algo is None:
        raise ValueError("no algorithm: pass algo=ppo|grpo|rloo|gigpo|archer")
    if cfg.train.iterations < 0 or cfg.train.tasks_per_iteration < 1:
        raise ValueError("train.iterations must be >= 0 and train.tasks_per_iteration >= 1")
    if cfg.train.resume not in ("auto", "never"):
        raise ValueError(f"train.resume must be auto or never, got {cfg.train.resume!r}")
    # Data parallel under torchrun: join the group; each rank uses its own GPU.
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, device=distributed.init(cfg.model.device)))
    rank, ranks = distributed.rank(), distributed.world_size()
    main = rank == 0
    if cfg.train.tasks_per_iteration < ranks:
        raise ValueError(f"train.tasks_per_iteration={cfg.train.tasks_per_iteration} leaves some of {ranks} ranks idle")
    if not main:
        hooks = Hooks()  # progress and messages from rank 0 only
    out = run_dir(cfg)
    if cfg.train.resume == "never" and main:
        for path in checkpoints(out):
            path.unlink()
    distributed.barrier()  # no rank lists checkpoints while rank 0 deletes them
    existing = checkpoints(out)
    state = load_checkpoint(existing[-1]) if existing else None
    if state is not None and len(state["ranks"]) != ranks:
        raise ValueError(
            f"{existing[-1]} was written by {len(state['ranks'])} ranks: resume it with as many, not {ranks}"
        )

    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    make_env = env_factory
    probe = make_env()
    if hasattr(probe, "agent_iter"):
        probe.close()
        raise ValueError(f"{cfg.env.id} is a multi-agent env; agentrl train plays single-agent envs")
    env_id = probe.spec.id if getattr(probe, "spec", None) is not None else cfg.env.id
    probe.close()

    hooks.message(f"loading model {cfg.model.name}")
    model, tokenizer = load_model(cfg.model)
    pg = getattr(cfg.algo, "pg", None)
    policy = Policy(
        model,
        cfg.policy,
        value_head=isinstance(cfg.algo, PPOConfig) or bool(getattr(cfg.algo, "token_baseline", False)),
        reference=bool(pg is not None and pg.kl_coef > 0),
    )
    backend = make_backend(cfg.backend, cfg.model, tokenizer, model)
    push_weights = cfg.backend.name != "hf"  # hf generates with the policy's own model
    agent = LLMAgent(backend, tokenizer, cfg.agent)
    greedy = dataclasses.replace(cfg.agent, sampling=dataclasses.replace(cfg.agent.sampling, temperature=0.0))
    eval_agent = LLMAgent(backend, tokenizer, greedy)
    algorithm = build_algorithm(cfg, policy, agent, int(tokenizer.pad_token_id))
    if ranks > 1:
        distributed.broadcast_parameters(p for _, p in policy.trainable_named_parameters())
        torch.manual_seed(cfg.train.seed + rank)  # the ranks sample differently; rank 0 as a single process would
        np.random.seed(cfg.train.seed + rank)

    start_iteration, env_steps, evals = 0, 0, []
    if state is not None:
        mine = state["ranks"][rank]
        policy.load_trainable_state(state["policy"])
        algorithm.load_state_dict(mine["algo"])
        set_rng_state(mine["rng"])
        agent._calls = mine["agent_calls"]
        start_iteration, env_steps, evals = state["iteration"], state["env_steps"], state["evals"]
        hooks.message(f"resuming {out} after iteration {start_iteration}")
    if push_weights:
        if main:
            backend.update_weights(policy.merged_state_dict())
        distributed.barrier()
    log = (
        MetricLogger(out, tensorboard=cfg.train.tensorboard, resume_from=start_iteration if state else None)
        if main
        else None
    )
    if main:
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2, default=str))
    seeds_eval = eval_seeds(cfg.eval)

    def evaluate(iteration: int) -> None:
        hooks.evaluation_start(len(seeds_eval))
        trajectories = distributed.gather(
            collect(
                make_env,
                eval_agent,
                distributed.shard(seeds_eval),
                _eval_rollout(cfg.rollout),
                env_id=env_id,
                on_episode=hooks.episode_done,
            )
        )
        summary = summarize(trajectories)
        record = {
            "kind": "eval",
            "iteration": iteration,
            "env_steps": env_steps,
            "success": summary["success"]["mean"],
            "success_ci95": summary["success"]["ci95"],
            "score": summary["score"]["mean"],
            "return": summary["return"]["mean"],
            "invalid_action_rate": summary["invalid_action_rate"],
            "mean_turns": summary["mean_turns"],
        }
        evals.append(record)
        if log is not None:
            log.log(record)
        hooks.record(record)

    started = time.perf_counter()
    try:
        if state is None:
            evaluate(0)
        for iteration in range(start_iteration, cfg.train.iterations):
            tick = time.perf_counter()
            seeds = distributed.shard(task_seeds(cfg, iteration))  # whole groups per rank
            hooks.iteration_start(iteration, cfg.train.iterations, len(seeds) * cfg.rollout.group_size)
            policy.eval()
            trajectories = collect(make_env, agent, seeds, cfg.rollout, env_id=env_id, on_episode=hooks.episode_done)
            rollout_seconds = time.perf_counter() - tick
            everyone = distributed.gather(trajectories)
            env_steps += sum(len(t.turns) for t in everyone)
            if cfg.train.save_trajectories and main:
                save_jsonl(everyone, out / "rollouts" / f"iter-{iteration:05d}.jsonl")
            stats = _mean_stats(distributed.gather_one(algorithm.update(trajectories, iteration)))
            if push_weights:
                if main:
                    backend.update_weights(policy.merged_state_dict())
                distributed.barrier()  # no rank rolls out again before the push has landed
            record = {
                "kind": "train",
                "iteration": iteration,
                "env_steps": env_steps,
                **rollout_stats(everyone),
                **stats,
                "rollout_seconds": rollout_seconds,
                "rollout_tokens_per_s": sum(len(t.response_ids) for tr in everyone for t in tr.turns) / rollout_seconds,
                **peak_memory(cfg.model.device),
                "seconds": time.perf_counter() - tick,
            }
            if log is not None:
                log.log(record)
            hooks.record(record)
            done = iteration + 1
            if done == cfg.train.iterations or (cfg.train.eval_every and done % cfg.train.eval_every == 0):
                evaluate(done)
            if done == cfg.train.iterations or (cfg.train.checkpoint_every and done % cfg.train.checkpoint_every == 0):
                distributed.check_in_sync(p for _, p in policy.trainable_named_parameters())
                # Each rank's own state (optimiser shuffles, replay buffer, RNG) beside the shared weights.
                own = {"algo": algorithm.state_dict(), "rng": rng_state(), "agent_calls": agent._calls}
                shards = distributed.gather_one(own)
                if main:
                    save_checkpoint(
                        out,
                        done,
                        {
                            "iteration": done,
                            "env_steps": env_steps,
                            "evals": evals,
                            "policy": policy.trainable_state(),
                            "ranks": shards,
                        },
                        keep=cfg.train.keep_checkpoints,
                    )
    finally:
        if log is not None:
            log.close()
    distributed.shutdown()
    if log is None:  # not rank 0: rank 0 writes the results
        return {}
    records = read_metrics(log.path)
    title = f"{env_id} · {cfg.algo.name} · {cfg.model.name}"
    plot = plot_learning_curve(records, out / "learning_curve.png", title)
    before, after = evals[0], evals[-1]
    results = {
        "env": {"id": env_id, "config": asdict(cfg.env)},
        "model": {**asdict(cfg.model), "fingerprint": fingerprint(policy.model)},
        "algo": asdict(cfg.algo) if not isinstance(cfg.algo, dict) else cfg.algo,
        "iterations": cfg.train.iterations,
        "env_steps": env_steps,
        "eval_seeds": seeds_eval,
        "success_before": before["success"],
        "success_before_ci95": before["success_ci95"],
        "success_after": after["success"],
        "success_after_ci95": after["success_ci95"],
        "return_before": before["return"],
        "return_after": after["return"],
        "evals": evals,
        "seconds_this_session": round(time.perf_counter() - started, 2),
        "git_revision": git_revision(),
        "learning_curve": str(plot),
        "metrics": str(log.path),
        "run_dir": str(out),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return results


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


def _eval_rollout(cfg: RolloutConfig) -> RolloutConfig:
    return dataclasses.replace(cfg, group_size=1)
