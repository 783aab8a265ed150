"""``agentrl eval``: the fixed-seed evaluation of a model on an env.

    agentrl eval env=sokoban model=smollm2 eval.episodes=50
    agentrl eval env=sokoban model=smollm2 backend.name=openai backend.url=http://127.0.0.1:8080/v1

The second form plays through any OpenAI-compatible server (``agentrl serve-model``,
vLLM, llama.cpp's Python server); only the model's tokenizer is loaded here.
Prints success and score with 95% intervals and writes a results JSON (env, model,
sampling, seeds, version, git revision) and the trajectories (JSONL) under
``eval.output_dir``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrl.agents.backends import BackendConfig
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig
from agentrl.agents.models import ModelConfig
from agentrl.cli.config import load, store
from agentrl.envs.config import EnvConfig
from agentrl.trainer.evaluate import EvalConfig
from agentrl.trainer.rollout import RolloutConfig


def _greedy_agent() -> AgentConfig:
    return AgentConfig(sampling=SamplingParams(temperature=0.0, max_new_tokens=48))


@dataclass
class EvalRunConfig:
    """Settings of ``agentrl eval``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The env (``env=NAME`` picks a file of ``configs/env``)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy (``model=NAME`` picks a file of ``configs/model``)."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """What generates: the in-process model (``hf``) or a server (``backend.name=openai backend.url=...``)."""
    agent: AgentConfig = field(default_factory=_greedy_agent)
    """Prompting and sampling (greedy by default)."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Batching and the turn limit."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Episodes, seeds and where results go."""


store("eval_schema", EvalRunConfig)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "eval",
        help="evaluate a model on an env with the fixed-seed protocol",
        description="Evaluate a model on an env. Arguments are Hydra overrides, e.g. "
        "env=sokoban model=tiny eval.episodes=50 agent.sampling.temperature=0.7",
    )
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    import torch
    from rich.console import Console

    from agentrl.agents.backends import load_backend
    from agentrl.agents.llm_agent import LLMAgent
    from agentrl.agents.models import fingerprint
    from agentrl.agents.types import save_jsonl
    from agentrl.factory import make_from_config
    from agentrl.trainer.evaluate import eval_seeds, git_revision, summarize
    from agentrl.trainer.rollout import collect

    cfg = load("eval", overrides, EvalRunConfig)
    console = Console(stderr=True)
    seeds = eval_seeds(cfg.eval)
    probe = make_from_config(cfg.env)
    if hasattr(probe, "agent_iter"):
        probe.close()
        raise ValueError(f"{cfg.env.id} is a multi-agent env; agentrl eval plays single-agent envs")
    env_id = probe.spec.id if getattr(probe, "spec", None) is not None else cfg.env.id
    probe.close()
    torch.manual_seed(cfg.model.seed)
    where = f" (generating through {cfg.backend.url})" if cfg.backend.name == "openai" else ""
    console.print(f"loading {cfg.model.name}{where} ...")
    backend, tokenizer, model = load_backend(cfg.backend, cfg.model)
    agent = LLMAgent(backend, tokenizer, cfg.agent)
    start = time.perf_counter()
    with console.status(f"evaluating on {len(seeds)} episodes of {env_id}") as status:
        done = []

        def progress(trajectory: Any) -> None:
            done.append(trajectory)
            status.update(f"evaluating: {len(done)}/{len(seeds)} episodes of {env_id}")

        trajectories = collect(
            lambda: make_from_config(cfg.env), agent, seeds, cfg.rollout, env_id=env_id, on_episode=progress
        )
    elapsed = time.perf_counter() - start
    if hasattr(backend, "close"):
        backend.close()
    summary = summarize(trajectories)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(cfg.eval.output_dir)
    name = f"{env_id.replace('/', '_')}-{Path(cfg.model.name).name}-{stamp}"
    traj_path = save_jsonl(trajectories, out_dir / f"{name}.trajectories.jsonl")
    results = {
        "env": {"id": env_id, "config": asdict(cfg.env)},
        "model": {**asdict(cfg.model), "fingerprint": fingerprint(model) if model is not None else None},
        "backend": {**asdict(cfg.backend), "prompt_drift": getattr(backend, "prompt_drift", 0)},
        "agent": asdict(cfg.agent),
        "rollout": asdict(cfg.rollout),
        "seeds": seeds,
        "agentrl_version": _version(),
        "git_revision": git_revision(),
        "seconds": round(elapsed, 2),
        **summary,
        "per_episode": [
            {"seed": t.seed, "won": t.won, "score": t.score, "return": t.total_reward, "turns": len(t.turns)}
            for t in trajectories
        ],
        "trajectories": str(traj_path),
    }
    result_path = out_dir / f"{name}.json"
    result_path.write_text(json.dumps(results, indent=2))
    success, score = summary["success"], summary["score"]
    print(
        f"{env_id} | {cfg.model.name} | {summary['episodes']} episodes | "
        f"success {success['mean']:.3f} [{success['ci95'][0]:.3f}, {success['ci95'][1]:.3f}] | "
        f"score {score['mean']:.3f} [{score['ci95'][0]:.3f}, {score['ci95'][1]:.3f}] | "
        f"invalid actions {summary['invalid_action_rate']:.1%} | {elapsed:.1f}s"
    )
    print(f"results: {result_path}")
    return 0


def _version() -> str:
    from agentrl import __version__

    return __version__
