"""``agentrl serve-env ENV``: serve an env over HTTP, one env instance per session.

    agentrl serve-env sokoban --port 8000 env.kwargs.num_boxes=2

Clients: ``agentrl.envs.remote.RemoteEnv("http://127.0.0.1:8000")`` or any agentrl
command with ``env.remote=http://127.0.0.1:8000``. A client's mistake (a step before
reset, a bad seed, a malformed request) is answered 4xx with a message and keeps its
session; only an env that fails ends one (see :mod:`agentrl.envs.server`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from agentrl.cli.config import add_server_flags, env_overrides, load, server_overrides, store
from agentrl.envs.config import EnvConfig
from agentrl.envs.server import EnvServerConfig


@dataclass
class ServeEnvConfig:
    """Settings of ``agentrl serve-env``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The env every session gets (``env=NAME`` picks a file of ``configs/env``)."""
    server: EnvServerConfig = field(default_factory=EnvServerConfig)
    """Address, port, session limit and idle timeout."""


store("serve_env_schema", ServeEnvConfig)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "serve-env",
        help="serve an env over HTTP",
        description="Serve an env over HTTP, one env per session (POST /sessions, /sessions/ID/reset, "
        "/sessions/ID/step; DELETE /sessions/ID). Client mistakes are answered 4xx with a message and keep the "
        "session; an env that fails ends its session (500). Extra KEY=VALUE arguments are Hydra overrides "
        "(e.g. env.kwargs.size=8 server.max_sessions=64).",
    )
    parser.add_argument("env", help="a short name, a registered or gymnasium id, or module:Class")
    add_server_flags(parser, 8000)
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    import uvicorn

    from agentrl.envs.server import create_app
    from agentrl.factory import make_from_config

    flags = server_overrides(args)
    cfg = load("serve_env", [*env_overrides(args.env), *flags, *overrides], ServeEnvConfig)
    if cfg.env.remote:
        raise ValueError("serve-env runs the env itself: env.remote must be unset")
    probe = make_from_config(cfg.env)  # fail now, with a clear message, rather than per session
    probe.close()
    app = create_app(lambda _name, **kwargs: make_from_config(cfg.env, **kwargs), args.env, cfg.server)
    print(f"serving {cfg.env.id} on http://{cfg.server.host}:{cfg.server.port}", flush=True)
    uvicorn.run(app, host=cfg.server.host, port=cfg.server.port, log_level="warning")
    return 0
