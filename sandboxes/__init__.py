"""Sandboxes for untrusted code and the sandboxed task envs (see DESIGN.md, Sandboxes).

:func:`agentrl.sandboxes.base.make_sandbox` makes a sandbox of either backend
(:mod:`~agentrl.sandboxes.bubblewrap`, the local default, or :mod:`~agentrl.sandboxes.docker`).
The task envs (CodeTask, GridPolicy) live here rather than in ``agentrl.envs``, which
imports nothing else of agentrl: they are registered through the ``agentrl.envs``
entry point, which names :func:`register_envs`.
"""

from __future__ import annotations

from agentrl.sandboxes.base import ExecResult, Sandbox, SandboxConfig, SandboxError, SandboxUnavailable, make_sandbox

__all__ = [
    "ExecResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxUnavailable",
    "make_sandbox",
    "register_envs",
]


def register_envs() -> None:
    """Register the sandboxed task envs (called through the ``agentrl.envs`` entry point)."""
    from agentrl.envs.registration import register

    register(
        "agentrl/CodeTask-v0",
        "agentrl.sandboxes.codetask:CodeTaskEnv",
        description="Fix bugs, implement functions, make failing tests pass: shell and edits in a sandbox, "
        "hidden tests reward; reference-solution expert",
        max_episode_steps=30,
    )
    register(
        "agentrl/GridPolicy-v0",
        "agentrl.sandboxes.gridpolicy:GridPolicyEnv",
        description="Code as policy: write plan(state) for GRASP energy grids, run in a sandbox, refine from "
        "the scores; route-search expert program",
        max_episode_steps=10,
    )
