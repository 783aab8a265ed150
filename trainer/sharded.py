"""Sharded training (``train.strategy=fsdp``): FSDP2 over the data-parallel ranks, and its checkpoints.

With ``torch.distributed.fsdp.fully_shard`` each rank keeps 1/N of every weight, of its
gradient and of the optimiser's state; a forward pass gathers a block's weights just
before the block runs and frees them after, and the backward pass reduce-scatters the
gradients (averaged over the ranks, as :func:`~agentrl.trainer.distributed.average_gradients`
does for data parallelism, so the same loss scaling gives the same step). Every
transformer block is its own unit, the rest of the model (embeddings, final norm, LM
head) the root unit; the value head and a reference copy are sharded the same way.

Because every forward and backward pass is a collective, the ranks must run as many
passes as each other: :func:`lockstep` pads a rank's micro-batches with filler passes
(a real row whose loss weighs 0) up to the rank with the most.

Generation does not run on the sharded model (the ranks generate different batches):
the rollout backend keeps its own full copy, and after every update the ranks gather
the full weights (:func:`full_state_dict`) into it.

Checkpoints are ``torch.distributed.checkpoint`` folders (``ckpt-N.dcp``): each rank
writes its shards of the weights and of every sharded tensor of the algorithm's state
(the optimiser's moments); the rest of the state goes into ``ckpt-N.pt`` as with data
parallelism, with a :class:`ShardedRef` where each sharded tensor was.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn
from torch.distributed.tensor import DTensor

from agentrl.trainer import distributed

if TYPE_CHECKING:
    from agentrl.trainer.policy import Policy

logger = logging.getLogger(__name__)

STRATEGIES = ("ddp", "fsdp")
"""The values of ``train.strategy``."""


def is_sharded(tensor: Any) -> bool:
    return isinstance(tensor, DTensor)


def check_supported(policy_cfg: Any) -> None:
    """Raise for what ``train.strategy=fsdp`` does not shard (with what to do instead)."""
    if policy_cfg.lora:
        raise ValueError(
            "train.strategy=fsdp shards full fine-tuning; LoRA trains few weights, which data parallelism "
            "(train.strategy=ddp) handles: drop policy.lora=true or use train.strategy=ddp"
        )
    if policy_cfg.train_top_layers:
        raise ValueError(
            "train.strategy=fsdp does not combine with policy.train_top_layers (its frozen-block cache runs the model "
            "in parts, which sharded passes cannot): use train.strategy=ddp"
        )


def shard_policy(policy: Policy, device: str) -> None:
    """Shard the policy's model (each decoder block, then the rest), its value head and its reference copy in
    place over all ranks (FSDP2). Call it before any optimiser is built on the parameters."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from agentrl.trainer.policy import decoder_layers

    mesh = init_device_mesh("cuda" if device.startswith("cuda") else "cpu", (distributed.world_size(),))
    models = [policy.model]
    if policy._reference is not None:
        models.append(policy._reference)
    for model in models:
        for block in decoder_layers(model):
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
    if policy.value_head is not None:
        fully_shard(policy.value_head, mesh=mesh)


def lockstep(parts: list[list[int]], active: bool) -> list[list[int]]:
    """``parts`` padded with empty passes (fillers) up to the most any rank runs, when ``active`` (sharded
    weights: every pass is a collective); unchanged otherwise."""
    if not active:
        return parts
    most = distributed.all_max(len(parts))
    return parts + [[] for _ in range(most - len(parts))]


def clip_grad_norm(parameters: Sequence[torch.Tensor], max_norm: float) -> float:
    """Clip sharded gradients to ``max_norm`` over all ranks' shards, as ``torch.nn.utils.clip_grad_norm_`` clips
    whole ones; returns the norm before clipping (every rank calls it). Given the optimiser's parameters: the
    module's own list may hold gathered plain stand-ins of the root unit between passes, and
    ``clip_grad_norm_`` refuses a mix of plain and DTensor gradients."""
    import torch.distributed as dist

    grads = [cast(DTensor, p.grad).to_local() for p in parameters if p.grad is not None]
    square = torch.zeros((), dtype=torch.float64, device=grads[0].device if grads else "cpu")
    for grad in grads:
        square += grad.detach().double().pow(2).sum()
    dist.all_reduce(square)
    norm = float(square.sqrt())
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0:
        for grad in grads:
            grad.mul_(coef)
    return norm


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's weights on the CPU (every rank calls it: each sharded tensor is gathered)."""
    out = {}
    for name, value in model.state_dict().items():
        full = value.full_tensor() if is_sharded(value) else value
        out[name] = full.detach().cpu()
    return out


