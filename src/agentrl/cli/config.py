"""Composing the CLI's configs with Hydra (structured schemas + ``configs/`` files)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from agentrl.factory import short_names

T = TypeVar("T")


def store(name: str, node: type, group: str | None = None) -> None:
    """Register a dataclass schema under ``name`` (in ``group``) for config files to extend."""
    ConfigStore.instance().store(name=name, node=node, group=group)


def add_server_flags(parser: Any, default_port: int) -> None:
    """``--host`` and ``--port``, for the commands that serve over HTTP."""
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help=f"TCP port (default {default_port})")


def server_overrides(args: Any) -> list[str]:
    """The ``server.host``/``server.port`` overrides that ``--host``/``--port`` stand for."""
    flags = [f"server.host={args.host}"] if args.host else []
    return flags + ([f"server.port={args.port}"] if args.port is not None else [])


def env_overrides(env: str) -> list[str]:
    """Overrides selecting ``env``: its short-name config, or a bare id with no kwargs."""
    if env in short_names():
        return [f"env={env}"]
    quoted = env.replace("\\", "\\\\").replace("'", "\\'")
    return ["env=_by_id", f"env.id='{quoted}'"]


def load(config_name: str, overrides: Sequence[str], schema: type[T]) -> T:
    """Compose ``configs/<config_name>.yaml`` with ``overrides`` into a ``schema`` object."""
    try:
        with initialize_config_module(config_module="agentrl.configs", version_base=None):
            cfg: Any = compose(config_name=config_name, overrides=list(overrides))
        return OmegaConf.to_object(cfg)  # type: ignore[return-value]
    except (HydraException, OmegaConfBaseException) as err:
        raise ValueError(f"bad config or override ({' '.join(overrides)}): {err}") from err
