"""Registering envs and making them by id, short path or ``module:Class``.

Single-agent envs are registered with Gymnasium under ``agentrl/<Name>-v0`` (so
``gymnasium.make`` works on them once :mod:`agentrl.envs` is imported); agentrl keeps a
catalogue beside Gymnasium's registry with a one-line description of each env and the
multi-agent (PettingZoo AEC) envs, which Gymnasium cannot hold.

Third-party packages add envs without touching agentrl in either of two ways:

* call :func:`register` when their module is imported and refer to the env as
  ``"theirpkg.module:TheirEnv-v0"`` (Gymnasium imports the module first), or
* declare an entry point in the ``agentrl.envs`` group naming a function that calls
  :func:`register`; agentrl calls it when it lists or makes envs, so the env shows up
  in ``agentrl envs`` as soon as the package is installed, and every command takes its
  id (``agentrl play ID``, ``agentrl train env=ID``, ``agentrl eval env=ID``).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import gymnasium

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "agentrl.envs"


@dataclass(frozen=True)
class EnvEntry:
    """One registered env."""

    id: str
    """The id to make it by, e.g. ``agentrl/Sokoban-v0``."""
    entry_point: str | Callable[..., Any]
    """``"module:Class"`` or a callable that builds the env."""
    description: str = ""
    """One line shown by ``agentrl envs``."""
    multi_agent: bool = False
    """True for PettingZoo AEC envs (not registered with Gymnasium)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Default constructor arguments."""
    max_episode_steps: int | None = None
    """Step limit applied by Gymnasium's ``TimeLimit`` (single-agent only)."""


_CATALOGUE: dict[str, EnvEntry] = {}
_plugins_loaded = False


def register(
    id: str,
    entry_point: str | Callable[..., Any],
    *,
    description: str = "",
    multi_agent: bool = False,
    max_episode_steps: int | None = None,
    kwargs: dict[str, Any] | None = None,
) -> EnvEntry:
    """Register an env under ``id`` (``namespace/Name-vN``).

    Args:
        id: The env id; bump the version on any change of behaviour.
        entry_point: ``"module:Class"`` or a callable returning the env.
        description: A one-line description for ``agentrl envs``.
        multi_agent: The env is a PettingZoo AEC env.
        max_episode_steps: Truncate episodes after this many steps.
        kwargs: Default constructor arguments.
    """
    entry = EnvEntry(id, entry_point, description, multi_agent, dict(kwargs or {}), max_episode_steps)
    if not multi_agent:
        if id in gymnasium.registry and id not in _CATALOGUE:
            raise ValueError(f"{id!r} is already registered with gymnasium by another package; pick another id")
        gymnasium.register(id, entry_point=entry_point, max_episode_steps=max_episode_steps, kwargs=entry.kwargs)
    _CATALOGUE[id] = entry
    return entry


def load_plugins() -> None:
    """Call every ``agentrl.envs`` entry point once (each registers its package's envs)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            hook = ep.load()
            if callable(hook):
                hook()
        except Exception:
            # A broken plugin must not take the built-in envs down with it.
            logger.exception("could not load the agentrl env plugin %r (%s)", ep.name, ep.value)


def registered() -> list[EnvEntry]:
    """All registered envs (built-in and plugins), sorted by id."""
    load_plugins()
    return sorted(_CATALOGUE.values(), key=lambda e: e.id)


def spec(id: str) -> EnvEntry:
    """The catalogue entry of ``id``; the error lists the known ids."""
    load_plugins()
    if id in _CATALOGUE:
        return _CATALOGUE[id]
    known = ", ".join(sorted(_CATALOGUE))
    raise KeyError(f"no agentrl env {id!r}; registered: {known}")


def _load(entry_point: str) -> Any:
    module_name, _, attr = entry_point.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError as err:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from err


def make(id: str, **kwargs: Any) -> Any:
    """Build an env from a registered id, a gymnasium id or ``"module:Class"``.

    Single-agent envs come from :func:`gymnasium.make` (with its wrappers, e.g. the
    step limit); multi-agent ones are instantiated from the catalogue. Ids of the form
    ``"module:Env-v0"`` import ``module`` first, so an env registered by a third-party
    module is found without installing a plugin.
    """
    load_plugins()
    entry = _CATALOGUE.get(id)
    if entry is not None and entry.multi_agent:
        factory = _load(entry.entry_point) if isinstance(entry.entry_point, str) else entry.entry_point
        return factory(**{**entry.kwargs, **kwargs})
    if entry is None and ":" in id:
        module_name, _, attr = id.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(f"cannot import {module_name!r} (from env {id!r}): {err}") from err
        target = getattr(module, attr, None)
        if inspect.isclass(target) or (callable(target) and not isinstance(target, str)):
            return target(**kwargs)
        if attr in _CATALOGUE:
            return make(attr, **kwargs)
    try:
        return gymnasium.make(id, disable_env_checker=True, **kwargs)
    except gymnasium.error.Error as err:
        known = ", ".join(e.id for e in registered())
        raise ValueError(
            f"unknown env {id!r}: give a registered id ({known}), a gymnasium id, or 'module:Class'"
        ) from err
