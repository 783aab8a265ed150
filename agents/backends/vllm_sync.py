"""Weight sync inside vLLM's workers (loaded there as the engine's ``worker_extension_cls``).

``VLLMBackend.update_weights`` calls :meth:`WeightSync.agentrl_reload_weights` on every
worker by name (``collective_rpc``), which runs vLLM's in-place reload and then rebuilds
what vLLM's CPU kernels derived from weights the reload does not hand back to them.

On the CPU, vLLM runs each linear layer through a prepacked copy of its weight
(``layer.cpu_linear``: oneDNN, or the small-GEMM kernels). The reload loads each layer
into fresh tensors, packs those, then copies the values into the layer's original tensors
and puts those back. Where the original weight was dropped after packing (the linear
layers), the new pack is all there is and it holds the new values. Where it was kept
(the token embedding and the LM head, which may share it), the pack was made from the
fresh tensor that the reload then frees: the engine computed its logits from freed memory,
and generated neither the old weights' tokens nor the new ones. Repacking those layers from
their restored weights makes generation follow the pushed weights exactly (the
``vllm`` backend's weight-sync test). On GPUs no layer has a ``cpu_linear`` and nothing
is repacked.

This module is imported by vLLM's worker processes only; it needs vLLM.
"""

from __future__ import annotations

from typing import Any

WORKER_EXTENSION = f"{__name__}.WeightSync"
"""The ``worker_extension_cls`` value that adds :class:`WeightSync`'s methods to vLLM's workers."""


class WeightSync:
    """Methods added to vLLM's worker class, whose ``reload_weights`` and ``model_runner`` they use (vLLM refuses an
    extension that defines any name the worker has)."""

    def agentrl_reload_weights(self, weights_path: str) -> int:
        """Reload the weights in ``weights_path`` (a folder of safetensors in the model's own names) in place;
        returns how many layers' CPU packs were rebuilt from their kept weights."""
        worker: Any = self
        worker.reload_weights(weights_path=weights_path, is_checkpoint_format=True)
        return repack_kept_cpu_weights(worker.model_runner.model)


def repack_kept_cpu_weights(model: Any) -> int:
    """Rebuild the CPU GEMM pack of every layer of ``model`` that kept its weight beside the pack; returns how
    many (0 on GPUs, whose layers have no ``cpu_linear``)."""
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    repacked = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if hasattr(module, "cpu_linear") and weight is not None and weight.numel() > 0:
            dispatch_cpu_unquantized_gemm(module, remove_weight=False)
            repacked += 1
    return repacked
