"""Learning: does an LLM agent get better at a real env? Zero-shot, SFT, SFT + RL.

For each env (WebShop on its test goals, ALFWorld on eval_unseen by default), each
training seed and each method, one ``agentrl train`` run through the CLI's own config
composition (so the env's recipe and defaults apply), evaluated on the env's held-out
split with the same seeds:

* ``zero_shot``: the packaged model as it is (greedy decoding: one run serves every seed);
* ``sft_N``: warmed up on N expert episodes (``train.warmup.episodes=N``, ``--sft-epochs``
  passes over their turns), no RL;
* ``sft+ALGO``: RL with ALGO (grpo, gigpo, archer, filtered_bc), or DAgger (``dagger``: the
  env's expert labels the states the policy reaches), from the weights of that seed's
  largest SFT run (``train.init_from``), stopped at the same env-step budget
  (``train.max_env_steps``).

Per method it reports success averaged over seeds with a 95% Wilson interval over the
pooled evaluation episodes, score averaged over seeds (95% interval over seeds), env steps, wall time
and rollout tokens/s; a Markdown table and the JSON go to ``--out``. Nothing is asserted:
the figures are what they are. On 2 CPU cores with SmolLM2-135M every run takes minutes
(see the README's table for measured times), so a finished run folder under ``--out``
whose config is this run's is reused: rerun the same command after a stop and it goes on
where it was. The defaults are the full study, e.g.::

    python benchmarks/learning.py                                   # the full table (hours on 2 cores)
    python benchmarks/learning.py --envs webshop --seeds 1 --demos 100 --methods zero_shot,sft,grpo
    python benchmarks/learning.py --envs guess --model tiny --demos 8 --eval-episodes 4 --env-steps 16  # smoke
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

HELD_OUT = {"webshop": "test goals", "alfworld": "eval_unseen"}
RL = {
    "grpo": ["algo=grpo"],
    "gigpo": ["algo=gigpo"],
    "archer": ["algo=archer"],
    "filtered_bc": ["algo=filtered_bc"],
    "dagger": ["algo=dagger"],
}
# A pretrained model's RL settings: the configs/algo/ files set learning rates for the tiny random model, and
# choosing ``algo=X`` drops an env recipe's algo settings, so the pretrained ones are given here (the WebShop
# recipe's GRPO update; ArCHer's paper actor rate, its critic on the frozen pretrained sentence encoder; DAgger
# with the warm-up's supervised update).
PRETRAINED = {
    "grpo": ["algo.pg.lr={lr}", "algo.pg.epochs=1", "algo.pg.minibatch_size=64"],
    "gigpo": ["algo.pg.lr={lr}", "algo.pg.epochs=1", "algo.pg.minibatch_size=64"],
    "archer": ["algo.actor_lr={lr}", "algo.encoder=minilm", "algo.encoder_trainable=false"],
    "filtered_bc": [],
    # the warm-up's supervised update (the one that trained the start), on 16 distinct tasks an iteration
    "dagger": [
        "algo.update.lr=5e-4",
        "algo.update.batch_size=8",
        "rollout.group_size=1",
        "train.tasks_per_iteration=16",
    ],
}
Z95 = 1.959963984540054


def wilson(successes: float, n: int) -> list[float]:
    if n == 0:
        return [0.0, 0.0]
    p = successes / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return [max(0.0, centre - half), min(1.0, centre + half)]


def finished(overrides: list[str], out: Path) -> dict[str, Any] | None:
    """The results of a finished run in ``out`` of exactly this config (None when there is none), so a benchmark
    stopped part way (killed, or a run that failed) picks up where it was: a run is only redone when a setting
    changed (as a resume compares them: :func:`agentrl.trainer.resume.settings_changes`), or when the run it
    starts from (``train.init_from``) finished after it."""
    from agentrl.cli.train import load_train_config
    from agentrl.trainer.resume import settings_changes

    try:
        saved = json.loads((out / "config.json").read_text())
        results: dict[str, Any] = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if settings_changes(saved, load_train_config(overrides)):
        return None
    start = saved.get("train", {}).get("init_from")  # RL from an SFT run: stale once that run was redone
    if start:
        source = Path(start) / "results.json" if Path(start).is_dir() else Path(start)
        if not source.exists() or source.stat().st_mtime > (out / "results.json").stat().st_mtime:
            return None
    return results


def train_run(overrides: list[str], out: Path, log: Path, report_only: bool = False) -> dict[str, Any] | None:
    """One ``agentrl train`` in a subprocess (a fresh process per run: no state leaks between runs), or the figures
    of the finished run of the same config already in ``out`` (with ``report_only``, None when there is none)."""
    overrides = [*overrides, f"train.output_dir={out}", "train.resume=never"]
    results = finished(overrides, out)
    if results is None and report_only:
        print(f"not finished, left out of the table: {out}", file=sys.stderr, flush=True)
        return None
    if results is not None:
        print(f"reusing the finished run {out} (same config)", file=sys.stderr, flush=True)
        seconds = float(results.get("seconds_this_session", float("nan")))
    else:
        command = [sys.executable, "-m", "agentrl", "train", *overrides]
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with log.open("w") as fh:
            code = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
        seconds = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({code}); see {log}")
        results = json.loads((out / "results.json").read_text())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last = results["evals"][-1]
    train = [r for r in records if r["kind"] == "train"]
    return {
        "success": last["success"],
        "score": last.get("score", last["return"]),
        "episodes": last["episodes"],
        "env_steps": results["env_steps"],
        "iterations_done": results.get("iterations_done"),
        "rollout_tokens_per_s": statistics.fmean(r["rollout_tokens_per_s"] for r in train) if train else None,
        "seconds": round(seconds, 1),
        "run_dir": str(out),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed-averaged figures with 95% intervals over the pooled evaluation episodes."""
    n = sum(r["episodes"] for r in runs)
    wins = sum(r["success"] * r["episodes"] for r in runs)
    scores = [r["score"] for r in runs]
    score = statistics.fmean(scores)
    spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
    half = Z95 * spread / math.sqrt(len(scores)) if len(scores) > 1 else float("nan")
    rates = [r["rollout_tokens_per_s"] for r in runs if r["rollout_tokens_per_s"]]
    return {
        "seeds": len(runs),
        "success": wins / n if n else 0.0,
        "success_ci95": wilson(wins, n),
        "score": score,
        "score_ci95_over_seeds": [score - half, score + half],
        "env_steps": statistics.fmean(r["env_steps"] for r in runs),
        "seconds": statistics.fmean(r["seconds"] for r in runs),
        "rollout_tokens_per_s": statistics.fmean(rates) if rates else None,
        "runs": runs,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        "| env | method | success (95% CI) | score | env steps | wall (s) | rollout tok/s | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for env, methods in report["envs"].items():
        for method, s in methods.items():
            low, high = s["success_ci95"]
            rate = f"{s['rollout_tokens_per_s']:.0f}" if s["rollout_tokens_per_s"] else "-"
            lines.append(
                f"| {env} | {method} | {s['success']:.3f} [{low:.3f}, {high:.3f}] | {s['score']:.3f} | "
                f"{s['env_steps']:.0f} | {s['seconds']:.0f} | {rate} | {s['seeds']} |"
            )
    return "\n".join(lines)


def run_method(
    root: Path,
    env: str,
    common: list[str],
    rows: dict[str, list[dict[str, Any]]],
    name: str,
    seed: int,
    overrides: list[str],
    report_only: bool = False,
) -> Path:
    """Train ``name`` on ``env`` with ``seed``; its figures go to ``rows[name]``; returns the run folder."""
    out = root / env / f"{name}-s{seed}"
    log = root / env / f"{name}-s{seed}.log"
    result = train_run([*common, f"train.seed={seed}", *overrides], out, log, report_only)
    if result is None:
        return out
    rows.setdefault(name, []).append(result)
    print(json.dumps({"env": env, "method": name, "seed": seed, **result}), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="webshop,alfworld", help="comma-separated env config names")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--seeds", type=int, default=3, help="how many training seeds")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the first training seed (seeds first-seed .. first-seed+seeds-1): two processes can share the seeds "
        "of one --out, and a last run over all of them reuses their runs and writes the whole table",
    )
    parser.add_argument(
        "--demos", default="50,200,500", help="expert episodes of the SFT runs (the last one is RL's start)"
    )
    parser.add_argument("--sft-epochs", type=float, default=1.0, help="passes over the demonstrations' turns")
    parser.add_argument("--methods", default="zero_shot,sft,grpo,gigpo,archer,filtered_bc,dagger")
    parser.add_argument("--env-steps", type=int, default=400, help="RL's env-step budget (train.max_env_steps)")
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument(
        "--rl-lr", type=float, default=1e-5, help="the policy's RL learning rate for a pretrained --model (not tiny)"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write the table of the runs already finished under --out (others are left out)",
    )
    parser.add_argument("--extra", action="append", default=[], help="an override for every run (repeatable)")
    parser.add_argument("--out", default="benchmarks/results/learning", help="folder for runs, logs and the report")
    args = parser.parse_args()

    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",")
    demos = [int(d) for d in args.demos.split(",")]
    report: dict[str, Any] = {"model": args.model, "eval_episodes": args.eval_episodes, "envs": {}}
    for env in args.envs.split(","):
        common = [f"env={env}", f"model={args.model}", f"eval.episodes={args.eval_episodes}", *args.extra]
        rows: dict[str, list[dict[str, Any]]] = {}

        def run(
            name: str,
            seed: int,
            overrides: list[str],
            env: str = env,
            common: list[str] = common,
            rows: dict[str, list[dict[str, Any]]] = rows,
        ) -> Path:
            return run_method(root, env, common, rows, name, seed, overrides, args.report_only)

        if "zero_shot" in methods:  # greedy decoding: the same for every training seed
            run("zero_shot", 0, ["train.iterations=0", "train.warmup.episodes=0"])
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = None
            for n in demos if "sft" in methods else demos[-1:] if any(m in RL for m in methods) else []:
                start = run(
                    f"sft_{n}",
                    seed,
                    [
                        "train.iterations=0",
                        "train.eval_before=false",  # the zero-shot run measures it once
                        f"train.warmup.episodes={n}",
                        f"train.warmup.epochs={args.sft_epochs}",
                    ],
                )
            for method in (m for m in methods if m in RL):
                budget = [f"train.max_env_steps={args.env_steps}", "train.iterations=1000", "train.eval_every=0"]
                if start is not None:  # its start is the SFT run's final evaluation
                    budget.append("train.eval_before=false")
                init = [f"train.init_from={start}"] if start is not None else []
                tuned = [o.format(lr=args.rl_lr) for o in PRETRAINED[method]] if args.model != "tiny" else []
                overrides = [*RL[method], *tuned, *init, "train.warmup.episodes=0", *budget]
                run(f"sft_{demos[-1]}+{method}", seed, overrides)
        report["envs"][env] = {name: summarize(runs) for name, runs in rows.items()}
        report["envs"][env]["_held_out"] = HELD_OUT.get(env, "held-out seeds")  # type: ignore[assignment]
    held = {env: methods.pop("_held_out") for env, methods in report["envs"].items()}
    report["held_out"] = held
    text = table(report)
    (root / "learning.json").write_text(json.dumps(report, indent=2))
    (root / "learning.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
