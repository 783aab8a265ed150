"""Sharded training (``train.strategy=fsdp``): two Gloo ranks on the CPU, FSDP2.

The step of two ranks holding shards of the weights and uneven halves of a batch must
equal the single-process step on the whole batch; a sharded checkpoint (DCP) must bring
back the weights and the optimiser's moments exactly; and a ``torchrun`` run of
``agentrl train train.strategy=fsdp`` killed after a checkpoint must resume from it.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch

from agentrl.trainer import distributed, sharded
from agentrl.trainer.pg import pg_update, score_batch
from tests.trainer.test_distributed import CFG, _batch, _policy, _update

RANK_ROWS = [[0, 2, 4, 5], [1, 3]]
"""Uneven halves: with two rows per pass rank 0 runs two passes and rank 1 one, so rank 1 runs a filler."""


def _sharded_policy():
    policy = _policy()
    sharded.shard_policy(policy, "cpu")
    return policy


def _step(policy, optimizer, rows):
    batch = _batch().select(rows)
    batch.fields.update(score_batch(policy, batch, CFG, temperature=1.0))
    pg_update(policy, optimizer, batch, CFG, temperature=1.0, generator=torch.Generator().manual_seed(0))


def _run(target, tmp_path, port) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=target, args=(r, port, str(tmp_path))) for r in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0


def _join(rank: int, port: int) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)


def _step_rank(rank: int, port: int, out: str) -> None:
    _join(rank, port)
    try:
        policy = _sharded_policy()
        assert policy.sharded
        optimizer = torch.optim.SGD([p for _, p in policy.trainable_named_parameters()], lr=0.5)
        _step(policy, optimizer, RANK_ROWS[rank])
        full = sharded.full_state_dict(policy.model)
        torch.save({f"model.{k}": v for k, v in full.items()}, f"{out}/rank{rank}.pt")
    finally:
        distributed.shutdown()


def test_two_sharded_ranks_take_the_single_process_step_on_the_whole_batch(tmp_path, free_port):
    _run(_step_rank, tmp_path, free_port)
    single = _update(list(range(6)))
    start = {name: p.detach() for name, p in _policy().trainable_named_parameters()}
    assert max(float((single[k] - start[k]).abs().max()) for k in single) > 1e-3  # the step did something
    for rank in range(2):
        gathered = torch.load(tmp_path / f"rank{rank}.pt")
        for name, value in single.items():
            assert torch.allclose(gathered[name], value, atol=1e-5), name


def _checkpoint_rank(rank: int, port: int, out: str) -> None:
    from pathlib import Path

    _join(rank, port)
    try:
        folder = Path(out) / "ckpt.dcp"
        policy = _sharded_policy()
        optimizer = torch.optim.AdamW([p for _, p in policy.trainable_named_parameters()], lr=1e-3)
        _step(policy, optimizer, RANK_ROWS[rank])
        state, tensors = sharded.split_state({"optimizer": optimizer.state_dict()})
        assert tensors and all(isinstance(ref, sharded.ShardedRef) for ref in _refs(state))
        sharded.save_sharded(folder, policy, tensors)
        saved = sharded.full_state_dict(policy.model)  # every rank gathers; one keeps it
        if rank == 0:
            torch.save(saved, Path(out) / "saved-weights.pt")
        # The rest of the state goes to a file, as the trainer writes it: the optimiser's state dict holds its
        # live step counters, which the next step would move on.
        torch.save(state, Path(out) / f"ckpt-rank{rank}.pt")
        _step(policy, optimizer, RANK_ROWS[rank])  # the run goes on ...
        expected = sharded.full_state_dict(policy.model)

        # ... and a new process resumes from the checkpoint: the same second step.
        policy = _sharded_policy()
        optimizer = torch.optim.AdamW([p for _, p in policy.trainable_named_parameters()], lr=1e-3)
        state = torch.load(Path(out) / f"ckpt-rank{rank}.pt", weights_only=False)
        restored, tensors = sharded.join_state(state, sharded.mesh_of(policy))
        sharded.load_sharded(folder, policy, tensors)
        optimizer.load_state_dict(restored["optimizer"])
        _step(policy, optimizer, RANK_ROWS[rank])
        got = sharded.full_state_dict(policy.model)
        for name, value in expected.items():
            assert torch.equal(got[name], value), name
    finally:
        distributed.shutdown()


def _refs(value):
    if isinstance(value, sharded.ShardedRef):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _refs(item)


def test_a_sharded_checkpoint_brings_back_weights_and_optimiser_moments(tmp_path, free_port):
    _run(_checkpoint_rank, tmp_path, free_port)
    assert (tmp_path / "ckpt.dcp" / ".metadata").is_file()
    # One process with no process group reads the whole weights back (init_from of a sharded run).
    whole = sharded.gathered_weights(tmp_path / "ckpt.dcp")
    saved = torch.load(tmp_path / "saved-weights.pt")
    assert {f"model.{name}" for name in saved} - set(whole) == {"model.lm_head.weight"}  # tied to the embeddings
    for name, value in whole.items():
        assert torch.equal(value, saved[name.removeprefix("model.")]), name


def test_fsdp_refuses_what_it_does_not_shard():
    from agentrl.trainer.policy import PolicyConfig

    with pytest.raises(ValueError, match=r"train\.strategy=ddp"):
        sharded.check_supported(PolicyConfig(lora=True))
    with pytest.raises(ValueError, match="train_top_layers"):
        sharded.check_supported(PolicyConfig(train_top_layers=1))


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port"]
SMALL = ["model=tiny", "algo=grpo", "train.tasks_per_iteration=2", "rollout.group_size=2", "eval.episodes=2"]
SMALL += ["rollout.max_turns=2", "train.strategy=fsdp", "train.eval_every=0"]


@pytest.mark.slow
def test_a_killed_sharded_run_resumes_from_its_checkpoint(tmp_path, free_port):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*TORCHRUN, str(free_port), "-m", "agentrl", "train", *SMALL, f"train.output_dir={out}"]
    run = subprocess.Popen([*command, "train.iterations=30"], env=env, start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 400
        while not (out / "ckpt-000001.pt").is_file():
            assert run.poll() is None and time.monotonic() < deadline, "the run ended or stalled before a checkpoint"
            time.sleep(0.5)
    finally:
        # The launcher and both ranks, by process and by group: torchrun may start its workers in sessions of
        # their own, and a rank that outlived the kill would go on writing (and pruning) checkpoints.
        ranks = psutil.Process(run.pid).children(recursive=True) if run.poll() is None else []
        os.killpg(run.pid, signal.SIGKILL)
        for process in ranks:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(ranks, timeout=60)
        run.wait()
    assert (out / "ckpt-000001.dcp" / ".metadata").is_file()
    state = torch.load(out / "ckpt-000001.pt", weights_only=False)
    assert state["policy"] is None and state["sharded"] == "ckpt-000001.dcp" and len(state["ranks"]) == 2

    again = [*TORCHRUN, str(free_port + 1), "-m", "agentrl", "train", *SMALL, f"train.output_dir={out}"]
    done = subprocess.run(
        [*again, "train.iterations=3"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stderr
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    iterations = [r["iteration"] for r in records if r["kind"] == "train"]
    assert iterations[-1] == 2 and sorted(set(iterations)) == [0, 1, 2] and (out / "results.json").is_file()
    assert sorted(p.name for p in out.glob("ckpt-*")) == [f"ckpt-00000{i}.{x}" for i in (2, 3) for x in ("dcp", "pt")]
    # One process evaluates the sharded run's weights, whole: the model the run ended with.
    from agentrl.cli import main

    assert main(["eval", f"init_from={out}", "eval.episodes=1", f"eval.output_dir={tmp_path / 'eval'}"]) == 0
    (result_file,) = (tmp_path / "eval").glob("*.json")
    trained = json.loads((out / "results.json").read_text())["model"]["fingerprint"]
    assert json.loads(result_file.read_text())["model"]["fingerprint"] == trained
