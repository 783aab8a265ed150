"""``agentrl alfworld generate``: build (and cache) a pool of ALFWorld tasks ahead of a run.

agentrl alfworld generate --split train -n 120                  # what ALFWorld-v0 plays by default
agentrl alfworld generate --split eval_unseen -n 60 --out DIR   # ... and copy them in the official layout

Games land in the cache that ``agentrl/ALFWorld-v0`` reads, so envs (and rollout
workers) start without generating. ``--out`` also writes them the way ALFWorld's own
data is laid out, which ``env.kwargs.data_dir=`` and the package's ``AlfredTWEnv`` read.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from typing import Any


def add_parser(sub: Any) -> None:
    from agentrl.envs.alfworld.tasks import SPLITS, TASK_TYPES

    parser = sub.add_parser(
        "alfworld",
        help="generate ALFWorld tasks",
        description="Generate, check and cache ALFWorld tasks from the scene layouts the alfworld package ships.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser("generate", help="generate a pool of tasks and print a summary as JSON")
    generate.add_argument("--split", choices=SPLITS, default="train")
    generate.add_argument("-n", "--games", type=int, default=120, help="pool size (default 120, as ALFWorld-v0)")
    generate.add_argument("--base-seed", type=int, default=0, help="seed of the pool (default 0)")
    generate.add_argument(
        "--task-types", default="", help=f"comma-separated subset of: {', '.join(TASK_TYPES)} (default all)"
    )
    generate.add_argument("--out", default=None, help="also copy the games here in ALFWorld's official layout")
    generate.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace, _extra: list[str]) -> int:
    from agentrl.envs.alfworld.env import AlfworldEnv, export_games

    task_types = [t for t in args.task_types.split(",") if t] or None
    env = AlfworldEnv(split=args.split, task_types=task_types, n_games=args.games, base_seed=args.base_seed)
    try:
        start = time.perf_counter()
        games = [env.game_at(i) for i in range(args.games)]
        seconds = time.perf_counter() - start
    finally:
        env.close()
    steps, scenes = [], set()
    for game in games:
        steps.append(len(json.loads(game.path.read_text())["walkthrough"]))
        scenes.add(json.loads(game.path.with_name("traj_data.json").read_text())["scene"]["scene_num"])
    summary: dict[str, Any] = {
        "split": args.split,
        "games": len(games),
        "by_task_type": dict(collections.Counter(g.task_type for g in games)),
        "scenes": len(scenes),
        "expert_steps_mean": round(statistics.fmean(steps), 2),
        "expert_steps_max": max(steps),
        "seconds": round(seconds, 2),
        "cache": str(games[0].path.parents[1]),
    }
    if args.out:
        summary["exported"] = len(export_games(games, args.out, args.split))
        summary["out"] = args.out
    print(json.dumps(summary, indent=2))
    return 0
