"""Case memory (AgentFly): retrieval latency, and continual-learning curves with and without memory.

Three parts, each printed as one JSON object (nothing is asserted):

* ``latency`` — top-4 cosine retrieval over 1k / 10k / 100k cases of width 384: the case
  bank's own search (numpy matrix-vector product over the cached embeddings, plus the
  SQLite read of the 4 cases), the bare numpy product, faiss ``IndexFlatIP`` and
  sqlite-vec's ``vec0`` KNN where those packages are importable (they are not agentrl
  dependencies: ``pip install faiss-cpu sqlite-vec`` to include them), and the bank's
  write rate. Ratios are against the bare numpy product in the same run.
* ``scripted`` — the mechanism, independent of model quality: on FrozenLake (random 4x4
  maps, one per task seed) a scripted agent that learns only through the bank replays a
  retrieved success of the same map, and otherwise explores at random, avoiding the moves
  that ended retrieved failures of that map early; the same tasks are played for several
  rounds, with memory (cases written after every episode) and without.
* ``smollm2`` — the packaged SmolLM2-135M-Instruct (greedy) on WebShop's test goals for a
  few rounds over the same goals, with a case memory that grows after every episode. Round
  1 has an empty bank, so its prompts are those of the run without memory; greedy decoding
  makes every later round without memory repeat round 1, which is therefore the
  without-memory curve (stated in the output). About a minute per episode on 2 free cores.

    python benchmarks/memory.py --part latency
    python benchmarks/memory.py --part scripted --rounds 10 --tasks 40 --max-turns 20
    python benchmarks/memory.py --part smollm2 --rounds 3 --tasks 5 --env webshop
"""

from __future__ import annotations

import argparse
import functools
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentrl.agents.base import AgentStep, EpisodeStart, text_step
from agentrl.agents.types import Trajectory
from agentrl.memory import Case, CaseBank, CaseMemory, MemoryAgent, MemoryConfig, RetrieverConfig
from agentrl.memory.agent import case_text

KEY = "task_and_observation"
"""The scripted part's ``memory.key``: FrozenLake's task text is the same for every map; the map is the observation."""


def _timed(fn: Any, repeats: int) -> float:
    fn()  # warm
    tick = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - tick) / repeats * 1e3


def latency(sizes: Sequence[int], dim: int = 384, k: int = 4, queries: int = 50) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    rows = {str(n): _latency_at(n, rng, dim, k, queries) for n in sizes}
    return {"dim": dim, "k": k, "ms_per_query": rows}


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _latency_at(n: int, rng: np.random.Generator, dim: int, k: int, queries: int) -> dict[str, Any]:
    vectors, qs = _unit(rng, n, dim), _unit(rng, queries, dim)
    it = iter(range(10**9))

    def query() -> np.ndarray:
        return qs[next(it) % queries]

    row: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bank = CaseBank(Path(tmp) / "bank.sqlite", encoder="hash", dim=dim)
        cases = [Case(task=f"task {i}", env_id="bench", won=bool(i % 2), summary="Actions: x") for i in range(n)]
        tick = time.perf_counter()
        for start in range(0, n, 1000):
            bank.add(cases[start : start + 1000], vectors[start : start + 1000])
        row["bank_write_cases_per_s"] = n / (time.perf_counter() - tick)
        tick = time.perf_counter()
        bank.matrix("bench")
        row["bank_first_load_ms"] = (time.perf_counter() - tick) * 1e3
        row["bank_search"] = _timed(lambda: bank.search(query(), k, env_id="bench"), queries)
        bank.close()
    row["numpy"] = _timed(lambda: np.argpartition(-(vectors @ query()), k)[:k], queries)
    try:
        import faiss

        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        row["faiss_flat"] = _timed(lambda: index.search(query()[None, :], k), queries)
    except ImportError:
        row["faiss_flat"] = "faiss not installed (pip install faiss-cpu)"
    try:
        import sqlite_vec

        db = sqlite3.connect(":memory:")
        db.enable_load_extension(True)
        sqlite_vec.load(db)
        db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dim}] distance_metric=cosine)")
        db.executemany("INSERT INTO v (rowid, embedding) VALUES (?, ?)", ((i, vectors[i].tobytes()) for i in range(n)))
        sql = "SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = ?"
        row["sqlite_vec"] = _timed(lambda: db.execute(sql, (query().tobytes(), k)).fetchall(), 10)
    except (ImportError, AttributeError, sqlite3.Error) as err:
        row["sqlite_vec"] = f"sqlite-vec unavailable ({err})"
    timed = ("bank_search", "faiss_flat", "sqlite_vec")
    row["ratio_vs_numpy"] = {name: row[name] / row["numpy"] for name in timed if isinstance(row[name], float)}
    return row


