"""``agentrl eval``: the fixed-seed evaluation of a model (or the expert, or a random agent) on an env.

    agentrl eval env=sokoban model=smollm2 eval.episodes=50
    agentrl eval env=sokoban model=smollm2 backend.name=openai backend.url=http://127.0.0.1:8080/v1
    agentrl eval env=webshop agent=expert          # the oracle on the same seeds: a model's reference point
    agentrl eval env=alfworld agent=random         # chance level
    agentrl eval env=alfworld eval.split=train     # another split than the env's held-out one

The second form plays through any OpenAI-compatible server (``agentrl serve-model``,
vLLM, llama.cpp's Python server); only the model's tokenizer is loaded here. The env
is evaluated on its held-out split where it has one (``eval.split=auto``: ALFWorld's
``eval_unseen``, ScienceWorld's ``test``, WebShop's ``test`` goals). Prints success
and score with 95% intervals and writes a results JSON (env, split, env arguments,
agent, model, sampling, seeds, version, git revision) and the trajectories (JSONL)
under ``eval.output_dir``.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrl.agents.backends import BackendConfig
from agentrl.agents.llm_agent import AgentConfig
from agentrl.agents.models import ModelConfig
from agentrl.cli.config import add_config_flags, load, load_plugins, print_config, store
from agentrl.envs.config import EnvConfig
from agentrl.trainer.evaluate import EvalConfig
from agentrl.trainer.rollout import RolloutConfig


@dataclass
class EvalRunConfig:
    """Settings of ``agentrl eval``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The env (``env=NAME`` picks a file of ``configs/env``)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy (``model=NAME`` picks a file of ``configs/model``; unused by ``agent=expert|random``)."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """What generates: the in-process model (``hf``) or a server (``backend.name=openai backend.url=...``)."""
    agent: Any = None
    """Who plays: ``agent=llm`` (the model: prompting and sampling, greedy by default; the env's ``agent`` block
    sets reply length, action tags and history), ``agent=expert`` or ``agent=random`` (on the same seeds)."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Batching and the turn limit."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Episodes, seeds and where results go."""


store("eval_schema", EvalRunConfig)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "eval",
        help="evaluate a model (or agent=expert|random) on an env with the fixed-seed protocol",
        description="Evaluate a model on an env. Arguments are Hydra overrides, e.g. "
        "env=sokoban model=tiny eval.episodes=50 agent.sampling.temperature=0.7, or agent=expert",
        add_help=False,
    )
    add_config_flags(parser, _settings_help)
    parser.set_defaults(run=run, accepts_overrides=True)


def _settings_help() -> str:
    from agentrl.cli.help import settings_help

    return settings_help(load("eval", [], EvalRunConfig), title="settings (the values of `agentrl eval` as typed)")


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    import torch
    from rich.console import Console

    from agentrl.agents.backends import load_backend
    from agentrl.agents.llm_agent import LLMAgent
    from agentrl.agents.models import fingerprint
    from agentrl.agents.scripted import make_scripted
    from agentrl.agents.types import save_jsonl
    from agentrl.factory import make_from_config
    from agentrl.trainer.evaluate import evaluate, git_revision, single_agent_env_id

    load_plugins(args.plugin)
    cfg = load("eval", overrides, EvalRunConfig, config_dirs=args.config_dir)
    if args.print_config:
        print_config(cfg)
        return 0
    console = Console(stderr=True)
    env_factory = functools.partial(make_from_config, cfg.env)
    env_id = single_agent_env_id(env_factory, cfg.env.id, "agentrl eval")
    model = backend = None
    if isinstance(cfg.agent, AgentConfig):
        torch.manual_seed(cfg.model.seed)
        where = f" (generating through {cfg.backend.url})" if cfg.backend.name == "openai" else ""
        console.print(f"loading {cfg.model.name}{where} ...")
        backend, tokenizer, model = load_backend(cfg.backend, cfg.model)
        agent: Any = LLMAgent(backend, tokenizer, cfg.agent)
        who = cfg.model.name
    else:
        agent = make_scripted(cfg.agent)
        who = cfg.agent.kind
    try:
        with console.status(f"evaluating on {cfg.eval.episodes} episodes of {env_id}") as status:
            done = []

            def progress(trajectory: Any) -> None:
                done.append(trajectory)
                status.update(f"evaluating: {len(done)}/{cfg.eval.episodes} episodes of {env_id}")

            result = evaluate(agent, env_factory, cfg.env, cfg.eval, cfg.rollout, env_id=env_id, on_episode=progress)
    finally:
        if backend is not None:
            backend.close()
    summary = result.summary
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(cfg.eval.output_dir)
    name = f"{env_id.replace('/', '_')}-{Path(who).name}-{stamp}"
    traj_path = save_jsonl(result.trajectories, out_dir / f"{name}.trajectories.jsonl")
    report = result.to_json()
    results = {
        **report,
        "env": {**report["env"], "config": asdict(cfg.env)},
        "agent": {"kind": "llm" if backend is not None else cfg.agent.kind, **asdict(cfg.agent)},
        "agent_stats": agent.state_dict(),
        "model": (
            {**asdict(cfg.model), "fingerprint": fingerprint(model) if model is not None else None}
            if backend is not None
            else None
        ),
        "backend": {**asdict(cfg.backend), **backend.stats()} if backend is not None else None,
        "rollout": asdict(cfg.rollout),
        "agentrl_version": _version(),
        "git_revision": git_revision(),
        "trajectories": str(traj_path),
    }
    result_path = out_dir / f"{name}.json"
    result_path.write_text(json.dumps(results, indent=2))
    success, score = summary["success"], summary["score"]
    split = f" ({result.split} split)" if result.split else ""
    print(
        f"{env_id}{split} | {who} | {summary['episodes']} episodes | "
        f"success {success['mean']:.3f} [{success['ci95'][0]:.3f}, {success['ci95'][1]:.3f}] | "
        f"score {score['mean']:.3f} [{score['ci95'][0]:.3f}, {score['ci95'][1]:.3f}] | "
        f"invalid actions {summary['invalid_action_rate']:.1%} | {result.seconds:.1f}s"
    )
    print(f"results: {result_path}")
    return 0


def _version() -> str:
    from agentrl import __version__

    return __version__
