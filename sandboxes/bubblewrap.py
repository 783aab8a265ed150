"""The bubblewrap backend: each command in fresh Linux namespaces over a read-only system.

``bwrap`` (Debian ``bubblewrap``) starts every command with new user, pid, network,
IPC, UTS and cgroup namespaces: the command sees the host's ``/usr`` read-only (or that
of ``config.rootfs``, e.g. the debootstrap tree ``agentrl sandbox build-image`` makes),
a synthetic ``/etc`` with no host secrets, a private ``/proc``,
``/dev`` and ``/tmp``, and the sandbox's work dir (a host temp dir) at
``config.workdir``; it runs as uid 1000 with no capabilities and no environment but
``config.env``. Without ``config.network`` the only interface is its own loopback.

Limits: a per-command cgroup (memory including swap, ``pids.max``, CPU quota) when the
driver may write cgroups (root, or a delegated v2 tree), otherwise ``prlimit`` limits
(address space, process count, CPU seconds) with a warning that they are weaker. The
largest writable file is capped by ``RLIMIT_FSIZE`` either way. A timeout kills the
outer ``bwrap``; the pid namespace dies with its init and every process left in the
command's cgroup is killed, so nothing outlives the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from agentrl.sandboxes.base import (
    ExecResult,
    OutputCap,
    SandboxConfig,
    SandboxError,
    SandboxUnavailable,
    pid_alive,
    shell_argv,
    work_path,
)
from agentrl.sandboxes.cgroups import CommandCgroup, cgroups_available

logger = logging.getLogger(__name__)

SANDBOX_UID = 1000
PATH = "/usr/local/bin:/usr/bin:/bin"
# Host files that are safe to show (no secrets) and that programs expect.
HOST_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types")
NETWORK_ETC = ("resolv.conf", "nsswitch.conf", "ssl", "ca-certificates", "gai.conf")
PASSWD = (
    f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/work:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = f"sandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"
HOSTS = "127.0.0.1 localhost sandbox\n::1 localhost\n"
TMPFS_BYTES = 256 * 1024 * 1024


def bwrap_path() -> str:
    """The ``bwrap`` executable, or :class:`SandboxUnavailable` saying how to install it."""
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed: install it (Debian/Ubuntu: `apt-get install bubblewrap`) "
            "or use the docker backend (sandbox.backend=docker)"
        )
    return found


WORKDIR_PREFIX = "agentrl-sandbox-"
_REAPED = False


def reap_workdirs() -> int:
    """Delete the host work dirs of bubblewrap sandboxes whose driver process is gone."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        owner = path.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or pid_alive(int(owner)):
            continue
        for directory, _, _ in os.walk(path):
            with contextlib.suppress(OSError):
                os.chmod(directory, 0o700)
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


