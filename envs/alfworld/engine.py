"""The ALFWorld engine: TextWorld's PDDL environment with ALFWorld's name demangler.

This is how the ``alfworld`` package itself plays its games (``AlfredTWEnv``): a
``textworld.envs.pddl.PddlEnv`` running ALFWorld's PDDL domain through fast-downward,
with the text from ALFWorld's grammar and THOR ids shown as ``apple 1``, ``cabinet 3``.

Two engines play the same games to the same text (:data:`ENGINES`): ``"fast"`` (default)
is :class:`~agentrl.envs.alfworld.fast.FastPddlEnv`, which caches parsed grammar and
translated problems; ``"reference"`` is TextWorld's own ``PddlEnv``, as the package plays.

Every ``PddlEnv`` loads its own copy of fast-downward's shared library, which a process
can never unload; :func:`acquire` and :func:`release` keep the engines of closed envs for
the next env of the process instead of loading another copy each time.
"""

from __future__ import annotations

import threading
from typing import Any

#: The engines :func:`acquire` makes.
ENGINES = ("fast", "reference")
_free: dict[str, list[Any]] = {kind: [] for kind in ENGINES}
_lock = threading.Lock()


def acquire(kind: str = "fast") -> Any:
    """A raw PDDL engine of ``kind`` (reused when a closed env left one) reporting what agentrl's ALFWorld env reads."""
    if kind not in ENGINES:
        raise ValueError(f"unknown ALFWorld engine {kind!r}; choose one of {', '.join(ENGINES)}")
    try:
        import textworld
        from textworld.envs.pddl import PddlEnv
    except ImportError as err:
        raise ImportError("ALFWorld-v0 needs textworld with fast-downward: pip install 'agentrl[alfworld]'") from err
    with _lock:
        if _free[kind]:
            return _free[kind].pop()
    infos = textworld.EnvInfos(admissible_commands=True, won=True)
    if kind == "fast":
        from agentrl.envs.alfworld.fast import FastPddlEnv

        return FastPddlEnv(infos)
    return PddlEnv(infos)


def release(engine: Any) -> None:
    """Give an engine back for reuse (its game stays loaded until the next ``load``)."""
    from agentrl.envs.alfworld.fast import FastPddlEnv

    with _lock:
        _free["fast" if isinstance(engine, FastPddlEnv) else "reference"].append(engine)


def demangled(env: Any) -> Any:
    """Wrap a TextWorld PDDL env with ALFWorld's demangler (ids → ``name N``, in sorted-id order)."""
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler

    return AlfredDemangler(env, shuffle=False)


def names(state: Any) -> dict[str, str]:
    """Raw PDDL id → the name the text shows (``apple 1``), from an engine state."""
    return {key: info.name for key, info in state["_entity_infos"].items()}