@dataclass
class ShardedRef:
    """Stands in ``ckpt-N.pt`` for a sharded tensor of the algorithm's state, saved in ``ckpt-N.dcp``."""

    key: str
    """Its key in the DCP folder."""
    local_shape: tuple[int, ...]
    global_shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    placements: tuple[Any, ...]


def split_state(state: Any, prefix: str = "algo") -> tuple[Any, dict[str, Any]]:
    """``state`` with every sharded tensor replaced by a :class:`ShardedRef`, and those tensors by key."""
    tensors: dict[str, Any] = {}

    def walk(value: Any, path: str) -> Any:
        if is_sharded(value):
            tensors[path] = value
            return ShardedRef(
                path,
                tuple(value.to_local().shape),
                tuple(value.shape),
                tuple(value.stride()),
                value.dtype,
                tuple(value.placements),
            )
        if isinstance(value, dict):
            return {k: walk(v, f"{path}/{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [walk(v, f"{path}/{i}") for i, v in enumerate(value)]
            return type(value)(items) if isinstance(value, tuple) else items
        return value

    return walk(state, prefix), tensors


def join_state(state: Any, mesh: Any, loaded: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """The inverse of :func:`split_state`: each :class:`ShardedRef` becomes an empty sharded tensor on ``mesh``
    (returned by key too, for ``dcp.load`` to fill in place)."""
    tensors: dict[str, Any] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, ShardedRef):
            local = torch.empty(value.local_shape, dtype=value.dtype, device=mesh.device_type)
            tensor = DTensor.from_local(
                local,
                mesh,
                list(value.placements),
                run_check=False,
                shape=torch.Size(value.global_shape),
                stride=value.stride,
            )
            tensors[value.key] = tensor
            return tensor
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [walk(v) for v in value]
            return type(value)(items) if isinstance(value, tuple) else items
        return value

    return walk(state), tensors


def reshard(policy: nn.Module) -> None:
    """Put every sharded unit back in its sharded state. The root unit stays gathered after a forward pass without
    gradients (FSDP2 keeps the root's weights for the backward pass it expects), and meanwhile the module holds
    plain tensors where its sharded parameters were."""
    from torch.distributed.fsdp import FSDPModule

    for module in policy.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def sharded_weights(policy: Any) -> dict[str, Any]:
    """The trainable weights as DCP saves and loads them (sharded tensors, by name)."""
    reshard(policy)
    return {f"policy/{name}": p for name, p in policy.trainable_named_parameters()}


def save_sharded(folder: Path, policy: Any, algo_tensors: dict[str, Any]) -> None:
    """Write this rank's shards of the policy and of the algorithm's sharded tensors to ``folder`` (a DCP
    checkpoint; every rank calls it)."""
    import torch.distributed.checkpoint as dcp

    dcp.save({**sharded_weights(policy), **algo_tensors}, checkpoint_id=str(folder))


def load_sharded(folder: Path, policy: Any, algo_tensors: dict[str, Any]) -> None:
    """Read ``folder`` (written by :func:`save_sharded` with as many ranks) into the policy's parameters and into
    ``algo_tensors`` in place."""
    import torch.distributed.checkpoint as dcp

    if not folder.is_dir():
        raise ValueError(f"{folder} is missing: the sharded checkpoint's weights were written there")
    state = {**sharded_weights(policy), **algo_tensors}
    with torch.no_grad():
        dcp.load(state, checkpoint_id=str(folder))


def gathered_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The policy's weights in the sharded checkpoint ``folder``, whole, read into this one process (no process
    group: ``train.init_from`` and ``agentrl eval init_from`` of a sharded run), by the names of
    :meth:`~agentrl.trainer.policy.Policy.trainable_state`."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    if not folder.is_dir():
        raise ValueError(f"{folder} is missing: the sharded checkpoint's weights were written there")
    metadata = dcp.FileSystemReader(str(folder)).read_metadata().state_dict_metadata
    state = {
        key: torch.empty(meta.size, dtype=meta.properties.dtype)
        for key, meta in metadata.items()
        if key.startswith("policy/") and isinstance(meta, TensorStorageMetadata)
    }
    with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
        warnings.simplefilter("ignore", UserWarning)
        dcp.load(state, checkpoint_id=str(folder), no_dist=True)
    return {key.removeprefix("policy/"): tensor for key, tensor in state.items()}


def mesh_of(policy: Any) -> Any:
    """The device mesh the policy's weights are sharded over."""
    return next(p for _, p in policy.trainable_named_parameters()).device_mesh
