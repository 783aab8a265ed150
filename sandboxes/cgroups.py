"""Per-command Linux control groups: the memory, CPU and process-count limits of a sandbox.

Each sandboxed command gets a fresh cgroup under ``agentrl/`` (cgroup v2, or the
``memory``, ``pids`` and ``cpu`` hierarchies of cgroup v1). The sandbox's first process
is placed in it (:meth:`CommandCgroup.add`) while it waits, before the command starts,
so every process the command starts is counted and limited; this works the same on v1
and v2 and needs no code between ``fork`` and ``exec`` in the driver. When the command is
over any process still in the group is killed and the group removed. Groups left behind
by a driver that was killed (the name starts with the owner's pid) are reaped by the
next driver that starts.

Where cgroups cannot be written (no root, no delegation) :func:`cgroups_available`
says so and the sandbox falls back to resource limits (``prlimit``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from agentrl.sandboxes.base import pid_alive

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "agentrl"
V1_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000


def _v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _parents() -> list[Path]:
    """The ``agentrl`` directories this machine's cgroup layout uses (one per v1 controller)."""
    if _v2():
        return [CGROUP_ROOT / GROUP]
    return [CGROUP_ROOT / controller / GROUP for controller in V1_CONTROLLERS]


_AVAILABLE: bool | None = None


def cgroups_available() -> bool:
    """Whether this process can create limited cgroups (checked once, by trying)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            _ensure_parents()
            probe = CommandCgroup.create(memory_mb=64, cpus=1.0, pids=8)
            probe.remove()
            _AVAILABLE = True
            reap_stale()
        except OSError as error:
            logger.info("cgroups are not writable here (%s): sandboxes use prlimit limits instead", error)
            _AVAILABLE = False
    return _AVAILABLE


def _ensure_parents() -> None:
    if _v2():
        parent = CGROUP_ROOT / GROUP
        parent.mkdir(exist_ok=True)
        wanted = {"memory", "pids", "cpu"}
        enabled = set((CGROUP_ROOT / "cgroup.subtree_control").read_text().split())
        if not wanted <= enabled:
            (CGROUP_ROOT / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted - enabled)))
        (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        return
    for parent in _parents():
        if not parent.parent.is_dir():
            raise OSError(f"cgroup v1 controller {parent.parent.name} is not mounted")
        parent.mkdir(exist_ok=True)


def _pids_in(path: Path) -> list[int]:
    try:
        return [int(line) for line in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


@dataclass
class CommandCgroup:
    """The cgroup (one directory per v1 controller, one for v2) of one sandboxed command."""

    paths: list[Path]

    @classmethod
    def create(cls, memory_mb: int, cpus: float, pids: int) -> CommandCgroup:
        """Make a fresh group with these limits (swap counted in the memory limit)."""
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        group = cls([parent / name for parent in _parents()])
        limit = str(int(memory_mb) * 1024 * 1024)
        quota = str(max(1000, int(cpus * CPU_PERIOD_US)))
        try:
            for path in group.paths:
                path.mkdir()
            if _v2():
                (path,) = group.paths
                (path / "memory.max").write_text(limit)
                with contextlib.suppress(OSError):  # no swap controller: nothing to limit
                    (path / "memory.swap.max").write_text("0")
                (path / "pids.max").write_text(str(int(pids)))
                (path / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            else:
                memory, pid_path, cpu = group.paths
                (memory / "memory.limit_in_bytes").write_text(limit)
                with contextlib.suppress(OSError):  # swap accounting off: the plain limit holds
                    (memory / "memory.memsw.limit_in_bytes").write_text(limit)
                (pid_path / "pids.max").write_text(str(int(pids)))
                (cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(quota)
        except OSError:
            group.remove()
            raise
        return group

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the group (its children from then on are born in it)."""
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        """Processes still in the group."""
        found: set[int] = set()
        for path in self.paths:
            found.update(_pids_in(path))
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory limit."""
        for path in self.paths:
            for name in ("memory.events", "memory.oom_control"):  # v2, v1
                with contextlib.suppress(OSError, ValueError):
                    for line in (path / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
        return False

    def kill(self, deadline_s: float = 5.0) -> None:
        """SIGKILL every process in the group until it is empty (or the deadline passes)."""
        end = time.monotonic() + deadline_s
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > end:
                logger.warning("cgroup %s still holds processes %s after SIGKILL", self.paths[0], pids)
                return
            time.sleep(0.005)

    def remove(self) -> None:
        """Kill what is left and delete the group's directories (idempotent)."""
        self.kill()
        for path in self.paths:
            for _ in range(500):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy for a moment while the last process is reaped
                    time.sleep(0.002)
            else:
                logger.warning("could not remove cgroup %s", path)


def reap_stale() -> int:
    """Remove groups whose owning driver process is gone (after killing what is in them)."""
    removed = 0
    names: set[str] = set()
    for parent in _parents():
        if parent.is_dir():
            names.update(child.name for child in parent.iterdir() if child.is_dir())
    for name in sorted(names):
        owner, _, _ = name.partition("-")
        if not owner.isdigit() or pid_alive(int(owner)):
            continue
        CommandCgroup([parent / name for parent in _parents()]).remove()
        removed += 1
    if removed:
        logger.info("removed %d sandbox cgroups left by killed drivers", removed)
    return removed


def live_groups() -> list[str]:
    """Names of the sandbox cgroups that exist now (for leak checks)."""
    names: set[str] = set()
    for parent in _parents():
        if parent.is_dir():
            names.update(child.name for child in parent.iterdir() if child.is_dir())
    return sorted(names)
