"""``agentrl collect``: play episodes and save them as a trajectory dataset; ``agentrl data``: inspect, merge, score.

    agentrl collect env=webshop agent=expert model=smollm2 collect.episodes=200
    agentrl collect env=alfworld agent=random collect.episodes=50 collect.output=datasets/alf-random
    agentrl collect env=sokoban agent=llm model=smollm2 agent.sampling.temperature=1.0
    agentrl data stats datasets/webshop-expert-smollm2-s0
    agentrl data show datasets/webshop-expert-smollm2-s0 --episode 3
    agentrl data merge OUT IN1 IN2 ...
    agentrl data score datasets/webshop-heldout --init-from runs/train/webshop-sft --by-turn

A dataset's turns hold the exact prompt and reply token ids that ``model``'s prompt
builder produces with the prompt settings (``prompt``, which default to the env's
``agent`` block as ``agentrl train`` uses them): for ``agent=expert|random`` the
teacher's actions are written as the model would write them, so ``algo=sft`` on the
dataset trains on what a rollout will show the model. Episodes are played on training
seeds ``collect.seed ...`` of the env as configured; the evaluation split and seeds are
refused. Shards are written as episodes finish, so a killed collection keeps what it
finished. ``data score`` gives a model's teacher-forced fit on datasets' replies (as the
warm-up's held-out figures), for a run's weights or a packaged model, per turn number too.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrl.agents.backends import BackendConfig
from agentrl.agents.llm_agent import AgentConfig
from agentrl.agents.models import ModelConfig
from agentrl.cli.config import add_config_flags, load, load_plugins, print_config, store
from agentrl.cli.validate import add_rules, at_least
from agentrl.envs.config import EnvConfig
from agentrl.trainer.evaluate import EvalConfig
from agentrl.trainer.rollout import RolloutConfig


@dataclass
class CollectConfig:
    """How many episodes to collect and where they go."""

    episodes: int = 100
    """Episodes to play, on seeds ``seed .. seed + episodes - 1``."""
    seed: int = 0
    """First seed (all seeds must stay below ``eval.seed`` and the test seeds: ``eval.train_below``)."""
    output: str = ""
    """Dataset folder ('' : datasets/<env>-<agent>-<model>-s<seed>)."""
    shard_size: int = 100
    """Episodes per shard (each shard is written as soon as it is full)."""
    overwrite: bool = False
    """Replace a dataset already in ``output``."""
    only_successful: bool = False
    """Keep only won episodes."""


@dataclass
class CollectRunConfig:
    """Settings of ``agentrl collect``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The env (``env=NAME`` picks a file of ``configs/env``); played as configured (its training split)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The model whose tokenizer and chat template make the token ids (and which plays with ``agent=llm``)."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """What generates with ``agent=llm``."""
    agent: Any = None
    """Who plays: ``agent=expert`` (default), ``agent=random`` or ``agent=llm`` (the model)."""
    prompt: AgentConfig = field(default_factory=AgentConfig)
    """The prompt settings the token ids are built with (for ``agent=llm``, its own settings are used)."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Batching and the turn limit."""
    collect: CollectConfig = field(default_factory=CollectConfig)
    """Episodes, seeds, output."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """The evaluation protocol whose split and seeds are kept out of the dataset."""


store("collect_schema", CollectRunConfig)
add_rules(CollectConfig, episodes=at_least(1), seed=at_least(0), shard_size=at_least(1))


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "collect",
        help="play episodes (expert, random or a model) and save them as a trajectory dataset",
        description="Collect a trajectory dataset. Arguments are Hydra overrides, e.g. "
        "env=webshop agent=expert model=smollm2 collect.episodes=200",
        add_help=False,
    )
    add_config_flags(parser, _settings_help)
    parser.set_defaults(run=run, accepts_overrides=True)

    data = sub.add_parser("data", help="inspect and merge trajectory datasets")
    verbs = data.add_subparsers(dest="verb", metavar="VERB", required=True)
    stats = verbs.add_parser("stats", help="episodes, turns, success, tokens and provenance of datasets")
    stats.add_argument("paths", nargs="+", help="dataset folders")
    stats.add_argument("--json", action="store_true", help="print JSON")
    show = verbs.add_parser("show", help="print one episode turn by turn")
    show.add_argument("path", help="a dataset folder, or a trajectories file (.jsonl) of an evaluation or a run")
    show.add_argument("--episode", type=int, default=0, help="which episode (0-based)")
    show.add_argument("--tokens", action="store_true", help="also print the token ids")
    merge = verbs.add_parser("merge", help="merge datasets of one env and one model into a new one")
    merge.add_argument("output", help="the new dataset folder")
    merge.add_argument("inputs", nargs="+", help="dataset folders")
    merge.add_argument("--overwrite", action="store_true", help="replace a dataset already in OUTPUT")
    score = verbs.add_parser(
        "score",
        help="how well a model fits datasets' replies, teacher-forced: loss, token probability, replies written whole",
    )
    score.add_argument("paths", nargs="+", help="dataset folders")
    who = score.add_mutually_exclusive_group(required=True)
    who.add_argument("--init-from", help="a training run's folder (its newest checkpoint) or a checkpoint file")
    who.add_argument("--model", help="a packaged model as it is (a configs/model name: smollm2, tiny)")
    score.add_argument("--by-turn", action="store_true", help="also per turn number (0: each episode's first turn)")
    score.add_argument("--json", action="store_true", help="print JSON")
    data.set_defaults(run=run_data)


def _settings_help() -> str:
    from agentrl.cli.help import settings_help

    return settings_help(
        load("collect", [], CollectRunConfig), title="settings (the values of `agentrl collect` as typed)"
    )


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    import torch
    from rich.console import Console

    from agentrl.agents.backends import check_reply_scorer, load_backend, reply_scorer
    from agentrl.agents.dataset import DatasetWriter
    from agentrl.agents.llm_agent import DemonstrationAgent, LLMAgent
    from agentrl.agents.models import fingerprint, load_tokenizer
    from agentrl.agents.scripted import make_scripted
    from agentrl.factory import make_from_config
    from agentrl.trainer.evaluate import eval_env_overrides, eval_seeds, single_agent_env_id, training_seed_bound
    from agentrl.trainer.rollout import collect

    load_plugins(args.plugin)
    cfg = load("collect", overrides, CollectRunConfig, config_dirs=args.config_dir)
    if args.print_config:
        print_config(cfg)
        return 0
    c = cfg.collect
    seeds = list(range(c.seed, c.seed + c.episodes))
    held_out, _ = eval_env_overrides(cfg.env, cfg.eval)
    split = cfg.env.kwargs.get("split")
    if held_out is not None and split == held_out:
        raise ValueError(
            f"env.kwargs.split={split} is the split evaluations run on; collect on a training split "
            f"(the env config's own: {cfg.env.kwargs.get('split')})"
        )
    bound = training_seed_bound(cfg.eval)
    if held_out is None and max(seeds) >= bound:
        first = eval_seeds(cfg.eval)[0]
        raise ValueError(
            f"seeds {c.seed}..{max(seeds)} reach the evaluation seeds ({first}..) or the test seeds "
            f"({bound}..): keep collect.seed + collect.episodes <= {bound}"
        )
    console = Console(stderr=True)
    env_factory = functools.partial(make_from_config, cfg.env)
    env_id = single_agent_env_id(env_factory, cfg.env.id, "agentrl collect")
    torch.manual_seed(cfg.model.seed)
    backend = model = None
    if isinstance(cfg.agent, AgentConfig):
        check_reply_scorer(cfg.backend, cfg.agent.repair_invalid)  # before a model loads or a server starts
        backend, tokenizer, model = load_backend(cfg.backend, cfg.model)
        agent: Any = LLMAgent(backend, tokenizer, cfg.agent, scorer=reply_scorer(backend, cfg.agent.repair_invalid))
        prompt, who = cfg.agent, "llm"
    else:
        tokenizer = load_tokenizer(cfg.model)
        agent = DemonstrationAgent(make_scripted(cfg.agent), tokenizer, cfg.prompt)
        prompt, who = cfg.prompt, cfg.agent.kind
    out = Path(c.output or f"datasets/{env_id.split('/')[-1]}-{who}-{Path(cfg.model.name).name}-s{c.seed}")
    writer = DatasetWriter(
        out,
        env={"id": env_id, "split": split, "config": asdict(cfg.env)},
        agent={"kind": who, **asdict(cfg.agent)},
        model={"name": cfg.model.name, "fingerprint": fingerprint(model) if model is not None else None},
        prompt=asdict(prompt),
        shard_size=c.shard_size,
        overwrite=c.overwrite,
    )
    kept = []

    def keep(trajectory: Any) -> None:
        if trajectory.won or not c.only_successful:
            writer.add(trajectory)
            kept.append(trajectory.won)
        status.update(f"collecting {env_id}: {len(kept)} kept of {c.episodes} episodes")

    try:
        with console.status(f"collecting {c.episodes} episodes of {env_id}") as status:
            collect(env_factory, agent, seeds, cfg.rollout, env_id=env_id, on_episode=keep)
    finally:
        writer.close()
        if backend is not None:
            backend.close()
    wins = sum(kept)
    print(f"{env_id} | {who} | {len(kept)} episodes kept of {c.episodes} | success {wins / max(len(kept), 1):.3f}")
    print(f"dataset: {out}")
    return 0


def run_data(args: argparse.Namespace, overrides: list[str]) -> int:
    from agentrl.agents.dataset import merge_datasets, open_dataset

    if args.verb == "stats":
        rows = [open_dataset(p).stats() for p in args.paths]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for row in rows:
            print(
                f"{row['path']}: {row['env']} ({row['split'] or 'no split'}) | {row['agent'].get('kind')} | "
                f"model {row['model']} | {row['episodes']} episodes, {row['turns']} turns | success "
                f"{row['success']:.3f} | invalid {row['invalid_action_rate']:.1%} | tokens/turn "
                f"{row['mean_prompt_tokens']:.0f} prompt + {row['mean_response_tokens']:.1f} reply "
                f"| seeds {row['seeds']}"
            )
        return 0
    if args.verb == "score":
        return score_datasets(args)
    if args.verb == "show":
        if Path(args.path).is_file():  # an evaluation's or a run's trajectories (save_jsonl)
            from agentrl.agents.types import load_jsonl

            trajectories = list(load_jsonl(args.path))
        else:
            trajectories = open_dataset(args.path).trajectories()
        if not 0 <= args.episode < len(trajectories):
            raise ValueError(f"--episode must be in 0..{len(trajectories) - 1}")
        trajectory = trajectories[args.episode]
        print(f"{trajectory.env_id} seed {trajectory.seed} | task: {trajectory.task}")
        print(trajectory.initial_observation)
        for number, turn in enumerate(trajectory.turns):
            flag = " (invalid)" if turn.info.get("invalid_action") else ""
            if turn.repaired_from is not None:
                flag += f" (repaired: the model wrote {turn.repaired_from!r})"
            if turn.expert_action is not None and turn.expert_action != turn.action_text:
                flag += f" (the expert: {turn.expert_action!r})"
            print(f"\n--- turn {number}: {turn.response_text!r} -> {turn.action_text!r}{flag}, reward {turn.reward:g}")
            if args.tokens:
                print(
                    f"prompt ids ({len(turn.prompt_ids)}): ...{turn.prompt_ids[-12:]}  reply ids: {turn.response_ids}"
                )
            print(turn.observation_text)
        print(f"\nwon: {trajectory.won}, return {trajectory.total_reward:g}")
        return 0
    path = merge_datasets(args.inputs, args.output, overwrite=args.overwrite)
    print(f"merged {len(args.inputs)} datasets into {path}")
    return 0


def score_datasets(args: argparse.Namespace) -> int:
    """``agentrl data score``: the teacher-forced fit of a model (a run's weights, or a packaged model) on datasets'
    replies, as the warm-up's held-out figures (:func:`agentrl.trainer.sft.demonstration_fit`); nothing is trained."""
    from collections import defaultdict

    from agentrl.agents.dataset import open_dataset
    from agentrl.agents.models import load_model
    from agentrl.cli.evaluate import load_eval_config
    from agentrl.trainer.checkpoint import load_init_weights
    from agentrl.trainer.policy import Policy
    from agentrl.trainer.sft import SupervisedConfig, check_vocabulary, fit_figures, prompt_differences, turn_fits

    datasets = [open_dataset(path) for path in args.paths]  # a corrupt or foreign dataset fails before the model loads
    source = f"init_from={args.init_from}" if args.init_from else f"model={args.model}"
    cfg, checkpoint, _ = load_eval_config([source], init_setting="--init-from")
    model, tokenizer = load_model(cfg.model)
    if checkpoint is not None:
        load_init_weights(model, checkpoint, "--init-from")
    policy = Policy(model)
    rows = []
    for path, dataset in zip(args.paths, datasets, strict=True):
        by_turn: dict[int, list[Any]] = defaultdict(list)
        for trajectory in dataset.trajectories():
            for number, turn in enumerate(trajectory.turns):
                if turn.prompt_ids and turn.response_ids:
                    by_turn[number].append(turn)
        turns = [turn for number in sorted(by_turn) for turn in by_turn[number]]
        if not turns:
            raise ValueError(f"{path} holds no turn with a reply to score")
        check_vocabulary(turns, len(tokenizer), path)
        # a run's prompts are its agent's; a packaged model has no prompt settings of its own to compare with
        changed = prompt_differences(dataset.manifest.prompt or {}, cfg.agent) if checkpoint is not None else {}
        if changed:
            described = ", ".join(f"{k}={was!r} (the run's: {now!r})" for k, (was, now) in changed.items())
            print(f"warning: {path} was built with other prompt settings than the run's: {described}", file=sys.stderr)
        pad_id = int(tokenizer.pad_token_id)
        fits = turn_fits(policy, turns, SupervisedConfig(), pad_id)  # turns in turn-number order
        row: dict[str, Any] = {"path": path, "turns": len(turns), **fit_figures(fits)}
        if args.by_turn:
            row["by_turn"], first = {}, 0
            for number in sorted(by_turn):
                count = len(by_turn[number])
                row["by_turn"][number] = {"turns": count, **fit_figures(fits[first : first + count])}
                first += count
        rows.append(row)
    scored = str(checkpoint) if checkpoint is not None else f"{cfg.model.name} as packaged"
    if args.json:
        print(json.dumps({"model": scored, "datasets": rows}, indent=2))
        return 0
    print(
        f"scored by {scored} (teacher-forced: loss and probability per reply token, share of replies greedy "
        "decoding writes whole)"
    )
    for row in rows:
        print(f"{row['path']}: {_fit_line(row)}")
        for number, fit in row.get("by_turn", {}).items():
            print(f"  turn {number}: {_fit_line(fit)}")
    return 0


def _fit_line(fit: dict[str, Any]) -> str:
    return (
        f"{fit['turns']} turns | loss {fit['loss']:.3f} | token probability {fit['token_prob']:.3f} | "
        f"replies written whole {fit['reply_exact']:.2f}"
    )
