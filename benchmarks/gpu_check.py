"""The GPU check that ``benchmarks/gpu_check.sh`` runs: agentrl's training and rollout paths on one GPU (and two).

Figures, as JSON:

* ``train``: bf16 full fine-tuning of randomly initialised Llama-shaped models of ~0.5B and
  ~1.5B parameters through agentrl's own update path (:class:`~agentrl.trainer.policy.Policy`,
  :func:`~agentrl.trainer.pg.score_batch`, :func:`~agentrl.trainer.pg.pg_update` with AdamW):
  tokens/s, peak GPU memory and MFU (model FLOP/s over the card's dense bf16 peak, from
  :data:`PEAK_BF16_TFLOPS` or ``--peak-tflops``) on one batch shape, then ``new_lengths_*``: batches
  scored and updated at a new length each (RL batches are as long as their longest row). FLOPs per update token are
  ``6 * (non-embedding weights) + 12 * layers * hidden * length`` (weights and attention, forward
  and backward) plus ``6 * vocab * hidden`` on the response tokens, the only ones whose logits the
  update computes;
* ``rollout``: the hf backend's batched generation in agentrl's rollout loop on a text env
  (env steps/s, generated tokens/s) with a 0.5B-shaped model over the tiny tokenizer's vocabulary
  (no network: no pretrained tokenizer), random weights, so replies are noise and episodes run to
  the turn limit;
* ``data_parallel``: the 0.5B update on 2 ranks (``torchrun``, NCCL) when the machine has 2 GPUs:
  tokens/s over both and the scaling against one.

``--dry-run`` runs every path with CPU-sized models (bf16 on the CPU, 2 Gloo ranks), so the test
suite keeps the script working where no GPU is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

PEAK_BF16_TFLOPS = {
    "B200": 2250.0,
    "H200": 989.4,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.5,
    "H100": 989.4,
    "GH200": 989.4,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.1,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "RTX 4090": 165.2,
    "RTX 3090": 71.0,
    "RTX 6000 Ada": 364.2,
    "MI300X": 1307.4,
}
"""Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets, matched against the device
name in this order (the first key found in it wins: "H100 PCIe" before "H100")."""


@dataclass
class Shape:
    """A Llama-shaped model."""

    name: str
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int = 32000

    def config(self, vocab: int | None = None) -> Any:
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=vocab or self.vocab,
            hidden_size=self.hidden,
            intermediate_size=self.intermediate,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
        )


SHAPES = {
    "0.5b": Shape("0.5b", hidden=1024, layers=24, intermediate=5632, heads=16, kv_heads=8),
    "1.5b": Shape("1.5b", hidden=2048, layers=28, intermediate=6144, heads=16, kv_heads=8),
}
DRY_SHAPES = {
    "0.5b": Shape("0.5b-dry", hidden=64, layers=2, intermediate=128, heads=4, kv_heads=2, vocab=512),
    "1.5b": Shape("1.5b-dry", hidden=96, layers=3, intermediate=192, heads=4, kv_heads=2, vocab=512),
}


def peak_tflops(device_name: str) -> float | None:
    for key, peak in PEAK_BF16_TFLOPS.items():
        if key.lower() in device_name.lower():
            return peak
    return None


def build(shape: Shape, device: torch.device, vocab: int | None = None) -> Any:
    """A randomly initialised bf16 model, made on ``device`` (no fp32 copy on the host)."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(shape.config(vocab)).to(torch.bfloat16)
    return model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_figures(shape: Shape, device: torch.device, rows: int, length: int, steps: int) -> dict[str, Any]:
    """Tokens/s, peak memory and FLOP/s of agentrl's update on a random batch."""
    from agentrl.trainer import distributed
    from agentrl.trainer.batch import TokenBatch
    from agentrl.trainer.pg import PGConfig, make_optimizer, pg_update, score_batch
    from agentrl.trainer.policy import Policy

    model = build(shape, device)
    model.train()
    policy = Policy(model)
    generator = torch.Generator().manual_seed(distributed.rank())
    cfg = PGConfig(lr=1e-5, epochs=1, minibatch_size=rows, micro_batch_size=rows, micro_batch_tokens=rows * length)

    def scored(policy: Policy, width: int) -> TokenBatch:
        ids = torch.randint(3, shape.vocab, (rows, width), generator=generator)
        response = torch.zeros(rows, width - 1)
        response[:, width // 2 :] = 1.0  # the second half of every row is the reply
        batch = TokenBatch(ids, torch.ones(rows, width, dtype=torch.long), response)
        batch.fields["advantages"] = batch.per_token(torch.randn(rows, generator=generator))
        batch.fields.update(score_batch(policy, batch, cfg, temperature=1.0))
        return batch

    batch = scored(policy, length)
    optimizer = make_optimizer([p for _, p in policy.trainable_named_parameters()], cfg.lr, cfg.weight_decay)
    step = torch.Generator().manual_seed(0)
    pg_update(policy, optimizer, batch, cfg, temperature=1.0, generator=step)  # warm-up: allocator, kernels
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        stats = pg_update(policy, optimizer, batch, cfg, temperature=1.0, generator=step)
    _sync(device)
    seconds = time.perf_counter() - start
    # RL batches are as long as their longest row, so most have a length not seen before: score and update
    # `steps` batches of new lengths between half and all of `length`, as an iteration's update does.
    widths = [length - (i + 1) * (length // 2) // (steps + 1) for i in range(steps)]
    _sync(device)
    start = time.perf_counter()
    for width in widths:
        pg_update(policy, optimizer, scored(policy, width), cfg, temperature=1.0, generator=step)
    _sync(device)
    varying = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    tokens = rows * length * steps
    response_tokens = rows * (length - 1 - length // 2) * steps
    flops = 6 * (params - embedding) * tokens + 12 * shape.layers * shape.hidden * length * tokens
    flops += 6 * embedding * response_tokens
    out = {
        "model": shape.name,
        "parameters": params,
        "rows": rows,
        "tokens_per_row": length,
        "steps": steps,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "tflops_per_s": round(flops / seconds / 1e12, 3),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
        "grad_norm": round(float(stats["grad_norm"]), 4),
        "new_lengths_seconds": round(varying, 3),
        "new_lengths_tokens_per_s": round(rows * sum(widths) / varying, 1),
    }
    del policy, model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def rollout_figures(shape: Shape, device: torch.device, envs: int, turns: int, max_new_tokens: int) -> dict[str, Any]:
    """Env steps/s and generated tokens/s of agentrl's rollout loop with the hf backend."""
    import agentrl
    from agentrl.agents.backends import HFBackend
    from agentrl.agents.generation import SamplingParams
    from agentrl.agents.llm_agent import AgentConfig, LLMAgent
    from agentrl.agents.models import build_tiny_tokenizer
    from agentrl.trainer.rollout import RolloutConfig, collect

    tokenizer = build_tiny_tokenizer()
    model = build(shape, device, vocab=len(tokenizer)).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    backend = HFBackend(model, tokenizer)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=1.0, seed=0)
    agent = LLMAgent(backend, tokenizer, AgentConfig(sampling=params), context_length=4096)
    config = RolloutConfig(num_envs=envs, max_turns=turns)
    collect(lambda: agentrl.make("sokoban"), agent, [0], RolloutConfig(num_envs=1, max_turns=1))  # warm-up
    _sync(device)
    start = time.perf_counter()
    trajectories = collect(lambda: agentrl.make("sokoban"), agent, list(range(envs)), config)
    _sync(device)
    seconds = time.perf_counter() - start
    steps = sum(len(t.turns) for t in trajectories)
    tokens = sum(len(turn.response_ids) for t in trajectories for turn in t.turns)
    return {
        "env": "sokoban",
        "model": shape.name,
        "envs": envs,
        "turns": turns,
        "env_steps": steps,
        "seconds": round(seconds, 3),
        "env_steps_per_s": round(steps / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        **backend.stats(),
    }


def data_parallel(args: argparse.Namespace, single: dict[str, Any]) -> dict[str, Any]:
    """The 0.5B update on 2 ranks under torchrun; tokens/s over both ranks and the scaling against one rank."""
    out = f"{args.out}.ranks.json"
    # --standalone: torchrun's rendezvous on a free local port (a fixed one may be held by another job)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [__file__, "--rank-worker", "--out", out] + (["--dry-run"] if args.dry_run else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    if done.returncode != 0:
        said = (done.stderr + done.stdout)[-3000:]
        return {"error": f"torchrun exited {done.returncode}: {said}"}
    with open(out) as fh:
        ranks = json.load(fh)
    os.unlink(out)
    total = sum(r["tokens_per_s"] for r in ranks)
    return {
        "ranks": len(ranks),
        "backend": "gloo" if args.dry_run else "nccl",
        "tokens_per_s": round(total, 1),
        "scaling": round(total / (len(ranks) * single["tokens_per_s"]), 3),
        "per_rank": ranks,
    }


def rank_worker(args: argparse.Namespace) -> None:
    """One data-parallel rank (under torchrun): the 0.5B update; rank 0 writes every rank's figures."""
    from agentrl.trainer import distributed

    device = torch.device(distributed.init("cpu" if args.dry_run else "cuda"))
    sizes = DRY_SHAPES if args.dry_run else SHAPES
    rows, length, steps = _sizes(args)
    figures = train_figures(sizes["0.5b"], device, rows, length, steps)
    everyone = distributed.gather_one(figures)
    if distributed.rank() == 0:
        with open(args.out, "w") as fh:
            json.dump(everyone, fh)
    distributed.shutdown()
    # A Gloo rank that trained sometimes aborts in the interpreter's own teardown, after all of the above ("terminate
    # called without an active exception", SIGABRT; 1 in 10 to 30 dry runs here, torch 2.13 on the CPU), and
    # torchrun then reports the whole run failed. Nothing is left to do or flush but the standard streams.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _sizes(args: argparse.Namespace) -> tuple[int, int, int]:
    if args.dry_run:
        return 2, 32, 2
    rows = args.rows or (8 if torch.cuda.get_device_properties(0).total_memory >= 60 * 2**30 else 2)
    return rows, args.length, args.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU-sized models on the CPU (bf16, Gloo)")
    parser.add_argument("--out", default="gpu_check.json", help="where the JSON goes (also printed)")
    parser.add_argument("--rows", type=int, default=0, help="rows per update step (0: 8 on 60+ GiB cards, else 2)")
    parser.add_argument("--length", type=int, default=1024, help="tokens per row")
    parser.add_argument("--steps", type=int, default=5, help="timed update steps per model")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the card's dense bf16 peak, if not known")
    parser.add_argument("--timeout", type=int, default=300, help="seconds for the 2-rank run")
    parser.add_argument("--rank-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_worker:
        rank_worker(args)
        return
    if args.dry_run:
        torch.set_num_threads(1)
        device = torch.device("cpu")
        name, sizes = "cpu (dry run)", DRY_SHAPES
        gpus = 0
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA GPU visible: run with --dry-run for the CPU-sized check")
        device = torch.device("cuda", 0)
        name, sizes = torch.cuda.get_device_name(0), SHAPES
        gpus = torch.cuda.device_count()
    peak = args.peak_tflops if args.peak_tflops is not None else (None if args.dry_run else peak_tflops(name))
    started = time.perf_counter()
    rows, length, steps = _sizes(args)
    train = []
    for shape in sizes.values():
        try:
            figures = train_figures(shape, device, rows, length, steps)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            error = f"out of memory at {rows} rows x {length} tokens: lower --rows"
            train.append({"model": shape.name, "error": error})
            continue
        figures["mfu"] = round(figures["tflops_per_s"] / peak, 4) if peak else None
        train.append(figures)
    envs, turns, new = (2, 2, 8) if args.dry_run else (32, 4, 48)
    rollout = rollout_figures(sizes["0.5b"], device, envs, turns, new)
    report: dict[str, Any] = {
        "benchmark": "gpu_check",
        "dry_run": args.dry_run,
        "device": name,
        "gpus": gpus,
        "peak_bf16_tflops": peak,
        "torch": torch.__version__,
        "dtype": "bfloat16",
        "train": train,
        "rollout": rollout,
    }
    if (args.dry_run or gpus >= 2) and "tokens_per_s" in train[0]:
        report["data_parallel"] = data_parallel(args, train[0])
    report["seconds"] = round(time.perf_counter() - started, 1)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
