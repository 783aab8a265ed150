"""Where an env step's time goes: raw engine, text rendering, expert, agentrl's own layer.

For every registered single-agent agentrl env (or those named with ``--envs``) this
drives ``--steps`` steps with random admissible actions through the env exactly as a
user gets it from ``agentrl.make`` (Gymnasium's wrappers included) and times, per step:

* ``engine``: the raw engine's ``step`` (``env.engine.step`` where the env exposes its
  engine, else the env's ``_engine_step`` hook);
* ``render``: the ``_render`` hook that turns the state into text;
* ``expert``: the ``_compute_expert`` hook (the planner behind ``info["expert_action"]``);
* ``agentrl``: everything else: total − engine − render − expert (action parsing, the
  info dict, invalid-action handling, Gymnasium's wrappers).

The timers wrap those methods on the instance; the cost of a wrapped no-op call is
measured first and subtracted, so the wrapping itself is not billed to agentrl.
Figures are medians in microseconds, printed as JSON; ``agentrl_share`` is
median(agentrl) / median(total) (target: ≤ 0.05).

For the device envs (Device, MiniWoB) the engine step is split further into what the
device does (``device_median_us``): ``action`` (the tap, swipe, typing or key through
Playwright), ``screenshot`` (the PNG) and ``ui_tree`` (the UI element list).

For ALFWorld it also plays the same games through the ``alfworld`` package's own
``AlfredTWEnv`` (``vs_package``): one game of each task type, exported in the official
layout, the package resetting into them in its own order and agentrl resetting into the
same game each time, both driven by the same random admissible commands. It prints
steps/s and resets/s of each and agentrl's ratios (a package reset loads and translates
the game again; an agentrl reset of a game played before reuses its translation, so
agentrl's first reset of each game is also shown apart, ``reset_cold_ms``), and whether
the two gave identical observations, commands and rewards all along.

    python benchmarks/env_step.py --steps 2000 --budget-s 120
    python benchmarks/env_step.py --envs alfworld --steps 600 --budget-s 300
    python benchmarks/env_step.py --envs device,miniwob --steps 300 --budget-s 120
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import agentrl
from agentrl.envs import registered

COMPONENTS = ("engine", "render", "expert")
DEVICE_PARTS = {"tap": "action", "swipe": "action", "type_text": "action", "press": "action",
                "screenshot": "screenshot", "elements": "ui_tree"}  # fmt: skip


class _Clock:
    """Accumulates the time spent in wrapped methods during one step."""

    def __init__(self) -> None:
        self.spent = dict.fromkeys(COMPONENTS, 0)
        self.calls = 0

    def wrap(self, owner: Any, name: str, component: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)
        spent = self.spent
        clock = time.perf_counter_ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[component] += clock() - start
                self.calls += 1

        setattr(owner, name, timed)

    def reset(self) -> None:
        for key in self.spent:
            self.spent[key] = 0
        self.calls = 0


def _wrapper_cost_ns(repeats: int = 20000) -> float:
    """Median extra cost of calling through a timing wrapper (billed to nobody)."""

    class Target:
        def noop(self) -> None:
            return None

    plain, wrapped = Target(), Target()
    clock = _Clock()
    clock.wrap(wrapped, "noop", "engine")
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        plain.noop()
        t1 = time.perf_counter_ns()
        wrapped.noop()
        t2 = time.perf_counter_ns()
        samples.append((t2 - t1) - (t1 - t0))
    return max(0.0, statistics.median(samples))


def _raw_engine(base: Any) -> tuple[Any, str]:
    """The object and method name of the raw engine step (valid after a reset)."""
    engine = getattr(base, "engine", None)
    if engine is not None and callable(getattr(engine, "step", None)):
        return engine, "step"
    return base, "_engine_step"


def bench_env(env_id: str, steps: int, seed: int, wrapper_cost: float, budget_s: float = 120.0) -> dict[str, Any]:
    env = agentrl.make(env_id)
    base = env.unwrapped
    clock = _Clock()
    clock.wrap(base, "_render", "render")
    clock.wrap(base, "_compute_expert", "expert")
    _, info = env.reset(seed=seed)

    def wrap_engine() -> str:
        # An env may build a fresh engine object on reset; wrap each one once (a wrapped
        # method lives in the instance's own __dict__).
        owner, name = _raw_engine(base)
        if name not in vars(owner):
            clock.wrap(owner, name, "engine")
        return "engine.step" if name == "step" else name

    raw_name = wrap_engine()
    device = getattr(base, "device", None)
    device_clock = _Clock()
    device_clock.spent = dict.fromkeys(sorted(set(DEVICE_PARTS.values())), 0)
    if device is not None:
        for method, part in DEVICE_PARTS.items():
            device_clock.wrap(device, method, part)
    device_rows: dict[str, list[float]] = {k: [] for k in device_clock.spent}
    rng = np.random.default_rng(seed)
    rows: dict[str, list[float]] = {k: [] for k in (*COMPONENTS, "total", "agentrl")}
    deadline = time.monotonic() + budget_s
    for _ in range(steps):
        if time.monotonic() > deadline:  # slow envs (a real browser) stop at the time budget
            break
        choices = info["admissible_actions"] or [info["expert_action"] or ""]
        action = choices[int(rng.integers(len(choices)))]
        clock.reset()
        device_clock.reset()
        start = time.perf_counter_ns()
        _, _, terminated, truncated, info = env.step(action)
        total = time.perf_counter_ns() - start
        parts = dict(clock.spent)
        overhead = total - sum(parts.values()) - clock.calls * wrapper_cost
        for key in COMPONENTS:
            rows[key].append(parts[key] / 1000)
        rows["total"].append(total / 1000)
        rows["agentrl"].append(max(0.0, overhead) / 1000)
        for key, spent in device_clock.spent.items():
            device_rows[key].append(spent / 1000)
        if terminated or truncated:
            _, info = env.reset()
            wrap_engine()
    env.close()
    medians = {key: round(statistics.median(values), 2) for key, values in rows.items()}
    extra = {}
    if device is not None and device_rows["action"]:
        extra["device_median_us"] = {key: round(statistics.median(v), 2) for key, v in device_rows.items()}
    return {
        **extra,
        "env": env_id,
        "steps": len(rows["total"]),
        "engine_timed_at": raw_name,
        "median_us": medians,
        "agentrl_share": round(medians["agentrl"] / medians["total"], 4) if medians["total"] else None,
        "total_over_engine": round(medians["total"] / medians["engine"], 3) if medians["engine"] else None,
    }


def _alfworld_package_env(data_dir: str, max_steps: int) -> Any:
    """The package's own env on the games in ``data_dir``: ``AlfredTWEnv`` as its DQN training makes it."""
    import contextlib
    import sys

    from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv

    config = {
        "dataset": {"data_path": data_dir, "num_train_games": -1},
        "env": {
            "task_types": [1, 2, 3, 4, 5, 6],
            "goal_desc_human_anns_prob": 0,
            "domain_randomization": False,
            "expert_type": "handcoded",
        },
        "general": {"training_method": "dqn"},
        "rl": {"training": {"max_nb_steps_per_episode": max_steps}},
    }
    with contextlib.redirect_stdout(sys.stderr), contextlib.redirect_stderr(sys.stderr):
        return AlfredTWEnv(config, train_eval="train").init_env(batch_size=1)