class _CappedReader(threading.Thread):
    """Reads a pipe to its end into an :class:`OutputCap`."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.output = OutputCap(limit)

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := self.stream.read1(65536):  # type: ignore[attr-defined]
                self.output.add(chunk)


class BubblewrapSandbox:
    """A sandbox whose commands run under ``bwrap``; the work dir lives in a host temp dir.

    Args:
        config: the sandbox settings (``backend`` must be ``bubblewrap``).
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._bwrap = bwrap_path()
        if self.config.rootfs is not None and not Path(self.config.rootfs, "usr").is_dir():
            raise SandboxError(f"sandbox rootfs {self.config.rootfs!r} has no usr/ directory")
        self._use_cgroups = cgroups_available()
        if not self._use_cgroups:
            logger.warning(
                "sandbox limits fall back to prlimit (cgroups are not writable here): the memory limit caps "
                "address space per process and the process limit counts all processes of the user"
            )
        global _REAPED
        if not _REAPED:
            _REAPED = True
            reap_workdirs()
        self._root = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        self.host_workdir = self._root / "work"
        self.host_workdir.mkdir()
        self._etc = self._root / "etc"
        self._etc.mkdir()
        for name, text in (("passwd", PASSWD), ("group", GROUP), ("hosts", HOSTS), ("hostname", "sandbox\n")):
            (self._etc / name).write_text(text)
        self._closed = False
        self._lock = threading.Lock()

    # -- running commands --------------------------------------------------------------

    def _fs_args(self) -> list[str]:
        config = self.config
        base = Path(config.rootfs or "/")
        args = ["--ro-bind", str(base / "usr"), "/usr"]
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = base / top
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), f"/{top}"]
            elif path.is_dir():
                args += ["--ro-bind", str(path), f"/{top}"]
        args += ["--dir", "/etc"]
        shown = HOST_ETC + (NETWORK_ETC if config.network else ())
        for name in shown:
            if (base / "etc" / name).exists():
                args += ["--ro-bind", str(base / "etc" / name), f"/etc/{name}"]
        for name in ("passwd", "group", "hosts", "hostname"):
            args += ["--ro-bind", str(self._etc / name), f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp"]
        args += ["--bind", str(self.host_workdir), config.workdir, "--chdir", config.workdir]
        # bwrap's own root is a tmpfs: make it read-only, so only the work dir and /tmp are writable.
        return [*args, "--remount-ro", "/"]

    def _argv(self, cmd: str | Sequence[str]) -> list[str]:
        config = self.config
        argv = [self._bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
        if config.network:
            argv.append("--share-net")
        argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
        argv += ["--die-with-parent", "--new-session", "--clearenv"]
        env = {"PATH": PATH, "HOME": config.workdir, "LANG": "C.UTF-8", "USER": "sandbox", **config.env}
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += self._fs_args()
        return [*argv, "--", *shell_argv(cmd)]

    def _preexec(self, group: CommandCgroup | None) -> Callable[[], None]:
        config = self.config
        file_bytes = config.max_file_mb * 1024 * 1024

        def setup() -> None:  # runs in the child between fork and exec: no logging, no locks
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
            if group is not None:
                group.join()
                return
            memory = config.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_NPROC, (config.pids, config.pids))
            seconds = int(config.timeout_s * config.cpus) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))

        return setup

    def run(
        self, cmd: str | Sequence[str], timeout: float | None = None, stdin: str | bytes | None = None
    ) -> ExecResult:
        """Run ``cmd`` in the work dir; see :class:`~agentrl.sandboxes.base.Sandbox`."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        timeout = self.config.timeout_s if timeout is None else float(timeout)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        argv = self._argv(cmd)
        with self._lock:
            group = (
                CommandCgroup.create(self.config.memory_mb, self.config.cpus, self.config.pids)
                if self._use_cgroups
                else None
            )
            try:
                return self._run(argv, timeout, stdin, group)
            finally:
                if group is not None:
                    group.remove()

    def _run(
        self, argv: list[str], timeout: float, stdin: str | bytes | None, group: CommandCgroup | None
    ) -> ExecResult:
        start = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=self._preexec(group),
            start_new_session=True,
            close_fds=True,
            env={"PATH": PATH},  # bwrap's own init (pid 1 inside) keeps this environment: no host variables
        )
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            _CappedReader(proc.stdout, self.config.max_output_bytes),
            _CappedReader(proc.stderr, self.config.max_output_bytes),
        ]
        for reader in readers:
            reader.start()
        if stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
        # A timer kills on timeout, so the wait below blocks in waitpid instead of polling.
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_tree(proc, group)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            exit_code = proc.wait()
        finally:
            timer.cancel()
        timed_out = expired.is_set()
        # The command exited; anything it left behind (a daemonised child) dies now.
        if group is not None:
            group.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for reader in readers:
            reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        if exit_code < 0:  # killed by a signal: report it the shell's way
            exit_code = 128 - exit_code
        oom = group is not None and group.oom_killed()
        stdout, stderr = (reader.output for reader in readers)
        error_text = stderr.text()
        if oom and not timed_out:
            error_text += "\n[sandbox] killed: the command went over the memory limit\n"
        return ExecResult(
            stdout=stdout.text(),
            stderr=error_text,
            exit_code=137 if oom and exit_code == 0 else exit_code,
            timed_out=timed_out,
            duration_s=time.monotonic() - start,
            truncated=stdout.truncated or stderr.truncated,
        )

    # -- files ---------------------------------------------------------------------------

    def _host_path(self, path: str, create_parents: bool = False) -> Path:
        """The host path of ``path``, refusing any way out of the work dir through symlinks.

        The sandboxed code may have planted symlinks (``evil -> /etc``): every directory on
        the way must be a real directory inside the work dir, and the file itself is opened
        with ``O_NOFOLLOW`` by the callers.
        """
        parts = Path(work_path(self.config, path)).parts
        current = self.host_workdir
        for part in parts[:-1]:
            current = current / part
            if current.is_symlink():
                raise ValueError(f"path {path!r} goes through a symlink in the sandbox work dir")
            if not current.exists() and create_parents:
                current.mkdir()
            elif not current.is_dir():
                raise FileNotFoundError(f"{path!r}: {current.relative_to(self.host_workdir)} is not a directory")
        return current / parts[-1]

    def put_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` in the work dir, creating parent directories."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        target = self._host_path(path, create_parents=True)
        if target.is_symlink():
            target.unlink()
        payload = data.encode() if isinstance(data, str) else bytes(data)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            os.fchmod(handle.fileno(), mode)

    def get_file(self, path: str) -> bytes:
        """The bytes of ``path`` in the work dir."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        target = self._host_path(path)
        if target.is_symlink() or not target.is_file():
            raise FileNotFoundError(f"{path!r} is not a regular file in the sandbox work dir")
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the work dir (nothing runs between commands, so nothing is left to kill)."""
        if self._closed:
            return
        self._closed = True
        for directory, _, _ in os.walk(self._root):  # the sandbox may have made dirs read-only
            with contextlib.suppress(OSError):
                os.chmod(directory, 0o700)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> BubblewrapSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        return f"BubblewrapSandbox(workdir={self.host_workdir}, cgroups={self._use_cgroups})"


def _feed(stream: IO[bytes] | None, data: str | bytes) -> None:
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(data.encode() if isinstance(data, str) else data)
    with contextlib.suppress(OSError, ValueError):
        stream.close()


def _kill_tree(proc: subprocess.Popen[bytes], group: CommandCgroup | None) -> None:
    """Kill the outer bwrap (its pid namespace goes with it) and everything in the cgroup."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    if group is not None:
        group.kill()
