"""The sandbox contract: :class:`Sandbox`, :class:`SandboxConfig` and :class:`ExecResult`.

A sandbox runs untrusted commands (an agent's shell commands, a policy program it
wrote) in an isolated work directory and returns what they printed. Every backend
gives the same guarantees by default: no network, a read-only system, one writable
work dir (``config.workdir``, ``/work``) of at most ``config.disk_mb`` MiB, host files
and environment invisible, memory, CPU and process-count limits, and a wall-clock
timeout per command that kills every process the command started. Sandboxed code runs
as uid 1000 with no capabilities and no way to gain privileges (``no_new_privs``,
``nosuid`` mounts); on the host it is never root. ``close()`` removes every process,
container, volume and directory the sandbox made, and may be called any number of times.

Paths given to :meth:`Sandbox.put_file` / :meth:`Sandbox.get_file` are relative to the
work dir (or absolute inside it); anything that would leave it is refused
(``ValueError``), and no symbolic link is ever followed, so links the sandboxed code
planted cannot lead a transfer out of the work dir, even while a command runs. Files
larger than ``config.max_file_mb`` are neither written nor read. Every failure of the
backend itself (not of the command) is a :class:`SandboxError`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

BACKENDS = ("bubblewrap", "docker")
DEFAULT_IMAGE = "agentrl/sandbox:bookworm"
TMP_MB = 256
"""Size of each sandbox's private ``/tmp`` (a tmpfs), in MiB."""


class SandboxError(RuntimeError):
    """A sandbox could not be created or used (not: the command inside it failed)."""


class SandboxUnavailable(SandboxError):
    """The backend is not installed or not running here; the message says what to do."""


@dataclass(frozen=True)
class ExecResult:
    """What one command in a sandbox did."""

    stdout: str
    """Standard output (UTF-8, undecodable bytes replaced), cut at ``max_output_bytes``."""
    stderr: str
    """Standard error, cut the same way."""
    exit_code: int
    """The command's exit status; 137 when it was killed (timeout, memory limit)."""
    timed_out: bool
    """The command ran past its timeout and was killed with everything it started."""
    duration_s: float = 0.0
    """Wall-clock seconds from start to exit (or kill)."""
    truncated: bool = False
    """Some output was dropped because it went past ``max_output_bytes``."""

    @property
    def ok(self) -> bool:
        """The command exited 0 within its timeout."""
        return self.exit_code == 0 and not self.timed_out

    def summary(self, limit: int = 2000) -> str:
        """Exit status and output as text for an agent's observation (each stream cut to ``limit`` chars)."""
        status = "timed out (killed)" if self.timed_out else f"exit code {self.exit_code}"
        parts = [status]
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text:
                cut = text if len(text) <= limit else text[:limit] + f"\n... [{len(text) - limit} more characters]"
                parts.append(f"{name}:\n{cut.rstrip()}")
        return "\n".join(parts)


@dataclass
class SandboxConfig:
    """Settings of a sandbox; the same fields mean the same thing for every backend."""

    backend: str = "bubblewrap"
    """``bubblewrap`` (local default) or ``docker``."""
    memory_mb: int = 512
    """Memory limit of everything running in the sandbox, in MiB."""
    cpus: float = 1.0
    """CPU quota in cores (1.0 = one core's worth of time)."""
    pids: int = 64
    """Most processes and threads that may exist in the sandbox at once."""
    timeout_s: float = 30.0
    """Default wall-clock limit of one ``run`` call, in seconds."""
    network: bool = False
    """Give the sandbox network access (off: no interface but its own loopback)."""
    workdir: str = "/work"
    """The writable work directory inside the sandbox, also each command's cwd."""
    max_output_bytes: int = 1_000_000
    """Keep at most this many bytes of stdout and of stderr per command."""
    max_file_mb: int = 64
    """Largest file a sandboxed process may write, and ``put_file``/``get_file`` may transfer, in MiB."""
    disk_mb: int = 256
    """Most the work dir may hold, in MiB. It is a tmpfs, so its files live in memory (on docker they count
    toward ``memory_mb``); bubblewrap enforces it only when the driver runs as root."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables of every command (the host's are never passed)."""
    image: str = DEFAULT_IMAGE
    """Docker: the image to run (``agentrl sandbox build-image`` makes the default)."""
    rootfs: str | None = None
    """Bubblewrap: a root file system directory to use instead of the host's ``/usr``."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        for name in ("memory_mb", "pids", "max_output_bytes", "max_file_mb", "disk_mb"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"sandbox {name} must be at least 1, got {getattr(self, name)}")
        if self.cpus <= 0 or self.timeout_s <= 0:
            raise ValueError(f"sandbox cpus and timeout_s must be positive, got {self.cpus} and {self.timeout_s}")
        if not posixpath.isabs(self.workdir) or posixpath.normpath(self.workdir) == "/":
            raise ValueError(f"sandbox workdir must be an absolute path other than '/', got {self.workdir!r}")


@runtime_checkable
class Sandbox(Protocol):
    """An isolated place to run commands; use it as a context manager."""

    config: SandboxConfig

    def run(
        self, cmd: str | Sequence[str], timeout: float | None = None, stdin: str | bytes | None = None
    ) -> ExecResult:
        """Run ``cmd`` (a shell string for ``sh -c``, or an argv list) in the work dir."""
        ...

    def put_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` in the work dir, creating parent directories.

        A link at ``path`` itself is replaced; a link or file on the way to it, a directory
        at it, ``data`` over ``max_file_mb`` or a full work dir raise :class:`SandboxError`.
        """
        ...

    def get_file(self, path: str) -> bytes:
        """The bytes of the regular file ``path`` in the work dir.

        ``FileNotFoundError`` when there is no regular file there reached without following
        a link (missing, a directory, a link, a device); :class:`SandboxError` when it is
        over ``max_file_mb`` (nothing of it is read then).
        """
        ...

    def close(self) -> None:
        """Kill everything still running and remove what the sandbox made (idempotent)."""
        ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(self, *exc: object) -> None: ...


