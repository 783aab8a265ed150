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

    python benchmarks/env_step.py --steps 2000 --budget-s 120
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
    rng = np.random.default_rng(seed)
    rows: dict[str, list[float]] = {k: [] for k in (*COMPONENTS, "total", "agentrl")}
    deadline = time.monotonic() + budget_s
    for _ in range(steps):
        if time.monotonic() > deadline:  # slow envs (a real browser) stop at the time budget
            break
        choices = info["admissible_actions"] or [info["expert_action"] or ""]
        action = choices[int(rng.integers(len(choices)))]
        clock.reset()
        start = time.perf_counter_ns()
        _, _, terminated, truncated, info = env.step(action)
        total = time.perf_counter_ns() - start
        parts = dict(clock.spent)
        overhead = total - sum(parts.values()) - clock.calls * wrapper_cost
        for key in COMPONENTS:
            rows[key].append(parts[key] / 1000)
        rows["total"].append(total / 1000)
        rows["agentrl"].append(max(0.0, overhead) / 1000)
        if terminated or truncated:
            _, info = env.reset()
            wrap_engine()
    env.close()
    medians = {key: round(statistics.median(values), 2) for key, values in rows.items()}
    return {
        "env": env_id,
        "steps": len(rows["total"]),
        "engine_timed_at": raw_name,
        "median_us": medians,
        "agentrl_share": round(medians["agentrl"] / medians["total"], 4) if medians["total"] else None,
        "total_over_engine": round(medians["total"] / medians["engine"], 3) if medians["engine"] else None,
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
    results = [bench_env(env_id, args.steps, args.seed, wrapper_cost, args.budget_s) for env_id in ids]
    print(json.dumps({"benchmark": "env_step", "wrapper_cost_ns": round(wrapper_cost, 1), "envs": results}, indent=2))


if __name__ == "__main__":
    main()
