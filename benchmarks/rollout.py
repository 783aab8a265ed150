"""Rollout throughput: env steps/s and tokens/s against N envs, with two baselines.

For each N, ``collect`` plays N episodes on N envs (one generation batch per step)
and is compared, in the same run, with:

* ``pure_generate``: the engine alone generating the very prompt batches the rollout
  produced (no envs, no prompting, no parsing): ``ratio_to_generate`` is rollout
  tokens/s over that (target ≥ 0.8 at N=16). With ``--backend vllm`` that baseline is
  vLLM's own offline ``LLM.generate`` of the same token prompts; with ``--backend
  openai`` it is the server answering the same prompts;
* ``sequential``: the same episodes played one at a time with batch-1 generation, the
  naive loop: ``speedup_vs_sequential`` is rollout steps/s over that (target ≥ 4x).

With ``--async`` each N is also played in ``rollout.mode=async`` (envs in ``--executor``
workers, ``--waves`` groups taking turns to generate while the others step):
``async_speedup`` is its env steps/s over the synchronous rollout's, same episodes.
It pays off when env steps cost about as much as generation:

    python benchmarks/rollout.py --model tiny --envs 1,4,16
    python benchmarks/rollout.py --model smollm2 --envs 1,4,16 --max-new-tokens 16
    python benchmarks/rollout.py --env alfworld --envs 8 --executor subprocess --async
    python benchmarks/rollout.py --model smollm2 --backend openai --url http://127.0.0.1:8080/v1
    .venv-vllm/bin/python benchmarks/rollout.py --model smollm2 --backend vllm --envs 16
    python benchmarks/rollout.py --model smollm2 --env webshop --envs 8 --dtype bfloat16

``--dtype`` (hf) generates with a copy of the weights in that dtype (``backend.dtype``), and
each N is played again by the model itself (float32) on the same seeds: ``dtype_speedup``
is the copy's tokens/s over the model's.

``--backend vllm`` runs vLLM in-process (on CPU, in the ``make vllm`` virtualenv; ALFWorld
there needs ``.venv-vllm/bin/pip install alfworld``). Every timed phase starts with an empty
prefix cache, so no phase reuses the KV of prompts an earlier one computed.

With ``--turn-costs`` it instead plays the first N of ``--envs`` episodes for ``--turns``
turns, timing every turn's generation call, to show what long episodes cost as their
prompts grow; the hf backend runs twice, without and with its kept attention states
(``backend.prefix_cache_mb``), on the same seeds (greedy: the same replies):

    python benchmarks/rollout.py --env alfworld --model smollm2 --envs 5 --turns 20 --turn-costs
    python benchmarks/rollout.py --env alfworld --model smollm2 --envs 5 --turns 20 --turn-costs --history-drop 5
    python benchmarks/rollout.py --env webshop --model smollm2 --envs 5 --turns 10 --turn-costs
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

import agentrl
from agentrl.agents.backends import BackendConfig, HFBackend, load_backend
from agentrl.agents.backends.vllm import VLLMBackend
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.models import ModelConfig
from agentrl.trainer.rollout import RolloutConfig, collect


class _Recording:
    """Passes generation to a backend and remembers each batch of prompts and how long it took."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.eos_ids = getattr(backend, "eos_ids", set())
        self.batches: list[list[list[int]]] = []
        self.seconds: list[float] = []
        self.decode_steps: list[int] = []

    def generate(self, prompts: Any, params: SamplingParams) -> Any:
        self.batches.append([list(p) for p in prompts])
        start = time.perf_counter()
        completions = self.backend.generate(prompts, params)
        self.seconds.append(time.perf_counter() - start)
        self.decode_steps.append(max((len(c.token_ids) for c in completions), default=0))
        return completions


def _cold(backend: Any) -> Any:
    """``backend`` with its prefix cache emptied (vLLM's, or the hf backend's kept states), so no timed phase reuses
    the KV an earlier one computed."""
    if isinstance(backend, VLLMBackend):
        backend.llm.reset_prefix_cache()
    if isinstance(backend, HFBackend):
        backend.prefix_cache.clear()
    return backend