class OutputCap:
    """Keeps the first ``limit`` bytes of a stream fed to it in chunks and notes whether any were dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.kept = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        """Keep what still fits of ``chunk``."""
        room = self.limit - self.kept
        if room > 0:
            self.chunks.append(chunk[:room])
            self.kept += min(room, len(chunk))
        if len(chunk) > max(room, 0):
            self.truncated = True

    def text(self) -> str:
        """The kept bytes as UTF-8 (undecodable bytes replaced)."""
        return b"".join(self.chunks).decode("utf-8", errors="replace")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (used to find leftovers of dead drivers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def work_path(config: SandboxConfig, path: str) -> str:
    """``path`` relative to the work dir, normalised; refuse paths that leave it.

    Returns the relative POSIX path (``"src/a.py"``); absolute paths must lie in
    ``config.workdir``.
    """
    if not isinstance(path, str) or not path or "\x00" in path:
        raise ValueError(f"invalid sandbox path {path!r}")
    root = posixpath.normpath(config.workdir)
    full = posixpath.normpath(path if posixpath.isabs(path) else posixpath.join(root, path))
    if full == root or not full.startswith(root + "/"):
        raise ValueError(f"path {path!r} is outside the sandbox work dir {root}")
    return posixpath.relpath(full, root)


def shell_argv(cmd: str | Sequence[str]) -> list[str]:
    """The argv that runs ``cmd``: ``sh -c cmd`` for a string, the list itself otherwise."""
    if isinstance(cmd, str):
        return ["/bin/sh", "-c", cmd]
    argv = [str(part) for part in cmd]
    if not argv:
        raise ValueError("empty command")
    return argv


def file_cap_bytes(config: SandboxConfig) -> int:
    """The most bytes ``put_file``/``get_file`` transfer: ``config.max_file_mb``."""
    return config.max_file_mb * 1024 * 1024


def too_large(config: SandboxConfig, path: str, size: int) -> SandboxError:
    """The error for a transfer over ``max_file_mb``."""
    return SandboxError(
        f"{path!r} is {size} bytes, over the sandbox's max_file_mb={config.max_file_mb} MiB: raise "
        "sandbox.max_file_mb, or have a command split or shrink the file"
    )


def disk_full(config: SandboxConfig, path: str) -> SandboxError:
    """The error for a ``put_file`` that does not fit in the work dir."""
    return SandboxError(
        f"no room for {path!r}: the sandbox work dir holds at most disk_mb={config.disk_mb} MiB; "
        "delete files in it or raise sandbox.disk_mb"
    )


def note_disk_full(config: SandboxConfig, stderr: str) -> str:
    """``stderr`` with a line saying which limit a "No space left on device" error hit."""
    if "No space left on device" not in stderr:
        return stderr
    return stderr + (
        f"\n[sandbox] a sandbox file system is full: the work dir holds at most disk_mb={config.disk_mb} MiB "
        f"and /tmp {TMP_MB} MiB; delete files or raise sandbox.disk_mb\n"
    )


def make_sandbox(config: SandboxConfig | None = None, **overrides: Any) -> Sandbox:
    """Create a sandbox of ``config.backend`` (fields of :class:`SandboxConfig` may be overridden)."""
    if config is None:
        config = SandboxConfig(**overrides)
    elif overrides:
        config = SandboxConfig(**{**config.__dict__, **overrides})
    if config.backend == "docker":
        from agentrl.sandboxes.docker import DockerSandbox

        return DockerSandbox(config)
    from agentrl.sandboxes.bubblewrap import BubblewrapSandbox

    return BubblewrapSandbox(config)
