"""What sharing a row between an episode's turns saves the policy-gradient update and a supervised step
(``algo.pg.pack_turns``, ``algo.update.pack_turns``).

Records ``--episodes`` expert episodes of an env with the run's prompt builder (as the
warm-up of ``agentrl train`` does: the env's recipe and ``agent.history`` included), gives
each turn a random advantage, and times one update of ``algo.pg`` (the scoring pass for the
old log-probs, then ``--epochs`` epochs of the clipped loss) on the same turns twice, each on
a fresh copy of the policy: with a row per turn, then with the turns that extend the turn
before in one row; then one supervised step (SFT's, on every turn at once) each way. An env
whose prompts keep the whole history (guess-the-number) packs; one whose prompt keeps a window
sliding by one turn, or cuts observations, has short runs or none and gains little or
nothing: ``rows_packed`` says which.

Prints JSON: seconds per update each way (median of ``--repeats``), tokens through the model
each way (rows x padded width of every forward pass), turns and rows, and ``speedup`` = the row
per turn's time over the packed one's (``sft_speedup`` for the supervised step); the two ways'
log-probs and SFT losses are reported to agree.

    python benchmarks/pack_turns.py                                  # SmolLM2, guess-the-number 1..100
    python benchmarks/pack_turns.py --env webshop --episodes 8
    python benchmarks/pack_turns.py --model tiny --episodes 4 --repeats 1
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import time

import torch

# Run as a script, this folder is on the path: the expert episodes are recorded as sft_cache.py records them.
from sft_cache import expert_trajectories

from agentrl.trainer.batch import flatten_turns, turn_batch
from agentrl.trainer.pg import PGConfig, chains, make_optimizer, pg_update, score_batch
from agentrl.trainer.policy import LowerCache, Policy, PolicyConfig
from agentrl.trainer.sft import SupervisedConfig, supervised_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="guess")
    parser.add_argument("--env-kwarg", action="append", default=None, help="KEY=VALUE (default for guess: high=100)")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--top-layers", type=int, default=8, help="policy.train_top_layers (0: every weight)")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="updates timed per way")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    kwargs = args.env_kwarg if args.env_kwarg is not None else (["high=100"] if args.env == "guess" else [])
    cfg_run, model, tokenizer, trajectories = expert_trajectories(
        args.env, args.model, args.episodes, [f"env.kwargs.{kv}" for kv in kwargs], max_turns=30
    )
    turns, _ = flatten_turns(trajectories)
    batch = turn_batch(turns, int(tokenizer.pad_token_id))
    generator = torch.Generator().manual_seed(0)
    advantages = batch.per_token(torch.randn(len(turns), generator=generator))
    # The update settings `agentrl train` would run with (the env's recipe for algo.pg included).
    base = dataclasses.replace(getattr(cfg_run.algo, "pg", PGConfig()), epochs=args.epochs)
    runs = chains(dataclasses.replace(base, pack_turns=True), turns, batch)

    def update(pack: bool) -> tuple[float, int, torch.Tensor]:
        cfg = dataclasses.replace(base, pack_turns=pack)
        policy = Policy(copy.deepcopy(model), PolicyConfig(train_top_layers=args.top_layers))
        policy.train()
        optimizer = make_optimizer((p for _, p in policy.trainable_named_parameters()), cfg.lr, cfg.weight_decay)
        tokens = [0]

        def count(_module: torch.nn.Module, positional: tuple, named: dict) -> None:
            ids = named.get("input_ids", positional[0] if positional else None)
            tokens[0] += int((ids if ids is not None else named["inputs_embeds"][..., 0]).numel())

        hook = policy.model.register_forward_pre_hook(count, with_kwargs=True)
        tick = time.perf_counter()
        cache = LowerCache(policy, cfg.lower_cache_mb)
        work = dataclasses.replace(batch, fields={})
        work.fields.update(score_batch(policy, work, cfg, 1.0, cache=cache, turns=turns))
        old = work.fields["old_logprobs"].clone()
        work.fields["advantages"] = advantages
        pg_update(policy, optimizer, work, cfg, temperature=1.0, generator=torch.Generator().manual_seed(1),
                  cache=cache, turns=turns)  # fmt: skip
        seconds = time.perf_counter() - tick
        hook.remove()
        return seconds, tokens[0], old

    def supervised(pack: bool) -> tuple[float, float]:
        cfg = dataclasses.replace(cfg_run.algo.update if hasattr(cfg_run.algo, "update") else SupervisedConfig(),
                                  pack_turns=pack)  # fmt: skip
        policy = Policy(copy.deepcopy(model), PolicyConfig(train_top_layers=args.top_layers))
        policy.train()
        optimizer = make_optimizer((p for _, p in policy.trainable_named_parameters()), cfg.lr, cfg.weight_decay)
        tick = time.perf_counter()
        stats = supervised_step(policy, optimizer, turns, cfg, int(tokenizer.pad_token_id), cfg.lr)
        return time.perf_counter() - tick, stats["sft_loss"]

    figures: dict[str, list[float]] = {"per_turn": [], "packed": [], "sft_per_turn": [], "sft_packed": []}
    tokens: dict[str, int] = {}
    logprobs: dict[str, torch.Tensor] = {}
    losses: dict[str, float] = {}
    for _ in range(args.repeats):
        for way, pack in (("per_turn", False), ("packed", True)):
            seconds, tokens[way], logprobs[way] = update(pack)
            figures[way].append(seconds)
            seconds, losses[way] = supervised(pack)
            figures[f"sft_{way}"].append(seconds)
    gap = float(((logprobs["packed"] - logprobs["per_turn"]).abs() * batch.response_mask).max())
    per_turn, packed = statistics.median(figures["per_turn"]), statistics.median(figures["packed"])
    print(
        json.dumps(
            {
                "model": args.model,
                "env": args.env,
                "env_kwargs": kwargs,
                "trained_blocks": args.top_layers or "all",
                "episodes": len(trajectories),
                "turns": len(turns),
                "rows_packed": len(runs) if runs is not None else len(turns),
                "tokens_per_turn": round(statistics.mean(batch.lengths()), 1),
                "epochs": args.epochs,
                "threads": args.threads,
                "per_turn_s_per_update": round(per_turn, 3),
                "packed_s_per_update": round(packed, 3),
                "per_turn_tokens": tokens["per_turn"],
                "packed_tokens": tokens["packed"],
                "max_old_logprob_gap": gap,
                "speedup": round(per_turn / packed, 2),
                "sft_per_turn_s_per_step": round(statistics.median(figures["sft_per_turn"]), 3),
                "sft_packed_s_per_step": round(statistics.median(figures["sft_packed"]), 3),
                "sft_loss_gap": abs(losses["packed"] - losses["per_turn"]),
                "sft_speedup": round(
                    statistics.median(figures["sft_per_turn"]) / statistics.median(figures["sft_packed"]), 2
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
