"""``agentrl eval``: the fixed-seed evaluation of a model (or the expert, or a random agent) on an env.

    agentrl eval env=sokoban model=smollm2 eval.episodes=50
    agentrl eval env=sokoban model=smollm2 backend.name=openai backend.url=http://127.0.0.1:8080/v1
    agentrl eval env=webshop agent=expert          # the oracle on the same seeds: a model's reference point
    agentrl eval env=alfworld agent=random         # chance level
    agentrl eval env=alfworld eval.split=train     # another split than the env's held-out one
    agentrl eval env=webshop memory=on             # with a case memory (docs/memory.md)
    agentrl eval init_from=runs/train/webshop-sft  # a training run's weights, as its own evaluations play them

The second form plays through any OpenAI-compatible server (``agentrl serve-model``,
vLLM, llama.cpp's Python server); only the model's tokenizer is loaded here. The env
is evaluated on its held-out split where it has one (``eval.split=auto``: ALFWorld's
``eval_unseen``, ScienceWorld's ``test``, WebShop's ``test`` goals). Prints success
and score with 95% intervals and writes a results JSON (env, split, env arguments,
agent, model, sampling, seeds, version, git revision) and the trajectories (JSONL)
under ``eval.output_dir``.

``init_from`` evaluates a training run's policy (a run folder's newest checkpoint, or a
checkpoint file; LoRA adapters merged): the env, model, agent and rollout settings are
the run's own (its ``config.json``; the agent decodes greedily, as the run's evaluations
do), so the figures are comparable with the run's, and any of them given on the command
line wins (``env=NAME`` or ``agent=NAME`` replaces the run's group, ``agent.X=...`` one
setting of it).

Both files are written as episodes finish (``"complete": false`` in the results until
the end), so a killed evaluation keeps what it played, and running the same command
again continues it: the episodes already in the files are not played again, and the
final files are those of an uninterrupted run (exactly so when decoding is greedy, the
default, or the agent is scripted). The file names end in a digest of the settings the
episodes depend on, so an evaluation with other settings gets files of its own. When
stderr is not a terminal (a log file), each episode prints a progress line.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrl.agents.backends import BackendConfig
from agentrl.agents.llm_agent import AgentConfig
from agentrl.agents.models import ModelConfig
from agentrl.cli.config import add_config_flags, load, load_plugins, print_config, store
from agentrl.envs.config import EnvConfig
from agentrl.memory.config import MemoryConfig
from agentrl.trainer.evaluate import EvalConfig, EvalResult
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
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    """AgentFly's case memory (``memory=on``): cases retrieved into the prompt, one written after every episode."""
    init_from: str = ""
    """A training run's folder (its newest checkpoint) or checkpoint file whose policy weights are evaluated, with the
    run's env, model, agent (greedy) and rollout settings unless given here (empty: the model as packaged)."""


store("eval_schema", EvalRunConfig)

RUN_GROUPS = {"env": EnvConfig, "model": ModelConfig, "agent": AgentConfig, "rollout": RolloutConfig}
"""The settings ``init_from`` takes from the training run (those the policy was trained and evaluated with)."""


