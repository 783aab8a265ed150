"""The host side of a bubblewrap sandbox's work dir: a size-capped tmpfs, and transfers that never follow a link.

When the driver runs as root the work dir is a tmpfs of ``config.disk_mb`` mounted
``nosuid,nodev`` on the host and owned by the unprivileged uid the sandboxed code runs
as, so a full disk is ``ENOSPC`` and nothing in it can ever be a working setuid file.
Otherwise (no right to mount) it is a plain directory: the per-file ``RLIMIT_FSIZE`` is
the only size limit then.

Sandboxed code controls every name in the work dir and may rename any of them at any
moment, also while the driver transfers a file. So :meth:`HostWorkdir.read` and
:meth:`HostWorkdir.write` walk the path one component at a time, each opened relative
to the directory before it with ``O_NOFOLLOW``: a component swapped for a link at any
point makes the walk fail instead of leaving the work dir, whatever the timing.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import stat
from pathlib import Path

from agentrl.sandboxes.base import SandboxConfig, SandboxError, disk_full, file_cap_bytes, too_large, work_path

logger = logging.getLogger(__name__)

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND = 1, 2, 4, 32, 4096
MNT_DETACH = 2
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# A component that is a link (O_NOFOLLOW) or not a directory (O_DIRECTORY).
NOT_A_DIRECTORY = (errno.ELOOP, errno.ENOTDIR)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mount_tmpfs(path: Path, size_mb: int, uid: int, gid: int) -> None:
    """Mount a ``nosuid,nodev`` tmpfs of ``size_mb`` MiB at ``path``, owned by ``uid:gid`` (mode 0700)."""
    options = f"size={size_mb}m,mode=0700,uid={uid},gid={gid}".encode()
    _check(_libc.mount(b"agentrl-sandbox", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV, options), "mount")


def bind_read_only(source: Path, target: Path) -> None:
    """Bind ``source`` at ``target`` read-only, ``nosuid,nodev`` (shows a tree through a path others may enter)."""
    _check(_libc.mount(os.fsencode(source), os.fsencode(target), None, MS_BIND, None), "bind mount")
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
    try:
        _check(_libc.mount(None, os.fsencode(target), None, flags, None), "read-only remount")
    except OSError:
        unmount(target)
        raise


def unmount(path: Path) -> None:
    """Detach the mount at ``path``, if there is one."""
    if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        logger.warning("could not unmount %s: %s", path, os.strerror(ctypes.get_errno()))


def remove_tree(root: Path, mounts: tuple[str, ...] = ("work", "rootfs")) -> None:
    """Unmount what a sandbox mounted under ``root`` and delete ``root`` (its code may have made dirs read-only)."""
    for name in mounts:
        unmount(root / name)
    for directory, _, _ in os.walk(root):
        with contextlib.suppress(OSError):
            os.chmod(directory, 0o700)
    shutil.rmtree(root, ignore_errors=True)


class HostWorkdir:
    """File transfer into and out of the work dir at ``path`` on this host.

    Args:
        config: the sandbox settings (work dir name, ``max_file_mb``, ``disk_mb``).
        path: the work dir on the host.
        owner: ``(uid, gid)`` to give what the driver writes (the sandbox's host uid when
            the driver is root), or None to keep the driver's own.
    """

    def __init__(self, config: SandboxConfig, path: Path, owner: tuple[int, int] | None) -> None:
        self.config = config
        self.path = path
        self.owner = owner

    def _open_parent(self, path: str, create: bool) -> tuple[int, str]:
        """An fd of the directory holding ``path`` and the last component, never following a link."""
        parts = work_path(self.config, path).split("/")
        try:
            fd = os.open(self.path, DIR_FLAGS)
        except OSError as error:
            raise SandboxError(f"the sandbox work dir {self.path} is gone ({error}); make a new sandbox") from error
        for depth, part in enumerate(parts[:-1], 1):
            fd = self._enter(fd, part, create, "/".join(parts[:depth]), path)  # closes the fd it is given
        return fd, parts[-1]

    def _enter(self, parent: int, name: str, create: bool, shown: str, path: str) -> int:
        """Open directory ``name`` in ``parent`` (made when ``create``) and close ``parent``."""
        try:
            for _ in range(3):  # a name that comes and goes while we look is retried, then refused
                try:
                    return os.open(name, DIR_FLAGS, dir_fd=parent)
                except FileNotFoundError:
                    if not create:
                        missing = f"{path!r} is not in the sandbox work dir: {shown} is missing"
                        raise FileNotFoundError(missing) from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=parent)
                    if self.owner is not None:
                        os.chown(name, *self.owner, dir_fd=parent, follow_symlinks=False)
            raise SandboxError(f"{shown!r} keeps changing in the sandbox work dir; try again")
        except OSError as error:
            if error.errno not in NOT_A_DIRECTORY:
                raise
            if not create:
                raise FileNotFoundError(
                    f"{path!r} is not a file in the sandbox work dir: {shown} is a link or not a directory "
                    "(links are never followed)"
                ) from None
            raise SandboxError(
                f"cannot write {path!r}: {shown} is a link or not a directory in the sandbox work dir (links are "
                "never followed); remove it or choose another path"
            ) from None
        finally:
            os.close(parent)

    def read(self, path: str) -> bytes:
        """The bytes of the regular file ``path`` (see :meth:`~agentrl.sandboxes.base.Sandbox.get_file`)."""
        cap = file_cap_bytes(self.config)
        try:
            parent, name = self._open_parent(path, create=False)
            try:
                fd = os.open(name, READ_FLAGS, dir_fd=parent)
            except OSError as error:
                if error.errno in (errno.ENOENT, errno.ELOOP):
                    raise FileNotFoundError(f"{path!r} is not a regular file in the sandbox work dir") from None
                raise
            finally:
                os.close(parent)
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                os.close(fd)
                raise FileNotFoundError(f"{path!r} is not a regular file in the sandbox work dir")
            with os.fdopen(fd, "rb") as handle:
                if info.st_size > cap:
                    raise too_large(self.config, path, info.st_size)
                data = handle.read(cap + 1)  # the file may grow while we read: never more than the cap
                if len(data) > cap:
                    raise too_large(self.config, path, len(data))
                return data
        except (FileNotFoundError, SandboxError):
            raise
        except OSError as error:
            raise SandboxError(f"could not read {path!r} from the sandbox work dir: {error}") from error

    def write(self, path: str, payload: bytes, mode: int) -> None:
        """Write ``payload`` to ``path`` (see :meth:`~agentrl.sandboxes.base.Sandbox.put_file`)."""
        if len(payload) > file_cap_bytes(self.config):
            raise too_large(self.config, path, len(payload))
        try:
            parent, name = self._open_parent(path, create=True)
            try:
                fd = self._create(parent, name, path, mode & 0o777)
            finally:
                os.close(parent)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise SandboxError(f"cannot write {path!r}: it is not a regular file in the sandbox work dir")
            with os.fdopen(fd, "wb") as handle:
                try:
                    handle.write(payload)
                    handle.flush()
                except OSError as error:
                    if error.errno in (errno.ENOSPC, errno.EDQUOT):
                        with contextlib.suppress(OSError):
                            os.ftruncate(fd, 0)
                        raise disk_full(self.config, path) from None
                    raise
                os.fchmod(fd, mode & 0o777)
                if self.owner is not None:
                    os.fchown(fd, *self.owner)
        except SandboxError:
            raise
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise disk_full(self.config, path) from None
            raise SandboxError(f"could not write {path!r} into the sandbox work dir: {error}") from error

    def _create(self, parent: int, name: str, path: str, mode: int) -> int:
        for _ in range(3):
            try:
                return os.open(name, WRITE_FLAGS, mode, dir_fd=parent)
            except OSError as error:
                if error.errno == errno.ELOOP:  # a link at the path itself is replaced, never followed
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=parent)
                    continue
                if error.errno in (errno.EISDIR, errno.ENXIO):
                    raise SandboxError(f"cannot write {path!r}: it is a directory or a pipe in the work dir") from None
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise disk_full(self.config, path) from None
                raise
        raise SandboxError(f"{path!r} keeps changing in the sandbox work dir; try again")