def _pure_generate(backend: Any, batches: list[list[list[int]]], params: SamplingParams) -> tuple[float, int]:
    """Seconds and tokens for the engine alone on the same prompt batches."""
    _cold(backend)
    start = time.perf_counter()
    if isinstance(backend, VLLMBackend):  # the engine's own offline generate, not agentrl's wrapper
        import vllm

        sampling = vllm.SamplingParams(
            max_tokens=params.max_new_tokens, temperature=params.temperature, top_p=params.top_p, seed=params.seed
        )
        tokens = 0
        for batch in batches:
            prompts = [vllm.inputs.TokensPrompt(prompt_token_ids=p) for p in batch]
            outputs = backend.llm.generate(prompts, sampling, use_tqdm=False)
            tokens += sum(len(o.outputs[0].token_ids) for o in outputs)
    else:
        tokens = sum(len(c.token_ids) for batch in batches for c in backend.generate(batch, params))
    return time.perf_counter() - start, tokens


def _play(
    backend: Any,
    tokenizer: Any,
    env: str,
    n: int,
    seeds: list[int],
    turns: int,
    params: SamplingParams,
    **rollout: Any,
) -> tuple[float, int, int, list[list[list[int]]]]:
    recording = _Recording(_cold(backend))
    agent = LLMAgent(recording, tokenizer, AgentConfig(sampling=params))
    config = RolloutConfig(num_envs=n, max_turns=turns, **rollout)
    start = time.perf_counter()
    trajectories = collect(lambda: agentrl.make(env), agent, seeds, config)
    seconds = time.perf_counter() - start
    steps = sum(len(t.turns) for t in trajectories)
    tokens = sum(len(turn.response_ids) for t in trajectories for turn in t.turns)
    return seconds, steps, tokens, recording.batches


