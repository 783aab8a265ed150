"""What the sandboxed task envs share: a lazily made sandbox, code extraction, a result channel.

A :class:`SandboxedTextEnv` is an :class:`agentrl.envs.base.TextEnv` that owns one
sandbox for its lifetime (made on the first reset, reused across episodes with its
work dir emptied, closed by ``env.close()``). Programs the env runs on the agent's
behalf report back through :func:`result_line`: the driver sends a fresh nonce on
stdin and only a stdout line starting with that nonce counts, so text the agent's
code prints cannot pose as the result.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import fields
from typing import Any, ClassVar, Generic

from agentrl.envs.base import CommandT, TextEnv
from agentrl.sandboxes.base import ExecResult, Sandbox, SandboxConfig, make_sandbox

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """The ``(language, body)`` of every fenced code block in ``text``."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def sandbox_config(sandbox: SandboxConfig | dict[str, Any] | None, **defaults: Any) -> SandboxConfig:
    """A :class:`SandboxConfig` from a config, a dict of its fields (Hydra kwargs) or None."""
    if isinstance(sandbox, SandboxConfig):
        return sandbox
    known = {f.name for f in fields(SandboxConfig)}
    given = dict(sandbox or {})
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown sandbox settings {unknown}; known: {sorted(known)}")
    return SandboxConfig(**{**defaults, **given})


def new_nonce() -> str:
    """A marker for :func:`result_line` (hex, unguessable)."""
    return "AGENTRL-RESULT-" + secrets.token_hex(16)


def result_line(result: ExecResult, nonce: str) -> dict[str, Any] | None:
    """The JSON object the driver printed after ``nonce`` (the last such line), or None."""
    found = None
    for line in result.stdout.splitlines():
        if line.startswith(nonce):
            try:
                found = json.loads(line[len(nonce) :])
            except json.JSONDecodeError:
                return None
    return found if isinstance(found, dict) else None


class SandboxedTextEnv(TextEnv[CommandT], Generic[CommandT]):
    """A text env whose actions run in a sandbox it owns.

    Args:
        sandbox: Sandbox settings (a :class:`SandboxConfig` or a dict of its fields);
            default: bubblewrap with the env's own limits.
        expert: See :class:`~agentrl.envs.base.TextEnv`.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    sandbox_defaults: ClassVar[dict[str, Any]] = {"memory_mb": 512, "pids": 64, "timeout_s": 10.0}

    def __init__(
        self,
        sandbox: SandboxConfig | dict[str, Any] | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(expert=expert, render_mode=render_mode)
        self.sandbox_config = sandbox_config(sandbox, **self.sandbox_defaults)
        self._sandbox: Sandbox | None = None

    @property
    def sandbox(self) -> Sandbox:
        """The env's sandbox, made on first use."""
        if self._sandbox is None:
            self._sandbox = make_sandbox(self.sandbox_config)
        return self._sandbox

    def clear_workdir(self) -> None:
        """Empty the sandbox's work dir for a new episode."""
        result = self.sandbox.run(["find", self.sandbox_config.workdir, "-mindepth", "1", "-delete"], timeout=30)
        if not result.ok:
            # Something the last episode left cannot be removed by the sandbox user: start afresh.
            self.sandbox.close()
            self._sandbox = None

    def close(self) -> None:
        """Close the sandbox (kills anything left, removes its files)."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        super().close()
