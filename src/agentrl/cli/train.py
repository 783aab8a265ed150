"""``agentrl train``: train a policy with RL on an env, end to end.

    agentrl train                                   # the main job: GRPO, guess-the-number, tiny model
    agentrl train env=frozenlake algo=gigpo model=tiny train.iterations=40
    agentrl train env=guess algo=archer
    agentrl train env=sokoban algo=ppo model=smollm2 policy.lora=true
    torchrun --nproc-per-node 2 -m agentrl train ...   # data parallel: one process per GPU (Gloo on CPUs)
    agentrl train --help                            # every setting, with its documentation
    agentrl train --print-config env=webshop        # the composed config, without running
    agentrl train --plugin mypkg.algo --config-dir my_configs algo=mine   # an algorithm of your own

Settings are Hydra overrides over ``configs/train.yaml``, the env's file in
``configs/env``, the model's in ``configs/model`` and the algorithm's in
``configs/algo`` (``agentrl algos`` lists the algorithms); the agent's reply length,
action tags and history window come from the env's ``agent`` block. Evaluation runs
on the env's held-out split (``eval.split``). A run folder holds ``metrics.jsonl``, TensorBoard events,
checkpoints, ``results.json`` and ``learning_curve.png``; running the same command
again resumes it (``train.resume=auto``), and a command with other settings is refused
with the differences listed (``train.resume=force`` continues anyway and records them).
``env=`` takes any registered env id and ``model=`` an HF id or a local folder; every
override is checked before any work (:mod:`agentrl.cli.validate`).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from typing import Any

from agentrl.cli.config import add_config_flags, load, load_plugins, print_config, store
from agentrl.trainer.loop import Hooks, TrainRunConfig

store("train_schema", TrainRunConfig)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "train",
        help="train a policy with RL (agentrl algos lists the algorithms)",
        description="Train a policy with RL. Arguments are Hydra overrides, e.g. "
        "env=frozenlake algo=gigpo model=tiny train.iterations=40 rollout.group_size=8",
        add_help=False,
    )
    add_config_flags(parser, _settings_help)
    parser.set_defaults(run=run, accepts_overrides=True)


def _settings_help() -> str:
    from agentrl.cli.help import settings_help

    # The composed defaults (the main job's), so each setting shows the value a run gets.
    return settings_help(load_train_config([]), title="settings (the values of `agentrl train` as typed)")


def load_train_config(
    overrides: Sequence[str], *, plugins: Sequence[str] = (), config_dirs: Sequence[str] = ()
) -> TrainRunConfig:
    """The run's config: ``plugins`` imported, the algorithm table loaded, ``overrides`` composed over
    ``configs/train.yaml`` (and ``config_dirs``)."""
    from agentrl.trainer.algorithm import algorithm_table

    load_plugins(plugins)
    algorithm_table()  # every algorithm's schema is stored before composing
    cfg = load("train", overrides, TrainRunConfig, config_dirs=config_dirs)
    recipe = applied_recipe(cfg, overrides, config_dirs)
    if recipe:  # the env's recipe goes first; what the user typed wins
        cfg = load("train", [*recipe, *overrides], TrainRunConfig, config_dirs=config_dirs)
    return cfg


def applied_recipe(cfg: TrainRunConfig, overrides: Sequence[str], config_dirs: Sequence[str] = ()) -> list[str]:
    """The overrides of the env's ``train_recipe`` that the user's ``overrides`` leave in place."""
    from agentrl.cli import validate
    from agentrl.cli.recipes import recipe_overrides

    if not cfg.env.train_recipe:
        return []
    return recipe_overrides(cfg.env.train_recipe, overrides, validate.config_groups(TrainRunConfig, config_dirs))


class RichHooks(Hooks):
    """Progress bars and one line per evaluation, on stderr; where stderr is no terminal (a log file), which shows
    no bars, also one line per iteration and per evaluation episode."""

    def __init__(self, console: Any, progress: Any):
        self.console, self.progress = console, progress
        self.iterations = progress.add_task("iterations", total=None)
        self.episodes = progress.add_task("rollout", total=None)
        self.lines = not console.is_terminal
        self.total = 0
        self.evaluation: list[bool] | None = None
        """The outcomes of the evaluation under way (None: none is)."""

    def iteration_start(self, iteration: int, total: int, episodes: int) -> None:
        if iteration < 0:  # the warm-up's expert demonstrations
            self.progress.reset(self.episodes, total=episodes, description="expert demonstrations")
            return
        self.total = total
        self.progress.update(self.iterations, total=total, completed=iteration)
        self.progress.reset(self.episodes, total=episodes, description=f"rollout {iteration + 1}/{total}")

    def evaluation_start(self, episodes: int) -> None:
        self.evaluation = []
        self.progress.reset(self.episodes, total=episodes, description="evaluation")

    def episode_done(self, trajectory: Any) -> None:
        self.progress.advance(self.episodes)
        if self.lines and self.evaluation is not None:
            self.evaluation.append(trajectory.won)
            self.console.print(
                f"evaluation episode {len(self.evaluation)} (seed {trajectory.seed}): "
                f"{'won' if trajectory.won else 'not won'} in {len(trajectory.turns)} turns, "
                f"success so far {sum(self.evaluation)}/{len(self.evaluation)}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def record(self, record: dict[str, Any]) -> None:
        if record["kind"] == "warmup":
            self.console.print(
                f"warm-up: {record['demonstrations']:.0f} expert episodes ({record['demonstration_steps']:.0f} "
                f"turns), loss {record.get('sft_loss', float('nan')):.3f}, {record['seconds']:.0f} s"
            )
            return
        if record["kind"] == "eval":
            self.evaluation = None
            low, high = record["success_ci95"]
            when = (
                "after the warm-up" if record.get("phase") == "warm-up" else f"after {record['iteration']} iterations"
            )
            self.console.print(
                f"eval{_split_note(record['split'])} {when} "
                f"({record['env_steps']} env steps): "
                f"success {record['success']:.3f} [{low:.3f}, {high:.3f}], "
                f"invalid actions {record['invalid_action_rate']:.1%}"
                + (f" (replies repaired {record['repaired_rate']:.1%})" if record.get("repaired_rate") else "")
                + (
                    f", agrees with the expert on {record['expert_agreement']:.1%} of turns"
                    if record.get("expert_agreement") is not None
                    else ""
                )
            )
        else:
            self.progress.update(self.iterations, completed=record["iteration"] + 1)
            if "success" in record:  # an iteration with rollouts
                rates = f"success {record['success']:.2f}, invalid {record['invalid_action_rate']:.0%}"
            else:  # no rollouts (sft, digiq): the losses the algorithm reports
                losses = [f"{k.removesuffix('_loss')} loss {v:.3f}" for k, v in record.items() if k.endswith("_loss")]
                rates = ", ".join(losses) or "no loss reported"
            self.progress.update(self.iterations, description=f"iterations ({rates})")
            if self.lines:
                self.console.print(
                    f"iteration {record['iteration'] + 1}/{self.total}: {rates}, {record['env_steps']} env steps, "
                    f"{record['seconds']:.0f} s",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

    def message(self, text: str) -> None:
        self.console.print(text)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentrl.factory import make_from_config
    from agentrl.trainer.loop import train

    cfg = load_train_config(overrides, plugins=args.plugin, config_dirs=args.config_dir)
    if args.print_config:
        print_config(cfg)
        return 0
    console = Console(stderr=True)
    recipe = applied_recipe(cfg, overrides, args.config_dir)
    if recipe:
        console.print(
            f"the env's recipe (env.train_recipe; any setting you give wins): {' '.join(recipe)}", highlight=False
        )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        results = train(cfg, functools.partial(make_from_config, cfg.env), RichHooks(console, progress))
    if not results:  # a data-parallel rank other than 0: rank 0 reports
        return 0
    a_low, a_high = results["success_after_ci95"]
    before = "not evaluated (train.eval_before=false)"
    if results["success_before"] is not None:
        b_low, b_high = results["success_before_ci95"]
        before = f"{results['success_before']:.3f} [{b_low:.3f}, {b_high:.3f}]"
    warm = ""
    if "success_after_warmup" in results:
        w_low, w_high = results["success_after_warmup_ci95"]
        warm = f" -> {results['success_after_warmup']:.3f} [{w_low:.3f}, {w_high:.3f}] (warm-up)"
    print(
        f"{results['env']['id']} | {cfg.algo.name} | {cfg.model.name} | {results['iterations']} iterations, "
        f"{results['env_steps']} env steps | success {before}"
        f"{warm} -> {results['success_after']:.3f} [{a_low:.3f}, {a_high:.3f}] on {len(results['eval_seeds'])} "
        f"eval seeds{_split_note(results['eval']['split'])}"
    )
    print(f"run: {results['run_dir']} (learning curve: {results['learning_curve']})")
    return 0


def _split_note(split: str | None) -> str:
    return f" of the {split} split" if split else ""