def _turn_costs(backend: Any, tokenizer: Any, env: str, n: int, turns: int, agent_cfg: AgentConfig) -> dict[str, Any]:
    """Env steps/s of ``n`` episodes of ``turns`` turns played together, and each turn's generation time (every
    env steps together, so generation call k is turn k) against the first turn's."""
    recording = _Recording(backend)
    agent = LLMAgent(recording, tokenizer, agent_cfg)
    start = time.perf_counter()
    trajectories = collect(lambda: agentrl.make(env), agent, list(range(n)), RolloutConfig(num_envs=n, max_turns=turns))
    seconds = time.perf_counter() - start
    steps = sum(len(t.turns) for t in trajectories)
    first = recording.seconds[0]
    late = recording.seconds[-3:]
    return {
        "seconds": round(seconds, 2),
        "env_steps_per_s": round(steps / seconds, 3),
        "turn_seconds": [round(t, 3) for t in recording.seconds],
        "turn_cost_vs_first": [round(t / first, 2) for t in recording.seconds],
        "late_over_early": round(sum(late) / len(late) / (sum(recording.seconds[:3]) / 3), 2),
        "prompt_tokens": [max(len(p) for p in batch) for batch in recording.batches],
        "decode_steps": recording.decode_steps,
        **backend.stats(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny, smollm2, or an HF id / path")
    parser.add_argument("--env", default="sokoban")
    parser.add_argument("--envs", default="1,4,16", help="comma-separated N values")
    parser.add_argument("--turns", type=int, default=4, help="turns per episode")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--executor", default="inline", help="where envs run: inline, subprocess, thread, ray")
    parser.add_argument("--async", dest="async_mode", action="store_true", help="also play each N in async mode")
    parser.add_argument("--waves", type=int, default=2, help="async mode: env groups taking turns")
    parser.add_argument("--backend", default="hf", help="hf, vllm (in-process) or openai (a server at --url)")
    parser.add_argument("--url", default="", help="openai backend: the server's base URL (http://host:port/v1)")
    parser.add_argument("--device", default="cpu", help="hf backend: torch device")
    parser.add_argument("--kv-cache-gib", type=float, default=1.0, help="vllm backend on CPU: its KV cache (GiB)")
    parser.add_argument("--dtype", default="", help="hf: generate in this dtype (backend.dtype), against float32")
    parser.add_argument("--turn-costs", action="store_true", help="time each turn of long episodes instead")
    parser.add_argument("--history", type=int, default=10, help="turn costs: agent.history (the env blocks' 10)")
    parser.add_argument("--history-drop", type=int, default=1, help="turn costs: agent.history_drop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backend, tokenizer, model = load_backend(
        BackendConfig(name=args.backend, url=args.url, kv_cache_gib=args.kv_cache_gib, dtype=args.dtype),
        ModelConfig(name=args.model, device=args.device),
    )
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=1.0, seed=0)
    if args.turn_costs:
        n = int(args.envs.split(",")[0])
        sampling = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0)
        greedy = AgentConfig(history=args.history, history_drop=args.history_drop, sampling=sampling)
        runs = {args.backend: backend}
        if isinstance(backend, HFBackend):  # the same model, recomputing every prompt whole
            runs = {"hf_no_reuse": HFBackend(model, tokenizer, prefix_cache_mb=0), "hf_reuse": backend}
        _play(backend, tokenizer, args.env, 1, [0], 1, params)  # warm-up
        for b in runs.values():
            if isinstance(b, HFBackend):
                b.prefix_cache.clear()  # the timed episodes start with nothing kept
        costs = {name: _turn_costs(_cold(b), tokenizer, args.env, n, args.turns, greedy) for name, b in runs.items()}
        report = {"benchmark": "rollout_turn_costs", "model": args.model, "env": args.env, "episodes": n}
        report.update(turns=args.turns, history=args.history, history_drop=args.history_drop)
        print(json.dumps({**report, "backends": costs}, indent=2))
        return
    _play(backend, tokenizer, args.env, 1, [0], 1, params)  # warm-up: first calls pay one-off costs
    plain = HFBackend(model, tokenizer) if args.dtype else None
    if plain is not None:
        _play(plain, tokenizer, args.env, 1, [0], 1, params)  # its warm-up too
    rows = []
    for n in [int(x) for x in args.envs.split(",")]:
        seeds = list(range(n))
        play = {"executor": args.executor}
        seconds, steps, tokens, batches = _play(backend, tokenizer, args.env, n, seeds, args.turns, params, **play)
        generate_seconds, generated = _pure_generate(backend, batches, params)
        seq_seconds, seq_steps, _, _ = _play(backend, tokenizer, args.env, 1, seeds, args.turns, params, **play)
        row: dict[str, Any] = {}
        if plain is not None:  # the same episodes generated by the float32 model itself
            plain_seconds, _, plain_tokens, _ = _play(plain, tokenizer, args.env, n, seeds, args.turns, params, **play)
            row = {
                "float32_tokens_per_s": round(plain_tokens / plain_seconds, 1),
                "dtype_speedup": round((tokens / seconds) / (plain_tokens / plain_seconds), 2),
            }
        if args.async_mode:
            async_seconds, async_steps, _, _ = _play(
                backend, tokenizer, args.env, n, seeds, args.turns, params, mode="async", waves=args.waves, **play
            )
            row |= {
                "async_seconds": round(async_seconds, 3),
                "async_env_steps_per_s": round(async_steps / async_seconds, 2),
                "async_speedup": round((async_steps / async_seconds) / (steps / seconds), 2),
            }
        rows.append(
            {
                "n_envs": n,
                "episodes": n,
                "env_steps": steps,
                "tokens": tokens,
                "seconds": round(seconds, 3),
                "env_steps_per_s": round(steps / seconds, 2),
                "tokens_per_s": round(tokens / seconds, 1),
                "pure_generate_tokens_per_s": round(generated / generate_seconds, 1),
                "ratio_to_generate": round((tokens / seconds) / (generated / generate_seconds), 3),
                "sequential_env_steps_per_s": round(seq_steps / seq_seconds, 2),
                "speedup_vs_sequential": round((steps / seconds) / (seq_steps / seq_seconds), 2),
                **row,
            }
        )
    report = {
        "benchmark": "rollout",
        "model": args.model,
        "backend": args.backend,
        "env": args.env,
        "executor": args.executor,
        "dtype": args.dtype or "float32",
        "rows": rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
