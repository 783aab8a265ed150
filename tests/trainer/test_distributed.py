"""Data-parallel training: two Gloo ranks on the CPU.

The update of two ranks, each holding half of a batch, must equal the single-process
update on the whole batch; ``torchrun`` runs of ``agentrl train`` (GRPO, ArCHer) must
finish with the ranks in step, write one set of results, and resume.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys

import pytest
import torch

from agentrl.trainer import distributed
from agentrl.trainer.batch import TokenBatch
from agentrl.trainer.pg import PGConfig, pg_update, score_batch
from agentrl.trainer.policy import Policy, PolicyConfig

CFG = PGConfig(lr=0.0, epochs=2, minibatch_size=64, micro_batch_size=2, clip_low=0.1, clip_high=0.1, max_grad_norm=1e9)


def _batch() -> TokenBatch:
    """Six rows of different lengths with responses of different lengths at their ends: rank 0's
    rows (0, 2, 4) hold 13 generated tokens and rank 1's 8, so a per-rank token mean would differ."""
    generator = torch.Generator().manual_seed(3)
    lengths = [12, 9, 7, 12, 10, 8]
    ids = torch.randint(5, 400, (6, 12), generator=generator)
    attention = torch.zeros(6, 12, dtype=torch.long)
    response = torch.zeros(6, 11)
    for row, (length, generated) in enumerate(zip(lengths, [6, 2, 3, 5, 4, 1], strict=True)):
        attention[row, :length] = 1
        response[row, length - 1 - generated : length - 1] = 1
    advantages = torch.randn(6, generator=generator)
    batch = TokenBatch(ids * attention, attention, response)
    batch.fields["advantages"] = batch.per_token(advantages)
    return batch


def _policy() -> Policy:
    from agentrl.agents.models import build_tiny_model

    torch.manual_seed(0)
    return Policy(build_tiny_model(0)[0], PolicyConfig())


def _update(rows: list[int]) -> dict[str, torch.Tensor]:
    policy = _policy()
    batch = _batch().select(rows)
    batch.fields.update(score_batch(policy, batch, CFG, temperature=1.0))
    params = [p for _, p in policy.trainable_named_parameters()]
    optimizer = torch.optim.SGD(params, lr=0.5)  # linear in the gradient: exact comparisons
    pg_update(policy, optimizer, batch, CFG, temperature=1.0, generator=torch.Generator().manual_seed(0))
    return {name: p.detach().clone() for name, p in policy.trainable_named_parameters()}


def _rank(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        rows = distributed.shard(list(range(6)))
        torch.save(_update(rows), f"{out}/rank{rank}.pt")
    finally:
        distributed.shutdown()


def test_two_ranks_take_the_single_process_step_on_the_whole_batch(tmp_path, free_port):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_rank, args=(r, free_port, str(tmp_path))) for r in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    single = _update(list(range(6)))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    start = {name: p.detach() for name, p in _policy().trainable_named_parameters()}
    moved = max(float((single[k] - start[k]).abs().max()) for k in single)
    assert moved > 1e-3  # the step did something
    for name, value in single.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # the ranks stay identical
        assert torch.allclose(ranks[0][name], value, atol=1e-6), name  # and took the single-process step


def test_helpers_are_the_identity_outside_a_process_group():
    assert not distributed.active() and distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.shard([1, 2, 3]) == [1, 2, 3] and distributed.gather([4]) == [4]
    assert distributed.all_sum(2.5, 1.0) == [2.5, 1.0] and distributed.all_max(3) == 3


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port"]
SMALL = ["model=tiny", "train.tasks_per_iteration=4", "rollout.group_size=2", "eval.episodes=4", "rollout.max_turns=3"]


def _torchrun(port: int, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*TORCHRUN, str(port), "-m", "agentrl", "train", *SMALL, *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "archer"])
def test_torchrun_trains_resumes_and_refuses_another_world_size(algo, tmp_path, free_port):
    out = tmp_path / algo
    extra = ["algo.critic_steps=2", "algo.actor_steps=1", "algo.batch_size=4"] if algo == "archer" else []
    done = _torchrun(free_port, f"algo={algo}", *extra, "train.iterations=2", f"train.output_dir={out}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("iterations,") == 1  # one report, from rank 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["episodes"] for r in train] == [8.0, 8.0]  # both ranks' episodes are counted
    evals = [r for r in records if r["kind"] == "eval"]
    assert len(evals) == 2 and (out / "results.json").is_file()
    state = torch.load(sorted(out.glob("ckpt-*.pt"))[-1], weights_only=False)
    assert len(state["ranks"]) == 2

    more = _torchrun(free_port, f"algo={algo}", *extra, "train.iterations=3", f"train.output_dir={out}")
    assert more.returncode == 0, more.stderr[-3000:]
    assert "resuming" in more.stderr
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if r["kind"] == "train"] == [0, 1, 2]

    command = [sys.executable, "-m", "agentrl", "train", *SMALL, f"algo={algo}", *extra, "train.iterations=4"]
    alone = subprocess.run([*command, f"train.output_dir={out}"], capture_output=True, text=True, timeout=300)
    assert alone.returncode != 0 and "resume it with as many" in alone.stderr
