"""What the frozen-block cache saves a supervised step (``update.lower_cache_mb``, :class:`LowerCache`).

Records ``--episodes`` expert episodes of an env with the run's prompt builder (as the
warm-up of ``agentrl train`` does), then times supervised steps of ``--batch-size`` turns
on the same batches three ways, in this order, each on a fresh copy of the policy:

* ``full``: no cache, the whole model every step;
* ``first_pass``: with the cache, every turn seen for the first time (what the first epoch
  of a warm-up pays, the lower blocks' output being stored on the way);
* ``cached``: with the cache, the same batches again (every later epoch).

It prints seconds per step (median) of each and ``speedup`` = full / cached as JSON, with the
model, the trainable blocks and the mean tokens per turn. ``--mixed-precision bf16`` times the
three ways again under ``policy.mixed_precision=bf16`` (autocast) and adds ``bf16_speedup_*``,
float32's time over bfloat16's, way by way.

    python benchmarks/sft_cache.py                              # SmolLM2 on WebShop, top 8 of 30 blocks
    python benchmarks/sft_cache.py --model tiny --top-layers 1 --episodes 4 --steps 3
    python benchmarks/sft_cache.py --threads 1 --mixed-precision bf16   # float32 against bf16 autocast
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from agentrl.agents.models import load_model
from agentrl.agents.types import Trajectory
from agentrl.cli.train import load_train_config
from agentrl.factory import make_from_config
from agentrl.trainer.loop import TrainRunConfig
from agentrl.trainer.policy import LowerCache, Policy, PolicyConfig
from agentrl.trainer.rollout import RolloutConfig
from agentrl.trainer.sft import SupervisedConfig, demonstration_turns, supervised_step
from agentrl.trainer.warmup import collect_demonstrations


def expert_trajectories(
    env: str, model_name: str, episodes: int, overrides: Sequence[str] = (), max_turns: int = 15
) -> tuple[TrainRunConfig, Any, Any, list[Trajectory]]:
    """The config ``agentrl train env=ENV model=MODEL OVERRIDES`` runs with (the env's recipe included), its model
    and tokenizer, and ``episodes`` expert episodes (seeds 0, 1, ...) recorded with its prompt builder, as the
    warm-up records them."""
    cfg_run = load_train_config([f"env={env}", f"model={model_name}", *overrides])
    model, tokenizer = load_model(cfg_run.model)
    with tempfile.TemporaryDirectory() as out:
        trajectories = collect_demonstrations(
            functools.partial(make_from_config, cfg_run.env),
            tokenizer,
            cfg_run.agent,
            list(range(episodes)),
            RolloutConfig(max_turns=max_turns),
            env_id=env,
            out=Path(out) / "data",
            manifest={"env": {"id": env}, "agent": "expert", "model": {"name": model_name}},
        )
    return cfg_run, model, tokenizer, trajectories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="webshop")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--top-layers", type=int, default=8, help="policy.train_top_layers")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="steps timed per way")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--mixed-precision",
        default="no",
        choices=["no", "bf16"],
        help="also time every way under policy.mixed_precision=bf16 (figures *_bf16 and bf16_speedup_*)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    _, model, tokenizer, trajectories = expert_trajectories(args.env, args.model, args.episodes)
    turns = demonstration_turns(trajectories, only_successful=True)
    batches = [turns[i : i + args.batch_size] for i in range(0, len(turns), args.batch_size)][: args.steps]
    cfg = SupervisedConfig(batch_size=args.batch_size)
    pad = int(tokenizer.pad_token_id)

    def timed(policy: Policy, cache: LowerCache | None, optimizer: torch.optim.Optimizer) -> list[float]:
        seconds = []
        for batch in batches:
            tick = time.perf_counter()
            supervised_step(policy, optimizer, batch, cfg, pad, 1e-5, cache)
            seconds.append(time.perf_counter() - tick)
        return seconds

    figures: dict[str, float] = {}
    for precision in dict.fromkeys(["no", args.mixed_precision]):
        suffix = "" if precision == "no" else f"_{precision}"

        def fresh(precision: str = precision) -> tuple[Policy, torch.optim.Optimizer]:
            policy = Policy(
                copy.deepcopy(model), PolicyConfig(train_top_layers=args.top_layers, mixed_precision=precision)
            )
            policy.train()
            return policy, torch.optim.AdamW([p for _, p in policy.trainable_named_parameters()], lr=1e-5)

        policy, optimizer = fresh()
        figures[f"full{suffix}_s_per_step"] = statistics.median(timed(policy, None, optimizer))
        policy, optimizer = fresh()
        cache = LowerCache(policy, cfg.lower_cache_mb)
        timed(policy, cache, optimizer)  # the first batch also pays the one-off check against the whole model
        policy, optimizer = fresh()
        cache = LowerCache(policy, cfg.lower_cache_mb)
        cache.checked = True  # checked above on the same model
        figures[f"first_pass{suffix}_s_per_step"] = statistics.median(timed(policy, cache, optimizer))
        figures[f"cached{suffix}_s_per_step"] = statistics.median(timed(policy, cache, optimizer))
        figures["cached_turns"] = len(cache)
    if args.mixed_precision != "no":
        name = args.mixed_precision
        for way in ("full", "first_pass", "cached"):
            figures[f"{name}_speedup_{way}"] = figures[f"{way}_s_per_step"] / figures[f"{way}_{name}_s_per_step"]
    blocks = policy.frozen_blocks() + args.top_layers
    print(
        json.dumps(
            {
                "model": args.model,
                "env": args.env,
                "trained_blocks": f"top {args.top_layers} of {blocks}",
                "turns": len(turns),
                "tokens_per_turn": round(statistics.mean(len(t.prompt_ids) + len(t.response_ids) for t in turns), 1),
                "batch_size": args.batch_size,
                "threads": args.threads,
                **{k: round(v, 3) for k, v in figures.items()},
                "speedup": round(figures["full_s_per_step"] / figures["cached_s_per_step"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
