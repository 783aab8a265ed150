"""Sample efficiency: env samples each algorithm needs to reach a target success rate.

Two comparisons, same model, same budget, several seeds, run through ``agentrl train``'s
own loop:

* ArCHer (with and without its token-level baseline) vs token-level PPO on an
  information-seeking env: Twenty Questions (``--info-env twenty_questions``, the default;
  the paper's headline env, here with a scripted oracle, 20 turns, evaluated on its test
  objects) or guess the number (``--info-env guess``);
* GiGPO vs GRPO on a grid world whose states repeat across a group (FrozenLake on
  Gymnasium's fixed 4x4 map, the default, or Sokoban: ``--grid-env sokoban``), where
  GiGPO's anchor-state step advantages apply.

For each run it reports the env steps (turns) after which the rollout success rate,
averaged over a window of iterations, first reaches ``--target`` (null when it never
does within the budget), and the final eval success. Figures are printed as JSON;
nothing is asserted. About 15 minutes on 2 CPU cores with ``--info-env guess``; Twenty Questions costs
far more (its episodes run to 20 turns under a ~660-token question list, ~1,900 tokens with the tiny model's
tokenizer): a smoke run of PPO, 2 iterations of 2 tasks, took 10 minutes on 2 shared cores. With a random
tiny model every reply is invalid there; the comparison needs a model that can ask (SmolLM2 after
``algo=sft`` on the expert's episodes, issue 17)::

    python benchmarks/sample_efficiency.py --seeds 3 --iterations 15
    python benchmarks/sample_efficiency.py --only grid_repeated_states
    python benchmarks/sample_efficiency.py --only info_seeking --algos ppo,archer_token_baseline
    python benchmarks/sample_efficiency.py --only info_seeking --info-env guess
    python benchmarks/sample_efficiency.py --only info_seeking --info-env guess --model smollm2 \
        --init-from SFT_RUN --target 0.8 --override algo.pg.lr=1e-5 algo.actor_lr=1e-5
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

INFO_ENVS: dict[str, list[str]] = {
    # Twenty Questions: 20 questions and guesses, plus room for a few invalid replies (they cost no question).
    "twenty_questions": ["env=twenty_questions", "rollout.max_turns=24"],
    "guess": ["env=guess"],
}
"""The information-seeking comparison's env choices (``--info-env``): their overrides."""

GRID_ENVS: dict[str, list[str]] = {
    # Gymnasium's fixed 4x4 map: every task is the same board, so states repeat across and within groups.
    "frozenlake": ["env=frozenlake", "+env.kwargs.map_name=4x4", "rollout.max_turns=8", "agent.show_actions=false"],
    # A fresh 6x6 one-box room per task (the expert solves them in 4.7 pushes and moves on average); the group
    # plays one room, so its episodes pass through the same states.
    "sokoban": ["env=sokoban", "rollout.max_turns=15"],
}
"""The repeated-states comparison's env choices (``--grid-env``): their overrides."""

COMPARISONS: dict[str, dict[str, Any]] = {
    "info_seeking": {
        "env": INFO_ENVS["twenty_questions"],
        "algos": {
            "ppo": ["algo=ppo"],
            "archer": ["algo=archer"],
            "archer_token_baseline": ["algo=archer", "algo.token_baseline=true"],
            "archer_minilm": ["algo=archer", "algo.encoder=minilm", "algo.encoder_trainable=false"],
        },
    },
    "grid_repeated_states": {
        "env": GRID_ENVS["frozenlake"],
        "algos": {"grpo": ["algo=grpo"], "gigpo": ["algo=gigpo"]},
    },
}


def steps_to_target(records: list[dict[str, Any]], target: float, window: int) -> int | None:
    """Env steps at the first iteration whose windowed mean rollout success reaches ``target``."""
    train = [r for r in records if r["kind"] == "train"]
    for i in range(len(train)):
        recent = train[max(0, i - window + 1) : i + 1]
        if len(recent) == window and statistics.fmean(r["success"] for r in recent) >= target:
            return int(train[i]["env_steps"])
    return None


def _applicable(overrides: list[str], algo: list[str]) -> list[str]:
    """``overrides`` without the ``algo.*`` settings the chosen algorithm does not have (PPO has no actor_lr)."""
    from agentrl.cli.train import load_train_config

    cfg = load_train_config(algo)
    kept = []
    for override in overrides:
        key = override.split("=", 1)[0]
        if key.startswith("algo."):
            node: Any = cfg.algo
            for part in key.split(".")[1:]:
                node = getattr(node, part, _MISSING)
            if node is _MISSING:
                continue
        kept.append(override)
    return kept


_MISSING = object()


