"""``agentrl serve-model``: serve a policy over an OpenAI-compatible API.

    agentrl serve-model model=smollm2 --port 8001

Transformers on this machine's CPU (or ``model.device=cuda``); for vLLM on a GPU run
vLLM's own server and point the ``openai`` backend at it. ``POST /v1/weights`` takes
new weights from a trainer (``OpenAIBackend.update_weights``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.models import ModelConfig
from agentrl.agents.serving import ModelServerConfig
from agentrl.cli.config import add_server_flags, load, server_overrides, store


@dataclass
class ServeModelConfig:
    """Settings of ``agentrl serve-model``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy (``model=NAME`` picks a file of ``configs/model``)."""
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

    from agentrl.agents.backends import HFBackend
    from agentrl.agents.models import load_model
    from agentrl.agents.serving import create_app, state_dict_loader

    flags = server_overrides(args)
    cfg = load("serve_model", [*flags, *overrides], ServeModelConfig)
    model, tokenizer = load_model(cfg.model)
    backend = HFBackend(model, tokenizer, max_batch_size=cfg.server.max_batch_size)
    app = create_app(backend, tokenizer, cfg.model.name, load_weights=state_dict_loader(model), config=cfg.server)
    print(f"serving {cfg.model.name} on http://{cfg.server.host}:{cfg.server.port}/v1", flush=True)
    uvicorn.run(app, host=cfg.server.host, port=cfg.server.port, log_level="warning")
    return 0
