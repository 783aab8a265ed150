"""The ALFWorld engine: TextWorld's PDDL environment with ALFWorld's name demangler.

This is how the ``alfworld`` package itself plays its games (``AlfredTWEnv``): a
``textworld.envs.pddl.PddlEnv`` running ALFWorld's PDDL domain through fast-downward,
with the text from ALFWorld's grammar and THOR ids shown as ``apple 1``, ``cabinet 3``.

Every ``PddlEnv`` loads its own copy of fast-downward's shared library, which a process
can never unload; :func:`acquire` and :func:`release` keep the engines of closed envs for
the next env of the process instead of loading another copy each time.
"""

from __future__ import annotations

import threading
from typing import Any

_free: list[Any] = []
_lock = threading.Lock()


def acquire() -> Any:
    """A raw ``PddlEnv`` (reused when a closed env left one) reporting what agentrl's ALFWorld env reads."""
    try:
        import textworld
        from textworld.envs.pddl import PddlEnv
    except ImportError as err:
        raise ImportError("ALFWorld-v0 needs textworld with fast-downward: pip install 'agentrl[alfworld]'") from err
    with _lock:
        if _free:
            return _free.pop()
    return PddlEnv(textworld.EnvInfos(admissible_commands=True, won=True))


def release(engine: Any) -> None:
    """Give an engine back for reuse (its game stays loaded until the next ``load``)."""
    with _lock:
        _free.append(engine)


def demangled(env: Any) -> Any:
    """Wrap a TextWorld PDDL env with ALFWorld's demangler (ids → ``name N``, in sorted-id order)."""
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler

    return AlfredDemangler(env, shuffle=False)


def names(state: Any) -> dict[str, str]:
    """Raw PDDL id → the name the text shows (``apple 1``), from an engine state."""
    return {key: info.name for key, info in state["_entity_infos"].items()}