def with_run_settings(cfg: EvalRunConfig, saved: dict[str, Any], overrides: list[str]) -> list[str]:
    """Put the training run's ``saved`` settings of :data:`RUN_GROUPS` into ``cfg`` under the command line's:
    a group the command line selects (``env=webshop``) stays as composed, and each ``GROUP.KEY=VALUE`` given is
    applied on top of the run's. The agent decodes greedily, as the run's own evaluations, unless
    ``agent.sampling.temperature`` is given. Returns the groups taken from the run."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from agentrl.cli import validate

    parsed = [o for o in validate.parse(overrides) if not o.is_sweep_override()]
    taken = []
    for group, schema in RUN_GROUPS.items():
        if group not in saved or any(o.key_or_group == group for o in parsed):
            continue
        try:
            node = OmegaConf.merge(OmegaConf.structured(schema), saved[group])
            if group == "agent":
                node.sampling.temperature = 0.0
            for o in parsed:
                key = o.key_or_group
                if not key.startswith(group + "."):
                    continue
                if o.is_delete():
                    parent, _, last = key[len(group) + 1 :].rpartition(".")
                    container = OmegaConf.select(node, parent) if parent else node
                    if isinstance(container, DictConfig) and last in container:
                        del container[last]
                else:
                    OmegaConf.update(node, key[len(group) + 1 :], o.value(), merge=True)
            setattr(cfg, group, OmegaConf.to_object(node))
        except OmegaConfBaseException as err:
            raise ValueError(
                f"init_from={cfg.init_from}: the run's {group} settings do not fit this version of agentrl "
                f"({validate.hydra_message(err)}); give {group}=NAME to evaluate with the packaged ones"
            ) from err
        taken.append(group)
    validate.check_values(cfg)
    return taken


def load_eval_config(
    overrides: list[str], config_dirs: Sequence[str] = (), init_setting: str = "init_from"
) -> tuple[EvalRunConfig, Path | None, list[str] | None]:
    """The settings of ``agentrl eval``; with ``init_from``, also the checkpoint it names and the groups taken from
    its run (None: the checkpoint has no run folder's ``config.json`` beside it). ``init_setting`` is how the
    caller's user wrote ``init_from`` (a flag, for ``agentrl data score``), named when no checkpoint is there."""
    from agentrl.cli import validate
    from agentrl.factory import short_name_of
    from agentrl.trainer.checkpoint import checkpoint_of, run_settings

    parsed = validate.parse(overrides)
    given = [str(o.value()) for o in parsed if o.key_or_group == "init_from" and not o.is_delete()]
    if not (given and given[-1]):
        return load("eval", overrides, EvalRunConfig, config_dirs=config_dirs), None, None
    checkpoint = checkpoint_of(given[-1], init_setting)
    saved = run_settings(given[-1])
    # Compose over the run's env file (when it is a shipped one), so that the command line's env.* settings are
    # checked against the env the run trained on, not eval's default one.
    env_id = (saved or {}).get("env", {}).get("id")
    name = short_name_of(env_id) if isinstance(env_id, str) else None
    picks_env = any(o.key_or_group in ("env", "env.id") for o in parsed)
    selection = [f"env={name}"] if name and not picks_env else []
    cfg = load("eval", [*selection, *overrides], EvalRunConfig, config_dirs=config_dirs)
    if not isinstance(cfg.agent, AgentConfig):
        raise ValueError("init_from evaluates a policy's weights: it needs agent=llm (the default)")
    if cfg.backend.name != "hf":
        raise ValueError("init_from loads weights into an in-process model: use backend.name=hf (the default)")
    taken = with_run_settings(cfg, saved, overrides) if saved is not None else None
    return cfg, checkpoint, taken


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

    from agentrl.agents.backends import check_reply_scorer, load_backend, reply_scorer
    from agentrl.agents.llm_agent import LLMAgent
    from agentrl.agents.models import fingerprint
    from agentrl.agents.scripted import make_scripted
    from agentrl.factory import make_from_config
    from agentrl.trainer.evaluate import (
        EvalRecord,
        eval_env_overrides,
        eval_seeds,
        evaluate,
        git_revision,
        single_agent_env_id,
    )

    load_plugins(args.plugin)
    cfg, checkpoint, taken = load_eval_config(overrides, args.config_dir)
    if args.print_config:
        print_config(cfg)
        return 0
    console = Console(stderr=True)
    if checkpoint is not None:
        console.print(
            f"evaluating the weights of {checkpoint}"
            + (f", with the run's {', '.join(taken)} settings" if taken else "")
            + (" (no config.json beside it: the settings are this command's)" if taken is None else "")
        )
    env_factory = functools.partial(make_from_config, cfg.env)
    env_id = single_agent_env_id(env_factory, cfg.env.id, "agentrl eval")
    seeds = eval_seeds(cfg.eval)
    model = backend = tokenizer = None
    if isinstance(cfg.agent, AgentConfig):
        check_reply_scorer(cfg.backend, cfg.agent.repair_invalid)  # before a model loads or a server starts
        torch.manual_seed(cfg.model.seed)
        where = f" (generating through {cfg.backend.url})" if cfg.backend.name == "openai" else ""
        console.print(f"loading {cfg.model.name}{where} ...")
        backend, tokenizer, model = load_backend(cfg.backend, cfg.model)
        who, kind = cfg.model.name, "llm"
        try:  # a refused checkpoint or setting closes the backend
            if checkpoint is not None:
                from agentrl.trainer.checkpoint import load_init_weights

                # the hf backend generates with this very model object; the checkpoint resolved above, even if the
                # run has written a newer one since
                load_init_weights(model, checkpoint, "init_from")
                who = checkpoint.parent.name or who
            agent: Any = LLMAgent(backend, tokenizer, cfg.agent, scorer=reply_scorer(backend, cfg.agent.repair_invalid))
        except ValueError:
            backend.close()
            raise
        model_info: dict[str, Any] | None = {
            **asdict(cfg.model),
            "fingerprint": fingerprint(model) if model is not None else None,
            **({"init_from": str(checkpoint)} if checkpoint is not None else {}),
        }
    else:
        agent = make_scripted(cfg.agent)
        who, kind, model_info = cfg.agent.kind, cfg.agent.kind, None
    memory = None
    if cfg.memory.enabled:
        from agentrl.memory import CaseMemory, with_memory

        memory = CaseMemory(cfg.memory)
        console.print(f"case memory: {memory.bank.path} ({len(memory.bank)} cases)")
        agent = with_memory(agent, memory, backend=backend, tokenizer=tokenizer if backend else None, source="eval")
    split, env_overrides = eval_env_overrides(cfg.env, cfg.eval)
    env_kwargs = {**dict(cfg.env.kwargs), **env_overrides}
    # What the episodes depend on (not where they run or how many at once): the same settings continue one
    # evaluation, other settings make another.
    served = {k: getattr(cfg.backend, k) for k in ("name", "served_model", "prompt_format")}
    settings = {
        "env": asdict(cfg.env),
        "split": split,
        "env_kwargs": env_kwargs,
        "seeds": seeds,
        "agent": {"kind": kind, **asdict(cfg.agent)},
        "model": model_info,
        "backend": served if backend is not None else None,
        "max_turns": cfg.rollout.max_turns,
        **({"memory": asdict(cfg.memory)} if cfg.memory.enabled else {}),
    }
    record = EvalRecord(cfg.eval.output_dir, f"{env_id.replace('/', '_')}-{Path(who).name}", settings)
    finished, previous = record.resume()
    revision = git_revision()
    seconds_before = float(previous["seconds"]) if previous else 0.0
    if previous is not None:
        agent.load_state_dict(previous["agent_stats"])  # counters (and sampling seeds) go on from where they were
        other = "" if previous["git_revision"] == revision else f" (by revision {previous['git_revision']})"
        console.print(
            f"continuing {record.results_path}: {len(finished)} of {len(seeds)} episodes already played{other} "
            f"(delete it to play them again)"
        )

    def results(trajectories: list[Any], seconds: float, complete: bool) -> dict[str, Any]:
        report = EvalResult(env_id, split, env_kwargs, seeds, trajectories, seconds).to_json()
        return {
            **report,
            "complete": complete,
            "env": {**report["env"], "config": asdict(cfg.env)},
            "agent": {"kind": kind, **asdict(cfg.agent)},
            "agent_stats": agent.state_dict(),
            "model": model_info,
            "backend": {**asdict(cfg.backend), **backend.stats()} if backend is not None else None,
            "rollout": asdict(cfg.rollout),
            "agentrl_version": _version(),
            "git_revision": revision,
            "trajectories": str(record.trajectories_path),
        }

    record.write(results(finished, seconds_before, False))  # the settings are on disk before any episode
    played = list(finished)
    tick = time.perf_counter()
    lines = not console.is_terminal  # a log file shows no status line: one line per episode instead
    try:
        with console.status(f"evaluating on {len(seeds)} episodes of {env_id}") as status:

            def progress(trajectory: Any) -> None:
                played.append(trajectory)
                record.add(trajectory)
                elapsed = seconds_before + time.perf_counter() - tick
                record.write(results(sorted(played, key=lambda t: t.seed), elapsed, False))
                wins = sum(t.won for t in played)
                status.update(f"evaluating: {len(played)}/{len(seeds)} episodes of {env_id}, {wins} won")
                if lines:
                    outcome = "won" if trajectory.won else "not won"
                    console.print(
                        f"episode {len(played)}/{len(seeds)} (seed {trajectory.seed}): {outcome} in "
                        f"{len(trajectory.turns)} turns, return {trajectory.total_reward:g} | "
                        f"success so far {wins}/{len(played)} | {elapsed:.0f}s",
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )

            result = evaluate(
                agent,
                env_factory,
                cfg.env,
                cfg.eval,
                cfg.rollout,
                env_id=env_id,
                on_episode=progress,
                finished=finished,
            )
    finally:
        if backend is not None:
            backend.close()
        if memory is not None:
            held = len(memory.bank)
            memory.close()
    record.finish(result.trajectories, results(result.trajectories, seconds_before + result.seconds, True))
    summary = result.summary
    success, score = summary["success"], summary["score"]
    where = f" ({result.split} split)" if result.split else ""
    print(
        f"{env_id}{where} | {who} | {summary['episodes']} episodes | "
        f"success {success['mean']:.3f} [{success['ci95'][0]:.3f}, {success['ci95'][1]:.3f}] | "
        f"score {score['mean']:.3f} [{score['ci95'][0]:.3f}, {score['ci95'][1]:.3f}] | "
        f"invalid actions {summary['invalid_action_rate']:.1%}"
        + (f" (replies repaired {summary['repaired_rate']:.1%})" if summary["repaired_rate"] else "")
        + (
            f" | agrees with the expert on {summary['expert_agreement']:.1%} of turns"
            if summary["expert_agreement"] is not None
            else ""
        )
        + f" | {seconds_before + result.seconds:.1f}s"
    )
    if isinstance(agent, LLMAgent) and (agent.prompt_stats.cut_prompts or agent.prompt_stats.truncated_observations):
        stats = agent.prompt_stats
        print(
            f"prompt budget of {agent.max_prompt_tokens} tokens: {stats.cut_prompts} of {stats.prompts} prompts "
            f"left out past turns ({stats.truncated_turns} in all), {stats.truncated_observations} observations "
            f"were cut (agent.max_prompt_tokens, agent.history)"
        )
    if memory is not None:
        print(f"case memory: {memory.bank.path} now holds {held} cases")
    print(f"results: {record.results_path}")
    return 0


def _version() -> str:
    from agentrl import __version__

    return __version__