def run_one(overrides: list[str], out: Path) -> dict[str, Any]:
    from agentrl.cli.train import load_train_config
    from agentrl.factory import make_from_config
    from agentrl.trainer.loop import Hooks, train
    from agentrl.trainer.metrics import read_metrics

    class Progress(Hooks):
        """One line on stderr per training iteration and evaluation (a run takes minutes to tens of minutes)."""

        def record(self, record: dict[str, Any]) -> None:
            if record.get("kind") in ("train", "eval"):
                print(
                    f"  {out.name} {record['kind']} iteration {record['iteration']}: env steps "
                    f"{record['env_steps']}, success {record.get('success', float('nan')):.3f}",
                    file=sys.stderr,
                    flush=True,
                )

    cfg = load_train_config([*overrides, f"train.output_dir={out}", "train.resume=never", "train.tensorboard=false"])
    start = time.perf_counter()
    results = train(cfg, functools.partial(make_from_config, cfg.env), Progress())
    return {"records": read_metrics(out / "metrics.jsonl"), "results": results, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--tasks", type=int, default=4, help="tasks per iteration (each played group_size=8 times)")
    parser.add_argument("--target", type=float, default=0.3, help="target rollout success rate")
    parser.add_argument("--window", type=int, default=3, help="iterations averaged when testing the target")
    parser.add_argument("--only", choices=sorted(COMPARISONS), default=None)
    parser.add_argument("--algos", default="", help="comma-separated subset of a comparison's algorithms")
    parser.add_argument(
        "--info-env", choices=sorted(INFO_ENVS), default="twenty_questions", help="the information-seeking env"
    )
    parser.add_argument("--grid-env", choices=sorted(GRID_ENVS), default="frozenlake", help="the repeated-states env")
    parser.add_argument("--eval-episodes", type=int, default=50, help="evaluation episodes before and after training")
    parser.add_argument("--model", default="tiny", help="model config: tiny (random, a smoke run) or smollm2")
    parser.add_argument("--init-from", default="", help="start every run from these weights (an algo=sft run folder)")
    parser.add_argument(
        "--override",
        nargs="*",
        default=[],
        help="more overrides for every run, e.g. a pretrained model's learning rates (configs/algo/ sets the tiny "
        "model's): algo.pg.lr=1e-5 algo.actor_lr=1e-5",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    COMPARISONS["info_seeking"]["env"] = INFO_ENVS[args.info_env]
    COMPARISONS["grid_repeated_states"]["env"] = GRID_ENVS[args.grid_env]

    report: dict[str, Any] = {
        "target_success": args.target,
        "window": args.window,
        "seeds": args.seeds,
        "info_env": args.info_env,
        "grid_env": args.grid_env,
        "model": args.model,
        "init_from": args.init_from or None,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in COMPARISONS.items():
            if args.only and name != args.only:
                continue
            block: dict[str, Any] = {}
            chosen = {a: o for a, o in spec["algos"].items() if not args.algos or a in args.algos.split(",")}
            for algo, algo_overrides in chosen.items():
                runs = []
                for seed in range(args.seeds):
                    overrides = [
                        *spec["env"],
                        *algo_overrides,
                        f"model={args.model}",
                        f"train.seed={seed}",
                        f"model.seed={seed}",
                        f"train.iterations={args.iterations}",
                        f"train.tasks_per_iteration={args.tasks}",
                        "train.eval_every=0",
                        "train.checkpoint_every=0",
                        f"eval.episodes={args.eval_episodes}",
                        *([f"train.init_from={args.init_from}"] if args.init_from else []),
                        *_applicable(args.override, algo_overrides),
                    ]
                    out = run_one(overrides, Path(tmp) / f"{name}-{algo}-{seed}")
                    runs.append(
                        {
                            "seed": seed,
                            "env_steps_to_target": steps_to_target(out["records"], args.target, args.window),
                            "env_steps_total": out["results"]["env_steps"],
                            "eval_success_before": out["results"]["success_before"],
                            "eval_success_after": out["results"]["success_after"],
                            "final_rollout_success": out["records"][-2]["success"] if len(out["records"]) > 1 else None,
                            "seconds": round(out["seconds"], 1),
                        }
                    )
                    print(json.dumps({"comparison": name, "algo": algo, **runs[-1]}), flush=True)
                reached = [r["env_steps_to_target"] for r in runs if r["env_steps_to_target"] is not None]
                block[algo] = {
                    "runs": runs,
                    "reached_target": f"{len(reached)}/{len(runs)}",
                    "median_env_steps_to_target": statistics.median(reached) if reached else None,
                    "mean_eval_success_after": statistics.fmean(r["eval_success_after"] for r in runs),
                }
            algos = list(chosen)
            for other in algos[1:]:
                a, b = (block[x]["median_env_steps_to_target"] for x in (algos[0], other))
                block[f"ratio_{algos[0]}_over_{other}"] = (
                    round(a / b, 2) if a and b else "n/a (a method did not reach the target in the budget)"
                )
            report[name] = block
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