class ReplayAgent:
    """A scripted agent that only learns through the case memory: it replays the actions of a retrieved
    success of the same map, and otherwise explores at random while avoiding every move that ended a
    retrieved failure of the same map early (a fall into a hole)."""

    def __init__(self, salt: int, max_turns: int):
        self.salt, self.max_turns = salt, max_turns

    def start_episode(self, start: EpisodeStart) -> dict[str, Any]:
        plan: list[str] = []
        fatal: set[tuple[str, ...]] = set()
        key = case_text(start, KEY)  # what this episode's own case will be stored under
        for case in start.info["memory_cases"]:  # best first; ties newest first
            if case["task"] != key or not case["summary"].startswith("Actions: "):
                continue  # another map's case says nothing about this one
            actions = case["summary"].removeprefix("Actions: ").rsplit(". ", 1)[0].split(" -> ")
            if case["won"] and not plan:
                plan = actions
            elif not case["won"] and len(actions) < self.max_turns:
                fatal.add(tuple(actions))
        rng = np.random.default_rng([start.seed, self.salt])
        return {"plan": plan, "fatal": fatal, "done": [], "rng": rng, "info": start.info}

    def act(self, episodes: Sequence[dict[str, Any]]) -> list[AgentStep]:
        steps = []
        for e in episodes:
            turn = len(e["done"])
            if turn < len(e["plan"]):
                action = e["plan"][turn]
            else:
                legal = list(e["info"]["admissible_actions"])
                safe = [a for a in legal if (*e["done"], a) not in e["fatal"]]
                action = str(e["rng"].choice(safe or legal))
            e["done"].append(action)
            steps.append(text_step(action))
        return steps

    def observe(self, episode: dict[str, Any], step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        episode["info"] = info

    def end_episode(self, episode: Any, trajectory: Trajectory) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def scripted(rounds: int, tasks: int, max_turns: int) -> dict[str, Any]:
    from agentrl.cli.config import load
    from agentrl.cli.evaluate import EvalRunConfig
    from agentrl.factory import make_from_config
    from agentrl.trainer.rollout import RolloutConfig, collect

    cfg = load("eval", ["env=frozenlake", "env.kwargs.p=0.7"], EvalRunConfig)
    factory = functools.partial(make_from_config, cfg.env)
    seeds = list(range(1000, 1000 + tasks))
    rollout = RolloutConfig(num_envs=8, max_turns=max_turns)
    curves: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, enabled in (("without_memory", False), ("with_memory", True)):
            memory = CaseMemory(
                MemoryConfig(
                    enabled=True,
                    path=f"{tmp}/{name}.sqlite",
                    encoder="hash",
                    key=KEY,
                    read=enabled,
                    write=enabled,
                    retriever=RetrieverConfig(k=8),
                )
            )
            curve = []
            for r in range(rounds):
                agent = MemoryAgent(ReplayAgent(salt=r, max_turns=max_turns), memory)
                trajectories = collect(factory, agent, seeds, rollout, env_id="agentrl/FrozenLake-v0")
                curve.append(sum(t.won for t in trajectories) / len(trajectories))
            curves[name] = curve
            memory.close()
    return {
        "env": "agentrl/FrozenLake-v0 (random 4x4 maps, p=0.7)",
        "tasks": tasks,
        "rounds": rounds,
        "max_turns": max_turns,
        "success_per_round": curves,
    }


def smollm2(rounds: int, tasks: int, env: str, out: Path) -> dict[str, Any]:
    from agentrl.agents.backends import load_backend
    from agentrl.agents.llm_agent import LLMAgent
    from agentrl.cli.config import load
    from agentrl.cli.evaluate import EvalRunConfig
    from agentrl.factory import make_from_config
    from agentrl.trainer.evaluate import evaluate, single_agent_env_id

    torch.set_num_threads(2)
    cfg = load("eval", [f"env={env}", "model=smollm2", f"eval.episodes={tasks}"], EvalRunConfig)
    factory = functools.partial(make_from_config, cfg.env)
    env_id = single_agent_env_id(factory, cfg.env.id, "benchmark")
    backend, tokenizer, _ = load_backend(cfg.backend, cfg.model)
    out.mkdir(parents=True, exist_ok=True)
    memory = CaseMemory(MemoryConfig(enabled=True, path=str(out / "cases.sqlite"), encoder="minilm"))
    per_round = []
    for r in range(rounds):
        tick = time.perf_counter()
        agent = MemoryAgent(LLMAgent(backend, tokenizer, cfg.agent), memory, source=f"round {r + 1}")
        result = evaluate(agent, factory, cfg.env, cfg.eval, cfg.rollout, env_id=env_id)
        summary = result.summary
        per_round.append(
            {
                "round": r + 1,
                "success": summary["success"]["mean"],
                "score": summary["score"]["mean"],
                "invalid_action_rate": summary["invalid_action_rate"],
                "cases_in_bank_before": len(memory.bank) - tasks,
                "mean_prompt_tokens": agent.agent.prompt_stats.tokens / max(agent.agent.prompt_stats.prompts, 1),
                "seconds": time.perf_counter() - tick,
            }
        )
        print(json.dumps(per_round[-1]), flush=True)
    memory.close()
    backend.close()
    return {
        "env": env_id,
        "split": result.split,
        "tasks": tasks,
        "rounds": per_round,
        "without_memory": "round 1 (empty bank: the same prompts as without memory; greedy decoding repeats it "
        "every round)",
        "success_with_memory": [r["success"] for r in per_round],
        "score_with_memory": [r["score"] for r in per_round],
        "mean_score_spread": statistics.pstdev(r["score"] for r in per_round) if per_round else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["latency", "scripted", "smollm2"], default="latency")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--max-turns", type=int, default=20)
    parser.add_argument("--env", default="webshop", help="smollm2 part: webshop or alfworld")
    parser.add_argument("--out", default="runs/bench-memory")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.part == "latency":
        result = latency([int(s) for s in args.sizes.split(",")])
    elif args.part == "scripted":
        result = scripted(args.rounds, args.tasks, args.max_turns)
    else:
        result = smollm2(args.rounds, args.tasks, args.env, Path(args.out))
    print(json.dumps({"part": args.part, **result}, indent=2))


if __name__ == "__main__":
    main()