def bench_alfworld_vs_package(steps: int, seed: int, budget_s: float, episode_len: int = 25) -> dict[str, Any]:
    """agentrl's ALFWorld-v0 against the package's ``AlfredTWEnv`` on the same games and commands."""
    import tempfile
    from pathlib import Path

    from agentrl.envs.alfworld import tasks
    from agentrl.envs.alfworld.env import AlfworldEnv, export_games, official_games

    pool = AlfworldEnv(n_games=len(tasks.TASK_TYPES), base_seed=seed, expert=False)
    games = [pool.game_at(i) for i in range(len(tasks.TASK_TYPES))]  # one of each task type
    pool.close()
    with tempfile.TemporaryDirectory(prefix="agentrl-alfworld-bench-") as tmp:
        export_games(games, tmp, "train")
        data_dir = str(Path(tmp) / "train")
        index = {g.path.resolve(): i for i, g in enumerate(official_games(data_dir, "train", tasks.TASK_TYPES))}
        package = _alfworld_package_env(data_dir, max_steps=episode_len + 1)
        ours = agentrl.make("agentrl/ALFWorld-v0", data_dir=data_dir, expert=False)
        rng = np.random.default_rng(seed)
        spent = {"package_step": 0.0, "package_reset": 0.0, "agentrl_step": 0.0, "agentrl_reset": 0.0}
        counts = {"step": 0, "reset": 0}
        cold: list[float] = []
        seen: set[int] = set()
        identical = True
        deadline = time.monotonic() + budget_s
        while counts["step"] < steps and time.monotonic() < deadline:
            t0 = time.perf_counter()
            obs, infos = package.reset()
            t1 = time.perf_counter()
            game = index[Path(infos["extra.gamefile"][0]).resolve()]
            text, info = ours.reset(options={"task_id": game})
            t2 = time.perf_counter()
            spent["package_reset"] += t1 - t0
            spent["agentrl_reset"] += t2 - t1
            counts["reset"] += 1
            if game not in seen:
                seen.add(game)
                cold.append(t2 - t1)
            identical &= obs[0].strip() == text and infos["admissible_commands"][0] == info["admissible_actions"]
            for _ in range(episode_len):
                commands = infos["admissible_commands"][0]
                command = commands[int(rng.integers(len(commands)))]
                t0 = time.perf_counter()
                obs, scores, dones, infos = package.step([command])
                t1 = time.perf_counter()
                text, reward, terminated, _, info = ours.step(command)
                t2 = time.perf_counter()
                spent["package_step"] += t1 - t0
                spent["agentrl_step"] += t2 - t1
                counts["step"] += 1
                identical &= (
                    obs[0].strip() == text
                    and infos["admissible_commands"][0] == info["admissible_actions"]
                    and bool(infos["won"][0]) == info["won"] == terminated
                    and float(scores[0]) == float(reward)
                )
                if dones[0] or terminated or counts["step"] >= steps:
                    break
        package.close()
        ours.close()
    rate = {key: (counts[key.split("_")[1]] / value if value else None) for key, value in spent.items()}
    return {
        "games": [g.task_type for g in games],
        "steps": counts["step"],
        "resets": counts["reset"],
        "identical": identical,
        "steps_per_s": {"agentrl": round(rate["agentrl_step"], 1), "package": round(rate["package_step"], 1)},
        "resets_per_s": {"agentrl": round(rate["agentrl_reset"], 2), "package": round(rate["package_reset"], 2)},
        "step_ratio": round(rate["agentrl_step"] / rate["package_step"], 1),
        "reset_ratio": round(rate["agentrl_reset"] / rate["package_reset"], 1),
        "reset_cold_ms": round(1000 * statistics.mean(cold), 1),
        "reset_warm_ms": round(1000 * (spent["agentrl_reset"] - sum(cold)) / max(1, counts["reset"] - len(cold)), 1),
        "package_reset_ms": round(1000 * spent["package_reset"] / counts["reset"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="steps per env")
    parser.add_argument("--envs", default="", help="comma-separated short names or ids (default: all single-agent)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, default=120.0, help="wall-clock budget per env (fewer steps if hit)")
    args = parser.parse_args()
    ids = [e.strip() for e in args.envs.split(",") if e.strip()] or [
        e.id for e in registered() if not e.multi_agent and e.id.startswith("agentrl/")
    ]
    wrapper_cost = _wrapper_cost_ns()
    results = []
    for env_id in ids:
        result = bench_env(env_id, args.steps, args.seed, wrapper_cost, args.budget_s)
        if "alfworld" in env_id.lower():
            result["vs_package"] = bench_alfworld_vs_package(args.steps, args.seed, args.budget_s)
        results.append(result)
    print(json.dumps({"benchmark": "env_step", "wrapper_cost_ns": round(wrapper_cost, 1), "envs": results}, indent=2))


if __name__ == "__main__":
    main()
