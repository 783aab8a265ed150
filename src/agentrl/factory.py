"""``agentrl.make``: build an env from a short name, a registered id or ``module:Class``.

Short names are the files of the ``env`` config group (``configs/env/<name>.yaml``);
each names an id and its arguments, exactly as ``agentrl play NAME`` and ``agentrl
train env=NAME`` read them.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

from omegaconf import OmegaConf

from agentrl.envs import registration
from agentrl.envs.config import EnvConfig


@functools.lru_cache(maxsize=1)
def _short_names() -> tuple[str, ...]:
    folder = resources.files("agentrl.configs") / "env"
    return tuple(
        sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml") and p.name[0] != "_")
    )


def short_names() -> list[str]:
    """The env names that have a config file in ``configs/env/``."""
    return list(_short_names())


def short_name_of(env_id: str) -> str | None:
    """The short name whose config builds ``env_id`` (None when no config, or more than one, names it): the CLI
    reads ``env=agentrl/WebShop-v1`` as ``env=webshop``, with its arguments, agent defaults and recipe."""
    names = [name for name in short_names() if _env_config(name).id == env_id]
    return names[0] if len(names) == 1 else None


def env_config(name: str) -> EnvConfig:
    """The validated :class:`EnvConfig` of the short name ``name`` (a fresh copy)."""
    return copy.deepcopy(_env_config(name))


@functools.cache
def _env_config(name: str) -> EnvConfig:
    # Parsed once per process: rollouts make many envs by short name, and OmegaConf's
    # validation costs ~10 ms a time.
    path = resources.files("agentrl.configs") / "env" / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"no env config {name!r}; short names: {', '.join(short_names())}")
    schema = OmegaConf.structured(EnvConfig)
    merged = OmegaConf.merge(schema, OmegaConf.create(path.read_text()))
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def make_from_config(cfg: EnvConfig, **kwargs: Any) -> Any:
    """Build the env a config describes (``kwargs`` override the config's).

    With ``cfg.remote`` set, the env runs on that env server and the returned
    :class:`~agentrl.envs.remote.RemoteEnv` opens a session there: the server's env and
    arguments apply, and ``kwargs`` override them.
    """
    if cfg.remote:
        from agentrl.envs.remote import RemoteEnv

        return RemoteEnv(cfg.remote, kwargs=kwargs)
    entry = registration.spec(cfg.id) if cfg.id in {e.id for e in registration.registered()} else None
    extra: dict[str, Any] = {}
    if cfg.max_episode_steps is not None and not (entry and entry.multi_agent):
        extra["max_episode_steps"] = cfg.max_episode_steps
    arguments = {**dict(cfg.kwargs), **extra, **kwargs}
    try:
        return registration.make(cfg.id, **arguments)
    except TypeError as err:
        raise ValueError(f"cannot build {cfg.id} with arguments {arguments}: {err}") from err


def make(name: str, **kwargs: Any) -> Any:
    """Build an env.

    Args:
        name: A short name (``"sokoban"``), a registered or gymnasium id
            (``"agentrl/Sokoban-v0"``, ``"mypkg.envs:Coin-v0"``) or ``"module:Class"``.
        **kwargs: Constructor arguments; they override the short name's config.

    Returns:
        A ``gymnasium.Env`` or, for multi-agent envs, a PettingZoo AEC env.
    """
    if "/" not in name and ":" not in name and name in short_names():
        return make_from_config(env_config(name), **kwargs)
    return registration.make(name, **kwargs)
