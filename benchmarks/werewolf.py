"""Werewolf figures: games per second with scripted players, the win-rate table of every baseline pairing, and the
LSPO iteration curve with the packaged SmolLM2 (werewolf-side win rate against the rule-based village).

    python benchmarks/werewolf.py                       # all three
    python benchmarks/werewolf.py --skip-lspo --games 500
    python benchmarks/werewolf.py --skip-baselines      # the LSPO curve alone: 1 iteration, 6 games, 6 eval games,
                                                        # 2 candidates, 2-day games (about 50 min on 2 shared CPU cores)

Prints JSON; asserts nothing. The LSPO run is kept small enough for a 2-core budget, so its curve is noise-level
evidence at best: read the intervals.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np


def games_per_second(games: int) -> dict[str, float]:
    from agentrl.envs.werewolf import WerewolfEnv
    from agentrl.trainer.werewolf import arena, scripted_player

    env = WerewolfEnv()
    start = time.perf_counter()
    steps = 0
    for seed in range(games):
        env.reset(seed=seed)
        for _agent in env.agent_iter():
            _, _, term, trunc, info = env.last()
            env.step(None if term or trunc else info["expert_action"])
            steps += 1
    raw = time.perf_counter() - start
    through_agents = arena(WerewolfEnv, scripted_player("rule"), scripted_player("rule"), range(games)).seconds
    return {
        "games": games,
        "env_loop_games_per_s": round(games / raw, 1),
        "env_steps_per_s": round(steps / raw, 1),
        "agent_protocol_games_per_s": round(games / through_agents, 1),
    }


def win_rate_table(games: int) -> list[dict[str, object]]:
    from agentrl.envs.werewolf import WerewolfEnv
    from agentrl.trainer.werewolf import SCRIPTED, arena, scripted_player

    rows = []
    for wolves in SCRIPTED:
        for village in SCRIPTED:
            result = arena(
                WerewolfEnv,
                scripted_player(wolves, 1),
                scripted_player(village, 2),
                range(games),
                names=(wolves, village),
            )
            summary = result.summary()
            rows.append(
                {
                    k: summary[k]
                    for k in (
                        "werewolves",
                        "village",
                        "games",
                        "draws",
                        "werewolves_win_rate",
                        "werewolves_ci95",
                        "village_win_rate",
                        "village_ci95",
                    )
                }
            )
    return rows


def lspo_curve(args: argparse.Namespace) -> dict[str, object]:
    import torch

    from agentrl.agents.models import ModelConfig
    from agentrl.trainer.lspo.loop import Lspo, LspoConfig

    torch.set_num_threads(2)
    cfg = LspoConfig(
        model=ModelConfig(name=args.model),
        iterations=args.iterations,
        games=args.lspo_games,
        eval_games=args.eval_games,
        candidates=args.candidates,
        max_days=args.max_days,
        max_new_tokens=32,
        max_prompt_tokens=512,
        history=1,
        discussion_rounds=1,
        epochs=2,
        lr=1e-6,
    )
    run = args.run_dir or tempfile.mkdtemp(prefix="lspo-bench-")
    start = time.perf_counter()
    timings: list[dict[str, object]] = []

    def on_stage(iteration: int, stage: str, record: dict[str, object]) -> None:
        timings.append({"iteration": iteration, "stage": stage, "s": round(time.perf_counter() - start, 1), **record})
        print(json.dumps(timings[-1]), flush=True)

    curve = Lspo(cfg, run).loop(on_stage)
    return {
        "model": args.model,
        "settings": {
            "iterations": cfg.iterations,
            "games": cfg.games,
            "eval_games": cfg.eval_games,
            "candidates": cfg.candidates,
            "max_days": cfg.max_days,
        },
        "seconds": round(time.perf_counter() - start, 1),
        "curve": [
            {
                "iteration": c["iteration"],
                "werewolves_win_rate": c["werewolves_win_rate"],
                "ci95": c["werewolves_ci95"],
                "invalid_rate": c["invalid_rate"]["werewolves"],
                "invalid_by_decision": c.get("invalid_by_decision", {}).get("werewolves", {}),
            }
            for c in curve
        ],
        "run_dir": run,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=500, help="games per baseline pairing (default 500)")
    parser.add_argument("--speed-games", type=int, default=300, help="games of the speed figure")
    parser.add_argument("--skip-lspo", action="store_true")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument(
        "--lspo-games",
        type=int,
        default=6,
        help="games played per iteration (with 2 games both fell in one cell of the abstract game: no DPO pairs)",
    )
    parser.add_argument("--eval-games", type=int, default=6)
    parser.add_argument("--candidates", type=int, default=2, help="candidate utterances per discussion turn")
    parser.add_argument("--max-days", type=int, default=2, help="days per LSPO game (the env's default is 10)")
    parser.add_argument("--skip-baselines", action="store_true", help="only the LSPO curve")
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    np.random.seed(0)
    out: dict[str, object] = {}
    if not args.skip_baselines:
        out = {"speed": games_per_second(args.speed_games), "win_rates": win_rate_table(args.games)}
        print(json.dumps(out, indent=1), flush=True)
    if not args.skip_lspo:
        out["lspo"] = lspo_curve(args)
        print(json.dumps(out["lspo"], indent=1))


if __name__ == "__main__":
    main()
