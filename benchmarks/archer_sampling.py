"""ArCHer's critic-phase sampling: one grouped call against one generation call per critic step.

ArCHer's V target needs the actor's fresh reply at every transition of every critic step's
batch (``critic_steps x batch_size`` replies per iteration). A replay buffer early in a run
holds few states, so each is drawn many times over. This times that sampling on real
prompts (a collected dataset's turns) two ways, in the same run, with the same model, the
same drawn transitions and the same sampling settings:

* ``per_step``: one generation call per critic step, on the hf backend without the sharing of a
  batch's repeated prompts (what ArCHer did before); the states it kept between calls still count;
* ``grouped``: ``Archer.critic_samples``: every step's draws in one call, a state's draws side by
  side, the backend computing each repeated prompt once.

``speedup`` is ``per_step`` seconds over ``grouped`` seconds; both phases start with nothing
kept. Nothing is asserted::

    agentrl collect env=webshop agent=expert model=smollm2 collect.episodes=2 collect.output=D
    python benchmarks/archer_sampling.py --data D --critic-steps 5 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from agentrl.agents.backends import BackendConfig, HFBackend, load_backend
from agentrl.agents.backends.prefix_cache import Entry
from agentrl.agents.dataset import open_dataset
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import LLMAgent
from agentrl.agents.models import ModelConfig
from agentrl.trainer.algorithm import AlgoContext
from agentrl.trainer.archer import Archer, ArcherConfig, transitions
from agentrl.trainer.policy import Policy


class _WithoutSharing(HFBackend):
    """The hf backend as it was before a batch's repeated prompts were computed once: every row computes all of its
    prompt that the kept states do not hold."""

    def _share_repeated_prompts(
        self, prompts: Sequence[Sequence[int]], found: list[tuple[Entry | None, int]]
    ) -> list[tuple[Entry | None, int]]:
        return found


def _phase(backend: HFBackend, run: Any) -> dict[str, Any]:
    backend.prefix_cache.clear()
    stats = backend.prefix_cache.stats
    looked, reused = stats.prompt_tokens, stats.reused_tokens
    start = time.perf_counter()
    replies = run()
    seconds = time.perf_counter() - start
    prompt_tokens = stats.prompt_tokens - looked
    return {
        "seconds": round(seconds, 2),
        "replies": replies,
        "prompt_tokens": prompt_tokens,
        "prompt_tokens_computed": prompt_tokens - (stats.reused_tokens - reused),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset folder (agentrl collect) whose turns are the states")
    parser.add_argument("--model", default="smollm2", help="the model the dataset's prompts were built for")
    parser.add_argument("--critic-steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="transitions per critic step")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    backend, tokenizer, model = load_backend(BackendConfig(name="hf"), ModelConfig(name=args.model))
    assert isinstance(backend, HFBackend)
    before = _WithoutSharing(model, tokenizer, max_batch_size=backend.max_batch_size)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=1.0, seed=args.seed)
    policy, agent = Policy(model), LLMAgent(backend, tokenizer)
    ctx = AlgoContext(policy, agent, backend, params, backend.pad_id, args.seed, lambda: None, tokenizer=tokenizer)
    archer = Archer(ArcherConfig(critic_steps=args.critic_steps, batch_size=args.batch_size), ctx)
    archer.buffer.extend(transitions(open_dataset(args.data).trajectories()))
    batches = [archer.buffer.sample(args.batch_size) for _ in range(args.critic_steps)]
    draws = Counter(tuple(tr.prompt_ids) for batch in batches for tr in batch)

    with torch.no_grad():
        backend.generate([list(next(iter(draws)))], params)  # warm-up: first calls pay one-off costs
        per_step = _phase(before, lambda: [[c.text for c in before.generate([t.prompt_ids for t in b], params)]
                                           for b in batches])  # fmt: skip
        grouped = _phase(backend, lambda: archer.critic_samples(batches))
    for phase in (per_step, grouped):
        replies = phase.pop("replies")
        phase["reply_chars"] = sum(len(text) for texts in replies for text in texts)
    report = {
        "benchmark": "archer_critic_sampling",
        "model": args.model,
        "data": args.data,
        "critic_steps": args.critic_steps,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "buffer_states": len(archer.buffer),
        "drawn_states": len(draws),
        "draws_per_state": round(sum(draws.values()) / len(draws), 2),
        "mean_prompt_tokens": round(sum(len(p) * n for p, n in draws.items()) / sum(draws.values()), 1),
        "per_step": per_step,
        "grouped": grouped,
        "speedup": round(per_step["seconds"] / grouped["seconds"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
