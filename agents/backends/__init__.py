"""Generation backends: ``hf`` (transformers, in-process), ``openai`` (any OpenAI-compatible
server) and ``vllm`` (vLLM's in-process engine, CPU or GPU), picked by :class:`BackendConfig`."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from agentrl.agents.backends.hf import HFBackend
from agentrl.agents.backends.openai import OpenAIBackend, OpenAIBackendError
from agentrl.agents.llm_agent import no_scorer
from agentrl.agents.models import ModelConfig, load_model, load_tokenizer, model_dir, native_bf16, torch_dtype

__all__ = [
    "BackendConfig",
    "HFBackend",
    "OpenAIBackend",
    "OpenAIBackendError",
    "generation_dtype_name",
    "load_backend",
    "make_backend",
]

BACKENDS = ("hf", "openai", "vllm")


@dataclass
class BackendConfig:
    """Which backend generates the policy's replies (``backend.name=openai backend.url=...``)."""

    name: str = "hf"
    """``hf`` (in-process transformers), ``openai`` (a server at ``url``) or ``vllm`` (vLLM in-process, CPU or GPU)."""
    url: str = ""
    """openai: the server's base URL, e.g. ``http://127.0.0.1:8001/v1``."""
    served_model: str = ""
    """openai: the model name the server expects; vllm: the path or HF id it loads ('' : from ``model``)."""
    prompt_format: str = "auto"
    """openai: ``ids``, ``text`` (servers that take only strings) or ``auto`` (ids, else text)."""
    max_concurrency: int = 16
    """openai: requests in flight at once."""
    timeout: float = 120.0
    """openai: seconds per request."""
    api_key_env: str = "OPENAI_API_KEY"
    """openai: the environment variable holding a bearer token, if the server wants one."""
    prefix_cache_mb: int = 1024
    """hf: memory for the attention states kept between an episode's turns, so a turn computes only its new tokens
    (0: every prompt is computed whole)."""
    dtype: str = ""
    """hf: generate with a copy of the weights in this dtype (``bfloat16``, ``float16``, ``float32``), refreshed
    whenever the trained weights change, as a float32 trainer pushes its weights to a bfloat16 inference engine;
    ``auto``: ``bfloat16`` where the device computes it natively (a CPU with AVX-512 BF16 or AMX, a CUDA GPU that
    supports it), else the model itself; ``''``: the model itself, in ``model.dtype``. SmolLM2 on this project's
    AVX-512 BF16 CPU generated 1.5-1.9x faster in bfloat16 (``benchmarks/rollout.py --dtype bfloat16``); greedy
    replies can differ where two tokens' logits are within bfloat16's precision."""
    gpu_memory_utilization: float = 0.5
    """vllm on a GPU: the share of GPU memory the engine may take (the trainer needs the rest)."""
    kv_cache_gib: float = 1.0
    """vllm on CPU: GiB of memory for the engine's KV cache (0: vLLM's default, 4 GiB)."""
    enforce_eager: bool = False
    """vllm: run the model eagerly instead of compiling it with torch.compile (starts about a minute sooner on CPU,
    decodes somewhat slower)."""


def make_backend(cfg: BackendConfig, model_cfg: ModelConfig, tokenizer: Any, model: Any = None) -> Any:
    """The backend ``cfg`` names.

    Args:
        cfg: The backend settings.
        model_cfg: The run's model (its name is the default served name; vLLM loads its folder).
        tokenizer: The policy's tokenizer.
        model: The in-process model (``hf``; ``vllm`` saves the tiny model from it).
    """
    if cfg.name == "hf":
        if model is None:
            raise ValueError("backend.name=hf generates with an in-process model, and none was loaded")
        return HFBackend(model, tokenizer, prefix_cache_mb=cfg.prefix_cache_mb, dtype=generation_dtype(cfg, model))
    if cfg.dtype:
        raise ValueError(
            f"backend.dtype is the in-process hf backend's: backend.name={cfg.name} generates in the server's or "
            f"engine's own dtype (vllm: model.dtype); drop backend.dtype={cfg.dtype}"
        )
    if cfg.name == "openai":
        if not cfg.url:
            raise ValueError("backend.name=openai needs the server's base URL: backend.url=http://HOST:PORT/v1")
        return OpenAIBackend(
            cfg.url,
            cfg.served_model or model_cfg.name,
            tokenizer,
            api_key=os.environ.get(cfg.api_key_env) or None,
            timeout=cfg.timeout,
            max_concurrency=cfg.max_concurrency,
            prompt_format=cfg.prompt_format,
        )
    if cfg.name == "vllm":
        from agentrl.agents.backends.vllm import INSTALL_HINT, VLLMBackend

        if importlib.util.find_spec("vllm") is None:
            raise ValueError(f"backend.name=vllm needs vLLM: {INSTALL_HINT}")
        path = cfg.served_model or model_dir(model_cfg, model, tokenizer)
        return VLLMBackend(
            path,
            tokenizer,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            kv_cache_gib=cfg.kv_cache_gib,
            dtype=model_cfg.dtype,
            enforce_eager=cfg.enforce_eager,
            seed=model_cfg.seed,
        )
    raise ValueError(f"backend.name must be one of {', '.join(BACKENDS)}, not {cfg.name!r}")


def generation_dtype(cfg: BackendConfig, model: Any) -> Any:
    """The torch dtype the hf backend generates in (``None``: the model's own), ``backend.dtype=auto`` resolved for
    the model's device."""
    if not cfg.dtype:
        return None
    if cfg.dtype == "auto":
        import torch

        return torch.bfloat16 if native_bf16(next(model.parameters()).device) else None
    return torch_dtype(cfg.dtype, "backend.dtype")


def generation_dtype_name(backend: Any) -> str | None:
    """The dtype an in-process hf backend generates in (``float32``, ``bfloat16``, ...); ``None`` for the others."""
    if not isinstance(backend, HFBackend):
        return None
    return str(next(backend.model.parameters()).dtype).removeprefix("torch.")


def check_reply_scorer(cfg: BackendConfig, wanted: bool) -> None:
    """Refuse ``agent.repair_invalid`` (``wanted``) with a backend other than hf before anything loads; the same
    refusal as :func:`reply_scorer`'s, so a run does not load a model or start a server only to stop.

    Raises:
        ValueError: ``wanted`` with ``backend.name`` other than hf.
    """
    if wanted and cfg.name != "hf":
        raise no_scorer(cfg.name)


def reply_scorer(backend: Any, wanted: bool = True) -> Any:
    """What scores replies with the policy for ``agent.repair_invalid`` (the hf backend's ``score_replies``); None
    when not ``wanted``.

    Raises:
        ValueError: ``wanted`` with a backend that does not hold the model in this process.
    """
    if not wanted:
        return None
    if not isinstance(backend, HFBackend):
        raise no_scorer(type(backend).__name__)
    return backend.score_replies


def load_backend(cfg: BackendConfig, model_cfg: ModelConfig) -> tuple[Any, Any, Any]:
    """``(backend, tokenizer, model)`` for generating only (eval, benchmarks): a server backend
    loads just the tokenizer, and ``model`` is then None."""
    if cfg.name == "openai":
        tokenizer = load_tokenizer(model_cfg)
        return make_backend(cfg, model_cfg, tokenizer), tokenizer, None
    model, tokenizer = load_model(model_cfg)
    return make_backend(cfg, model_cfg, tokenizer, model), tokenizer, model
