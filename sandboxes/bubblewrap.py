"""The bubblewrap backend: each command in fresh Linux namespaces over a read-only system.

``bwrap`` (Debian ``bubblewrap``) starts every command with new user, pid, network,
IPC, UTS and cgroup namespaces: the command sees the host's ``/usr`` read-only (or that
of ``config.rootfs``, e.g. the debootstrap tree ``agentrl sandbox build-image`` makes),
a synthetic ``/etc`` with no host secrets, a private ``/proc`` whose ``/proc/sys`` (and
``/proc/irq``, ``/proc/bus``, ``/proc/fs``) is read-only, a private ``/dev`` and ``/tmp``,
and the sandbox's work dir at ``config.workdir``. It runs as uid 1000 with no
capabilities, ``no_new_privs`` and no environment but ``config.env``; it cannot make
user namespaces. Without ``config.network`` the only interface is its own loopback.

Host uid: inside uid 1000 is the host uid that starts ``bwrap``. A driver running as
root therefore starts it as ``nobody`` (65534, no supplementary groups, through
``setpriv``), so sandboxed code is never host root, cannot write host kernel settings
and cannot leave a root-owned setuid file; the work dir is then a ``nosuid,nodev`` tmpfs
of ``config.disk_mb`` (see :mod:`agentrl.sandboxes.workdir`). A non-root driver's
sandboxes run as its own uid, in a plain directory without a disk quota.

Limits: a per-command cgroup (memory including swap, ``pids.max``, CPU quota) when the
driver may write cgroups (root, or a delegated v2 tree), otherwise ``prlimit`` limits
(address space, process count, CPU seconds) with a warning that they are weaker. The
largest writable file is capped by ``RLIMIT_FSIZE`` (and core dumps are off) either
way, set by the sandbox's own ``/bin/sh`` (POSIX ``ulimit -f``, hard and soft) before the
command runs: a driver without ``CAP_SYS_RESOURCE`` cannot set limits of a process of
another uid. Each command's ``bwrap`` is started early and placed in its cgroup before it
makes any process (see :mod:`agentrl.sandboxes.bwrap_process`), so the command is born
limited on cgroup v1 and v2 alike and pays no cgroup move; the driver forks nothing of
its own (``vfork``, no ``preexec_fn``). The early ``bwrap`` is started by one thread that lives as long as the
sandbox: ``--die-with-parent`` ties a ``bwrap`` to the *thread* that started it (``PR_SET_PDEATHSIG``), so a
short-lived arming thread that was still exiting when ``bwrap`` read its arguments killed the command
(``bwrap`` exit -9, rare, under load). A timeout kills the sandbox's first process (the
pid namespace dies with it) and everything left in the cgroup, so nothing outlives the
call.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import resource
import shutil
import tempfile
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agentrl.sandboxes.base import (
    TMP_MB,
    ExecResult,
    SandboxConfig,
    SandboxError,
    SandboxUnavailable,
    pid_alive,
    shell_argv,
)
from agentrl.sandboxes.bwrap_process import COMMAND_VARIABLE, ArmedBwrap, command_script, run_armed
from agentrl.sandboxes.cgroups import CommandCgroup, cgroups_available
from agentrl.sandboxes.workdir import HostWorkdir, bind_read_only, mount_tmpfs, remove_tree

logger = logging.getLogger(__name__)

SANDBOX_UID = 1000
NOBODY = 65534
"""The host uid and gid sandboxed code runs as when the driver is root."""
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
# Parts of /proc that set host state: read-only (bound over the private /proc).
PROC_READ_ONLY = ("/proc/sys",)
PROC_READ_ONLY_IF_PRESENT = ("/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs")


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
_WARNED_NO_QUOTA = False
_OPEN: weakref.WeakSet[BubblewrapSandbox] = weakref.WeakSet()


@atexit.register
def _close_open_sandboxes() -> None:
    """Unmount and delete what sandboxes still open at exit hold (a killed driver's are reaped by the next)."""
    for box in list(_OPEN):
        with contextlib.suppress(Exception):
            box.close()


def reap_workdirs() -> int:
    """Delete the host work dirs (unmounting their tmpfs) of bubblewrap sandboxes whose driver is gone."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        owner = path.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or pid_alive(int(owner)):
            continue
        remove_tree(path)
        removed += 1
    return removed


def _warn_no_quota(reason: str) -> None:
    global _WARNED_NO_QUOTA
    if not _WARNED_NO_QUOTA:
        _WARNED_NO_QUOTA = True
        logger.warning(
            "bubblewrap sandboxes have no work dir disk quota here (%s): only the per-file limit max_file_mb holds; "
            "run agentrl as root for a disk_mb tmpfs, or use the docker backend",
            reason,
        )


class BubblewrapSandbox:
    """A sandbox whose commands run under ``bwrap``; the work dir lives on the host (a tmpfs when root).

    Args:
        config: the sandbox settings (``backend`` must be ``bubblewrap``).

    Attributes:
        host_workdir: the work dir on the host.
        host_uid: the host uid sandboxed code runs as (``nobody`` when the driver is root).
        disk_quota_mb: the enforced size of the work dir, or None where it cannot be enforced.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._bwrap = bwrap_path()
        if self.config.rootfs is not None and not Path(self.config.rootfs, "usr").is_dir():
            raise SandboxError(f"sandbox rootfs {self.config.rootfs!r} has no usr/ directory")
        self._closed = True  # until the work dir exists: close() has nothing to remove
        self._lock = threading.Lock()
        self._armed: ArmedBwrap | None = None
        # One long-lived thread starts every early bwrap (see the module docstring: a bwrap dies with its thread).
        self._armer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentrl-bwrap-arm")
        self._arming: Future[None] | None = None
        self._removing: threading.Thread | None = None
        as_root = os.geteuid() == 0
        self.host_uid, self.host_gid = (NOBODY, NOBODY) if as_root else (os.getuid(), os.getgid())
        self._launch, self._popen_ids = self._drop_privileges(as_root)
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
        self._closed = False
        try:
            self._make_dirs(as_root)
        except BaseException:
            self.close()
            raise
        self._files = HostWorkdir(self.config, self.host_workdir, (self.host_uid, self.host_gid) if as_root else None)
        self._options = self._static_options()
        _OPEN.add(self)
        self._start_arming()

    def _drop_privileges(self, as_root: bool) -> tuple[list[str], dict[str, Any]]:
        """How ``bwrap`` is started as :data:`NOBODY` when the driver is root (nothing to do otherwise)."""
        if not as_root:
            return [], {}
        setpriv = shutil.which("setpriv")
        if setpriv is not None:  # one exec; the driver itself keeps using vfork
            return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"], {}
        logger.warning("setpriv (util-linux) is missing: sandboxes start slower (the driver forks to drop root)")
        return [], {"user": NOBODY, "group": NOBODY, "extra_groups": []}

    def _make_dirs(self, as_root: bool) -> None:
        # bwrap runs as host_uid: it must reach the /etc files and the work dir; no other user may (a non-root
        # driver's work dir is on a mount that honours setuid bits, which its sandboxed code can set).
        if as_root:
            os.chown(self._root, 0, self.host_gid)
        os.chmod(self._root, 0o710 if as_root else 0o700)
        self.host_workdir = self._root / "work"
        self.host_workdir.mkdir(mode=0o700)
        self._etc = self._root / "etc"
        self._etc.mkdir(mode=0o755)
        for name, text in (("passwd", PASSWD), ("group", GROUP), ("hosts", HOSTS), ("hostname", "sandbox\n")):
            (self._etc / name).write_text(text)
            (self._etc / name).chmod(0o644)
        self.disk_quota_mb: int | None = None
        self._base = Path(self.config.rootfs or "/")
        if not as_root:
            _warn_no_quota(f"agentrl runs as uid {os.getuid()}, not root")
            return
        try:
            mount_tmpfs(self.host_workdir, self.config.disk_mb, self.host_uid, self.host_gid)
            self.disk_quota_mb = self.config.disk_mb
        except OSError as error:
            _warn_no_quota(f"cannot mount a tmpfs: {error}")
            os.chown(self.host_workdir, self.host_uid, self.host_gid)
        if self.config.rootfs is not None:  # show it to nobody even if it lies under /root
            (self._root / "rootfs").mkdir(mode=0o755)
            try:
                bind_read_only(Path(self.config.rootfs), self._root / "rootfs")
            except OSError as error:
                raise SandboxError(f"cannot show rootfs {self.config.rootfs!r} to the sandbox: {error}") from error
            self._base = self._root / "rootfs"

    # -- running commands --------------------------------------------------------------

    def _fs_args(self) -> list[str]:
        config, base = self.config, self._base
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
        args += ["--proc", "/proc"]
        for proc_path in PROC_READ_ONLY:
            args += ["--ro-bind", proc_path, proc_path]
        for proc_path in PROC_READ_ONLY_IF_PRESENT:
            args += ["--ro-bind-try", proc_path, proc_path]
        args += ["--dev", "/dev", "--size", str(TMP_MB * 1024 * 1024), "--tmpfs", "/tmp"]
        args += ["--bind", str(self.host_workdir), config.workdir, "--chdir", config.workdir]
        # bwrap's own root is a tmpfs: make it read-only, so only the work dir and /tmp are writable.
        return [*args, "--remount-ro", "/"]

    def _static_options(self) -> list[str]:
        """The ``bwrap`` options of every command: namespaces, uid, environment, mounts."""
        config = self.config
        argv = ["--unshare-all", "--unshare-user", "--disable-userns"]
        if config.network:
            argv.append("--share-net")
        argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
        argv += ["--die-with-parent", "--new-session", "--clearenv"]
        env = {"PATH": PATH, "HOME": config.workdir, "LANG": "C.UTF-8", "USER": "sandbox", **config.env}
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return argv + self._fs_args()

    def bwrap_argv(self, cmd: str | Sequence[str], workdir: Path | None = None) -> list[str]:
        """``bwrap`` with this sandbox's namespaces and mounts around ``cmd``, without limits or a uid change.

        What ``benchmarks/sandbox.py`` runs as bare ``bwrap``. ``workdir`` is shown at the work
        dir instead of the sandbox's own (which a root driver's own user cannot enter).
        """
        argv = [self._bwrap, *self._options]
        if workdir is not None:
            argv[argv.index(str(self.host_workdir))] = str(workdir)
        return [*argv, "--", *shell_argv(cmd)]

    def run(
        self, cmd: str | Sequence[str], timeout: float | None = None, stdin: str | bytes | None = None
    ) -> ExecResult:
        """Run ``cmd`` in the work dir; see :class:`~agentrl.sandboxes.base.Sandbox`."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        timeout = self.config.timeout_s if timeout is None else float(timeout)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        script = command_script(cmd, self.config.max_file_mb)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        with self._lock:
            armed = self._take_armed()
            self._start_arming()  # the next command's bwrap gets ready while this one runs
            try:
                return run_armed(
                    armed,
                    [*self._options, "--setenv", COMMAND_VARIABLE, script],
                    data,
                    timeout,
                    self.config,
                    self._limit,
                )
            finally:
                if armed.group is not None:  # its last processes are still dying: remove it off the caller's time
                    self._remove_later(armed.group)

    # -- the next command's bwrap, started early (see agentrl.sandboxes.bwrap_process) ----------

    def _arm(self) -> ArmedBwrap:
        config = self.config
        limits = (config.memory_mb, config.cpus, config.pids) if self._use_cgroups else None
        return ArmedBwrap.start(self._launch, self._bwrap, {"PATH": PATH}, self._popen_ids, limits)

    def _arm_in_background(self) -> None:
        try:
            self._armed = self._arm()
        except SandboxError as error:  # run() arms again in its own thread and raises there
            logger.debug("could not arm the next bwrap: %s", error)

    def _start_arming(self) -> None:
        # On the sandbox's own arming thread, which outlives the bwrap it starts (a thread pool's worker stays
        # until shutdown): a bwrap started by a thread that exits while it runs is killed.
        self._arming = self._armer.submit(self._arm_in_background)

    def _take_armed(self) -> ArmedBwrap:
        if self._arming is not None:
            self._arming.result()
            self._arming = None
        armed, self._armed = self._armed, None
        return armed if armed is not None else self._arm()

    def _remove_later(self, group: CommandCgroup) -> None:
        if self._removing is not None:
            self._removing.join()
        self._removing = threading.Thread(target=group.remove, name="agentrl-cgroup-remove", daemon=True)
        self._removing.start()

    def _limit(self, pid: int) -> None:
        """Limits of the sandbox's first process ``pid`` (held by ``--block-fd``) that a cgroup does not give."""
        if self._use_cgroups:  # born in its cgroup already
            return
        config = self.config
        memory = config.memory_mb * 1024 * 1024
        resource.prlimit(pid, resource.RLIMIT_AS, (memory, memory))
        resource.prlimit(pid, resource.RLIMIT_NPROC, (config.pids, config.pids))
        seconds = int(config.timeout_s * config.cpus) + 1
        resource.prlimit(pid, resource.RLIMIT_CPU, (seconds, seconds))

    # -- files ---------------------------------------------------------------------------

    def put_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` in the work dir; see :class:`~agentrl.sandboxes.base.Sandbox`.

        Safe while a command runs: no link is followed, whatever the command renames meanwhile.
        """
        if self._closed:
            raise SandboxError("the sandbox is closed")
        self._files.write(path, data.encode() if isinstance(data, str) else bytes(data), mode)

    def get_file(self, path: str) -> bytes:
        """The bytes of the regular file ``path``; see :class:`~agentrl.sandboxes.base.Sandbox`."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        return self._files.read(path)

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the work dir and the waiting bwrap (nothing of the sandbox runs between commands)."""
        if self._closed:
            return
        self._closed = True
        if self._arming is not None:
            self._arming.result()
            self._arming = None
        if self._armed is not None:
            self._armed.discard()
            self._armed = None
        self._armer.shutdown(wait=True)
        if self._removing is not None:
            self._removing.join()
            self._removing = None
        remove_tree(self._root)

    def __enter__(self) -> BubblewrapSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        return (
            f"BubblewrapSandbox(workdir={getattr(self, 'host_workdir', None)}, "
            f"host_uid={getattr(self, 'host_uid', None)}, cgroups={getattr(self, '_use_cgroups', None)})"
        )
