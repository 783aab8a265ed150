"""Digi-Q on WebShop's test goals: the behaviour policy vs the Digi-Q-extracted policy vs filtered BC, same data.

Run as the documented ``agentrl`` commands, each in its own process (output kept in ``--work``, ``*.log``; a step
whose output exists is not run again, so a killed benchmark continues):

1. ``agentrl collect env=webshop agent=expert`` (``--expert-episodes``) and ``agent=random`` (``--random-episodes``,
   ``rollout.max_turns=--random-turns``) on training goals, merged (``agentrl data merge``): the offline data, a
   mixture of good and noisy episodes;
2. the behaviour policy: ``agentrl train algo=sft algo.only_successful=false`` on all of it (``--behaviour-steps``
   steps): a model that imitates the mixture, so it can act, noisily;
3. per seed (``--seeds``), both from the behaviour policy's weights (``train.init_from``) on the same data:
   * ``agentrl train algo=digiq`` (``--num-candidates`` per state, ``--iterations`` loop iterations): its
     evaluation before training is the behaviour policy's, the one after it Digi-Q's extracted policy;
   * filtered BC: ``agentrl train algo=sft algo.only_successful=true`` (the won episodes of the same data, as many
     optimiser steps as Digi-Q's actor takes);
4. success on ``--eval-episodes`` test goals (greedy; ``eval`` of the loop): per method the mean over seeds with a
   95% t interval (seeds are the unit; see ALGORITHMS.md, "Comparing numbers"), and each method's ratio to the
   behaviour policy.

Prints JSON; nothing is asserted. Sized for a GPU by default with SmolLM2; on 2 CPU cores (about a minute per
WebShop episode with SmolLM2) shrink it, e.g.::

    python benchmarks/digiq.py --model smollm2 --expert-episodes 20 --random-episodes 20 --eval-episodes 10 \\
        --seeds 0 1 2 --num-candidates 4
    python benchmarks/digiq.py --model tiny --expert-episodes 4 --random-episodes 4 --eval-episodes 4   # plumbing
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(values: list[float]) -> dict[str, Any]:
    """Mean and 95% t interval over seeds."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci95": [mean, mean], "n": len(values)}
    half = T975.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": len(values), "per_seed": values}


def agentrl(args: list[str], log: Path, done: Path) -> float:
    """Run ``agentrl ARGS`` unless ``done`` exists; its seconds (0 when skipped)."""
    if done.exists():
        return 0.0
    began = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.call([sys.executable, "-m", "agentrl", *args], stdout=handle, stderr=subprocess.STDOUT)
    if code != 0:
        raise SystemExit(f"agentrl {' '.join(args)} failed ({code}); see {log}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--work", default="runs/bench-digiq")
    parser.add_argument("--expert-episodes", type=int, default=100)
    parser.add_argument("--random-episodes", type=int, default=100)
    parser.add_argument("--random-turns", type=int, default=6)
    parser.add_argument("--behaviour-steps", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--critic-steps", type=int, default=200)
    parser.add_argument("--actor-steps", type=int, default=10)
    parser.add_argument(
        "--actor-batch-size", type=int, default=128, help="states per actor step (algo.actor_batch_size; paper 128)"
    )
    parser.add_argument("--num-candidates", type=int, default=16)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--top-layers", type=int, default=8, help="policy.train_top_layers (0: every weight)")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = [f"model={args.model}", "env=webshop", f"rollout.max_turns={args.max_turns}"]
    collect = list(model)  # the expert and random agents write their actions: no sampling settings
    if args.model == "smollm2":
        model.append("agent.sampling.max_new_tokens=64")  # the WebShop recipe's (configs/env/webshop.yaml)
    top = [f"policy.train_top_layers={args.top_layers}"] if args.top_layers else []
    common = [*model, f"eval.episodes={args.eval_episodes}", "train.tensorboard=false", "train.eval_every=0"]
    seconds: dict[str, float] = {}
    expert, noise, mixed = work / "expert", work / "random", work / "mixed"
    seconds["collect"] = agentrl(
        ["collect", *collect, "agent=expert", f"collect.episodes={args.expert_episodes}", f"collect.output={expert}"],
        work / "collect-expert.log",
        expert / "manifest.json",
    ) + agentrl(
        ["collect", *collect, "agent=random", f"collect.episodes={args.random_episodes}",
         f"collect.seed={args.expert_episodes}", f"collect.output={noise}", f"rollout.max_turns={args.random_turns}"],
        work / "collect-random.log",
        noise / "manifest.json",
    )  # fmt: skip
    if not (mixed / "manifest.json").exists():
        subprocess.check_call([sys.executable, "-m", "agentrl", "data", "merge", str(mixed), str(expert), str(noise)])
    data = f"algo.data=[{mixed}]"
    behaviour = work / "behaviour"
    seconds["behaviour"] = agentrl(
        ["train", "algo=sft", *common, *top, data, "algo.only_successful=false", "train.iterations=1",
         f"algo.steps_per_iteration={args.behaviour_steps}", "eval.episodes=1", f"train.output_dir={behaviour}"],
        work / "behaviour.log",
        behaviour / "results.json",
    )  # fmt: skip
    results: dict[str, list[float]] = {"behaviour": [], "digiq": [], "filtered_bc": []}
    for seed in args.seeds:
        digiq, bc = work / f"digiq-s{seed}", work / f"filtered-bc-s{seed}"
        seconds[f"digiq-s{seed}"] = agentrl(
            ["train", "algo=digiq", *common, *top, data, f"train.init_from={behaviour}", f"train.seed={seed}",
             f"train.iterations={args.iterations}", f"algo.num_candidates={args.num_candidates}",
             f"algo.critic_steps={args.critic_steps}", f"algo.actor_steps={args.actor_steps}",
             f"algo.actor_batch_size={args.actor_batch_size}",
             f"algo.cache_dir={work / 'digiq-cache'}", f"train.output_dir={digiq}"],
            work / f"digiq-s{seed}.log",
            digiq / "results.json",
        )  # fmt: skip
        seconds[f"filtered-bc-s{seed}"] = agentrl(
            ["train", "algo=sft", *common, *top, data, "algo.only_successful=true", f"train.init_from={behaviour}",
             f"train.seed={seed}", f"train.iterations={args.iterations}",
             f"algo.steps_per_iteration={args.actor_steps}", f"train.output_dir={bc}"],
            work / f"filtered-bc-s{seed}.log",
            bc / "results.json",
        )  # fmt: skip
        d = json.loads((digiq / "results.json").read_text())
        b = json.loads((bc / "results.json").read_text())
        results["behaviour"].append(d["success_before"])
        results["digiq"].append(d["success_after"])
        results["filtered_bc"].append(b["success_after"])
    summary = {name: mean_ci(values) for name, values in results.items()}
    base = summary["behaviour"]["mean"]
    print(
        json.dumps(
            {
                "env": "webshop (test goals)",
                "model": args.model,
                "settings": vars(args),
                "success": summary,
                "ratio_to_behaviour": {k: (v["mean"] / base if base else None) for k, v in summary.items()},
                "seconds": seconds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
