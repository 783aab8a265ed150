"""Data-parallel training over ``torch.distributed``, one process per GPU (or CPU slot).

    torchrun --nproc-per-node 2 -m agentrl train algo=grpo ...

Every rank holds the whole policy. Each iteration deals the task groups round-robin to
the ranks: a rank rolls out its share with its own backend and computes advantages
within its groups (a group never spans ranks, so GRPO and GiGPO statistics are those of
one process). Before every optimiser step the gradients are averaged over the ranks
with one all-reduce of a flat buffer, so the ranks take identical steps and keep
identical weights, which is what DDP does; the loss of each rank is scaled by its share
of the minibatch's tokens over all ranks, so the step is the single-process step on
the union of the ranks' minibatches. Ranks with fewer rows take empty minibatches to
stay in step. Evaluation episodes are dealt out and gathered the same way. Rank 0
alone logs, checkpoints and plots; checkpoints keep each rank's own state (optimiser
shuffles, replay buffer, RNG) beside the shared weights.

Outside ``torchrun`` (``WORLD_SIZE`` unset or 1) every function here is a no-op or the
identity, so the single-process trainer runs the same code.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

logger = logging.getLogger(__name__)
T = TypeVar("T")


def active() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def init(device: str, timeout_s: float = 1800) -> str:
    """Join the process group ``torchrun`` describes (if any); returns the device this rank uses.

    ``cuda`` becomes ``cuda:LOCAL_RANK``, and the backend is NCCL on GPUs and Gloo on CPUs.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
        logger.info("rank %d of %d joined (%s, %s)", dist.get_rank(), dist.get_world_size(), backend, device)
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank has reached this point."""
    if active():
        dist.barrier()


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``, dealt round-robin."""
    return list(items[rank() :: world_size()])


def gather(items: Sequence[T]) -> list[T]:
    """Every rank's ``items``, concatenated in rank order (on every rank)."""
    if not active():
        return list(items)
    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, list(items))
    return [item for part in parts for item in part]


def gather_one(item: T) -> list[T]:
    """One object per rank, in rank order (on every rank)."""
    return gather([item])


def all_sum(*values: float) -> list[float]:
    """Each value summed over the ranks (one all-reduce for all of them)."""
    if not active():
        return [float(v) for v in values]
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_max(value: int) -> int:
    if not active():
        return value
    tensor = torch.tensor([int(value)], dtype=torch.int64, device=_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over the ranks (a missing gradient counts as zero)."""
    if not active():
        return
    # Sharded weights (train.strategy=fsdp) had their gradients averaged by the backward pass's reduce-scatter.
    params = [p for p in parameters if p.requires_grad and not isinstance(p, DTensor)]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).to(torch.float32) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for p, g in zip(params, grads, strict=True):
        size = g.numel()
        p.grad = flat[offset : offset + size].view_as(p).to(p.dtype)
        offset += size


def broadcast_parameters(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Copy rank 0's values into every rank's parameters (one start for all)."""
    if not active():
        return
    with torch.no_grad():
        for p in parameters:
            dist.broadcast(p.data, src=0)


def check_in_sync(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Raise if the ranks' weights differ (they must not: every step is averaged)."""
    if not active():
        return
    digest = hashlib.sha256()
    for p in parameters:
        if isinstance(p, DTensor):  # sharded: each rank holds its own part
            continue
        digest.update(p.detach().float().cpu().numpy().tobytes())
    digests = gather_one(digest.hexdigest())
    if len(set(digests)) != 1:
        raise RuntimeError(f"data-parallel ranks hold different weights: {digests}")


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
