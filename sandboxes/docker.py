"""The Docker backend: one locked-down container per sandbox, commands run with ``exec``.

The container (``docker`` SDK, extra ``agentrl[docker]``) runs an idle keep-alive as its
main process and gets: no network (``network_mode=none``) unless ``config.network``, a
read-only root file system, every capability dropped and ``no-new-privileges`` (the
root keep-alive keeps only ``CAP_KILL``, see below), memory (swap included), CPU and
pids limits, a private ``/tmp`` tmpfs, and a volume of its own at ``config.workdir``: a
``nosuid,nodev`` tmpfs of ``config.disk_mb`` owned by uid 1000 (its files count toward
the memory limit). Commands run as uid 1000; when one exits, every other process of
that user is killed (nothing started in the background outlives the call), and when one
runs past its timeout the keep-alive, signalled through the container's init, kills
every process of the container but itself (``kill -KILL -1`` as root, one pass that a
fork bomb cannot outrun). The container, its ``/tmp`` and the work dir stay.

Files move with Docker's archive API, which resolves links inside the container as
root: so ``put_file``/``get_file`` wait for a running command to end (nothing of the
sandbox runs between commands), then look at every component of the path without
following it (``HEAD`` of the archive endpoint) and refuse links; ``get_file`` streams
the one regular file it checked, never more than ``max_file_mb``.

Any local image with ``/bin/sh`` and ``mkfifo`` works; ``agentrl sandbox build-image``
builds the default one from a debootstrap root file system, since no registry is
reachable here. Containers and volumes carry the labels ``agentrl.sandbox`` and
``agentrl.owner`` (host and pid of the driver): those of a driver that died are removed
by the next one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from agentrl.sandboxes.base import (
    DEFAULT_IMAGE,
    TMP_MB,
    ExecResult,
    OutputCap,
    SandboxConfig,
    SandboxError,
    SandboxUnavailable,
    disk_full,
    file_cap_bytes,
    note_disk_full,
    pid_alive,
    shell_argv,
    too_large,
    work_path,
)

logger = logging.getLogger(__name__)

LABEL = "agentrl.sandbox"
OWNER_LABEL = "agentrl.owner"
USER = "1000:1000"
UID = 1000
TMPFS = f"size={TMP_MB}m,mode=1777,nosuid,nodev"
# The main process (root, under docker-init): on SIGUSR1 it kills every process but itself and init. It
# idles in `read` on a FIFO it holds open both ways (never at end of file, so the loop never spins; mode
# 600, so uid 1000 cannot open it) and never forks: a fork could fail at the pids limit, which would end
# the shell and with it the container.
KEEPALIVE_FIFO = "/tmp/.agentrl-keepalive"
KEEPALIVE = [
    "/bin/sh",
    "-c",
    f"mkfifo -m 600 {KEEPALIVE_FIFO} && exec 3<>{KEEPALIVE_FIFO} || exit 1; trap 'kill -KILL -1' USR1; "
    "while :; do read _ <&3; done",
]
KILL_SIGNAL = "SIGUSR1"
# Go's os.FileMode type bits, as the archive endpoint reports them.
MODE_DIR, MODE_SYMLINK = 1 << 31, 1 << 27
MODE_TYPE = MODE_DIR | MODE_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
# After the command: kill whatever it left running (kill(-1) spares the caller and pid 1).
REAPER = '"$@"; status=$?; kill -KILL -1 2>/dev/null; exit $status'
SETUP_HELP = (
    "install Docker (Debian/Ubuntu: `apt-get install docker.io`), start the daemon "
    "(`dockerd --host unix:///var/run/docker.sock &`, as root), then build the sandbox image "
    "with `agentrl sandbox build-image`; or use the bubblewrap backend (sandbox.backend=bubblewrap)"
)


def owner_label() -> str:
    """This driver's owner label: ``<hostname>/<pid>``."""
    return f"{socket.gethostname()}/{os.getpid()}"


def docker_client() -> Any:
    """A connected docker client, or :class:`SandboxUnavailable` saying how to get one."""
    try:
        import docker
    except ImportError as error:
        raise SandboxUnavailable(
            "the docker backend needs the docker SDK: pip install 'agentrl[docker]'; then " + SETUP_HELP
        ) from error
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as error:
        raise SandboxUnavailable(f"no Docker daemon is reachable ({error}): {SETUP_HELP}") from error
    return client


def reap_orphans(client: Any | None = None) -> int:
    """Remove sandbox containers and volumes of drivers on this host that are no longer running."""
    client = client or docker_client()
    host = socket.gethostname()
    removed = 0
    containers = client.containers.list(all=True, filters={"label": LABEL})
    volumes = client.volumes.list(filters={"label": LABEL})
    for item, labels in [(c, c.labels) for c in containers] + [(v, v.attrs.get("Labels")) for v in volumes]:
        owner_host, _, owner_pid = str((labels or {}).get(OWNER_LABEL, "")).rpartition("/")
        if owner_host != host or not owner_pid.isdigit() or pid_alive(int(owner_pid)):
            continue
        with contextlib.suppress(Exception):
            item.remove(force=True)
            removed += 1
    if removed:
        logger.info("removed %d sandbox containers/volumes left by killed drivers", removed)
    return removed


_REAPED = False


class DockerSandbox:
    """A sandbox backed by one Docker container and one volume.

    Args:
        config: the sandbox settings (``backend`` must be ``docker``).
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        global _REAPED
        self.config = config or SandboxConfig(backend="docker")
        self._client = docker_client()
        if not _REAPED:
            _REAPED = True
            reap_orphans(self._client)
        import docker.errors

        try:
            self._client.images.get(self.config.image)
        except docker.errors.ImageNotFound as error:
            hint = (
                "build it with `agentrl sandbox build-image`"
                if self.config.image == DEFAULT_IMAGE
                else "no registry is reachable from here: build or load it locally"
            )
            raise SandboxUnavailable(f"docker image {self.config.image!r} is not on this machine: {hint}") from error
        self._closed = False
        self._lock = threading.Lock()
        name = f"agentrl-sandbox-{uuid.uuid4().hex[:12]}"
        labels = {LABEL: "1", OWNER_LABEL: owner_label()}
        # A tmpfs: the size limit is the disk quota; nosuid, so no file in it ever runs setuid.
        options = f"size={self.config.disk_mb}m,uid={UID},gid={UID},mode=0755,nosuid,nodev"
        try:
            self.volume = self._client.volumes.create(
                name=name, driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": options}, labels=labels
            )
            self._container = self._create(name, labels)
            self._container.start()
        except Exception as error:
            self.close()
            raise SandboxError(f"could not start the sandbox container from {self.config.image!r}: {error}") from error

    def _create(self, name: str, labels: dict[str, str]) -> Any:
        import docker.types

        config = self.config
        memory = f"{config.memory_mb}m"
        file_bytes = config.max_file_mb * 1024 * 1024
        env = {"HOME": config.workdir, "LANG": "C.UTF-8", **config.env}
        return self._client.containers.create(
            config.image,
            KEEPALIVE,
            name=name,
            labels=labels,
            user="0:0",  # the keep-alive; commands run as uid 1000, which cannot signal it
            init=True,
            read_only=True,
            network_mode="bridge" if config.network else "none",
            cap_drop=["ALL"],
            cap_add=["KILL"],  # the keep-alive's, to end a timed-out command; uid 1000 never has it
            security_opt=["no-new-privileges"],
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(config.cpus * 1e9),
            pids_limit=config.pids,
            tmpfs={"/tmp": TMPFS},
            volumes={self.volume.name: {"bind": config.workdir, "mode": "rw"}},
            working_dir=config.workdir,
            environment=env,
            hostname="sandbox",
            ulimits=[
                docker.types.Ulimit(name="fsize", soft=file_bytes, hard=file_bytes),
                docker.types.Ulimit(name="core", soft=0, hard=0),
            ],
        )

    @property
    def container_id(self) -> str:
        """The id of this sandbox's container."""
        return str(self._container.id)

    # -- running commands --------------------------------------------------------------

    def run(
        self, cmd: str | Sequence[str], timeout: float | None = None, stdin: str | bytes | None = None
    ) -> ExecResult:
        """Run ``cmd`` in the work dir; see :class:`~agentrl.sandboxes.base.Sandbox`."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        timeout = self.config.timeout_s if timeout is None else float(timeout)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        argv = ["/bin/sh", "-c", REAPER, "sh", *shell_argv(cmd)]
        with self._lock:
            try:
                return self._run(argv, timeout, stdin)
            except SandboxError:
                raise
            except Exception as error:  # the daemon or the container failed, not the command
                raise SandboxError(f"the docker sandbox failed to run a command: {error}") from error

    def _run(self, argv: list[str], timeout: float, stdin: str | bytes | None) -> ExecResult:
        from docker.utils.socket import frames_iter

        api = self._client.api
        start = time.monotonic()
        exec_id = api.exec_create(self._container.id, argv, stdin=True, user=USER, workdir=self.config.workdir)["Id"]
        sock = api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        outputs = {1: OutputCap(self.config.max_output_bytes), 2: OutputCap(self.config.max_output_bytes)}

        def read() -> None:
            with contextlib.suppress(OSError, ValueError):
                for stream, chunk in frames_iter(sock, tty=False):
                    if stream in outputs:
                        outputs[stream].add(chunk)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        with contextlib.suppress(OSError):
            if stdin is not None:
                raw.sendall(stdin.encode() if isinstance(stdin, str) else bytes(stdin))
            raw.shutdown(socket.SHUT_WR)
        reader.join(timeout)
        timed_out = reader.is_alive()
        if timed_out:
            # The keep-alive kills every process but itself and init; the container and the work dir stay.
            api.kill(self._container.id, signal=KILL_SIGNAL)
            reader.join(10)
            if reader.is_alive():
                logger.warning("a timed-out sandbox command still held its output 10 s after the kill")
        with contextlib.suppress(OSError):
            sock.close()
        exit_code = 137
        if not timed_out:
            for _ in range(200):  # the exit code lands a moment after the stream closes
                info = api.exec_inspect(exec_id)
                if not info.get("Running") and info.get("ExitCode") is not None:
                    exit_code = int(info["ExitCode"])
                    break
                time.sleep(0.005)
        stderr = outputs[2].text()
        if exit_code == 137 and not timed_out and self._oom_killed():
            stderr += "\n[sandbox] killed: the command went over the memory limit\n"
        if exit_code != 0:
            stderr = note_disk_full(self.config, stderr)
        return ExecResult(
            stdout=outputs[1].text(),
            stderr=stderr,
            exit_code=exit_code,
            timed_out=timed_out,
            duration_s=time.monotonic() - start,
            truncated=outputs[1].truncated or outputs[2].truncated,
        )

    def _oom_killed(self) -> bool:
        with contextlib.suppress(Exception):
            self._container.reload()
            return bool(self._container.attrs["State"].get("OOMKilled"))
        return False

    # -- files ---------------------------------------------------------------------------

    def put_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` in the work dir; see :class:`~agentrl.sandboxes.base.Sandbox`.

        Waits for a running command to end.
        """
        if self._closed:
            raise SandboxError("the sandbox is closed")
        relative = work_path(self.config, path)
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if len(payload) > file_cap_bytes(self.config):
            raise too_large(self.config, path, len(payload))
        parts = relative.split("/")
        with self._lock, self._docker_errors(f"write {path!r} into"):
            missing = len(parts) - 1  # parents from here on do not exist yet
            for depth in range(1, len(parts)):
                found = self._stat("/".join(parts[:depth]))
                if found is None:
                    missing = depth - 1
                    break
                if found["mode"] & MODE_TYPE != MODE_DIR:
                    raise SandboxError(
                        f"cannot write {path!r}: {'/'.join(parts[:depth])} is a link or not a directory in the "
                        "sandbox work dir (links are never followed); remove it or choose another path"
                    )
            found = self._stat(relative)
            if found is not None and found["mode"] & MODE_DIR:
                raise SandboxError(f"cannot write {path!r}: it is a directory in the sandbox work dir")
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as archive:
                for depth in range(missing + 1, len(parts)):
                    archive.addfile(self._entry("/".join(parts[:depth]), tarfile.DIRTYPE, 0o755))
                entry = self._entry(relative, tarfile.REGTYPE, mode & 0o777)
                entry.size = len(payload)
                archive.addfile(entry, io.BytesIO(payload))
            try:  # a link at the path itself is replaced by the file, never followed
                self._client.api.put_archive(self._container.id, self.config.workdir, buffer.getvalue())
            except Exception as error:
                if "no space left on device" in str(error).lower():
                    raise disk_full(self.config, path) from error
                raise

    def get_file(self, path: str) -> bytes:
        """The bytes of the regular file ``path``; see :class:`~agentrl.sandboxes.base.Sandbox`.

        Waits for a running command to end.
        """
        if self._closed:
            raise SandboxError("the sandbox is closed")
        relative = work_path(self.config, path)
        parts = relative.split("/")
        cap = file_cap_bytes(self.config)
        with self._lock, self._docker_errors(f"read {path!r} from"):
            for depth in range(1, len(parts)):
                found = self._stat("/".join(parts[:depth]))
                if found is None or found["mode"] & MODE_TYPE != MODE_DIR:
                    raise FileNotFoundError(
                        f"{path!r} is not a file in the sandbox work dir: {'/'.join(parts[:depth])} is missing, a "
                        "link or not a directory (links are never followed)"
                    )
            found = self._stat(relative)
            if found is None or found["mode"] & MODE_TYPE:
                raise FileNotFoundError(f"{path!r} is not a regular file in the sandbox work dir")
            if int(found["size"]) > cap:
                raise too_large(self.config, path, int(found["size"]))
            stream, _ = self._client.api.get_archive(
                self._container.id, f"{self.config.workdir}/{relative}", chunk_size=65536
            )
            reader = _CappedStream(stream, cap + 1024 * 1024)  # the file and its tar headers
            try:
                with tarfile.open(fileobj=reader, mode="r|") as archive:
                    member = archive.next()
                    if member is None or not member.isfile():
                        raise FileNotFoundError(f"{path!r} is not a regular file in the sandbox work dir")
                    if member.size > cap:
                        raise too_large(self.config, path, member.size)
                    handle = archive.extractfile(member)
                    assert handle is not None
                    return handle.read()
            finally:
                stream.close()

    def _stat(self, relative: str) -> dict[str, Any] | None:
        """What the archive endpoint says of ``relative`` (the last component not followed), or None."""
        from docker.utils import decode_json_header

        api = self._client.api
        url = api._url("/containers/{0}/archive", self._container.id)  # HEAD: docker-py has no public call
        response = api.head(url, params={"path": f"{self.config.workdir}/{relative}"})
        if response.status_code == 404:
            return None
        api._raise_for_status(response)
        return dict(decode_json_header(response.headers["X-Docker-Container-Path-Stat"]))

    @staticmethod
    def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode, entry.uid, entry.gid, entry.mtime = kind, mode, UID, UID, int(time.time())
        return entry

    @contextlib.contextmanager
    def _docker_errors(self, action: str) -> Iterator[None]:
        """Turn what the daemon or the tar stream raise into :class:`SandboxError` (other errors pass)."""
        import docker.errors
        import requests

        try:
            yield
        except (docker.errors.DockerException, requests.RequestException, tarfile.TarError, OSError) as error:
            if isinstance(error, FileNotFoundError):
                raise
            raise SandboxError(f"could not {action} the docker sandbox: {error}") from error

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the container (killing what runs in it) and the work dir volume (idempotent)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        container = getattr(self, "_container", None)
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        volume = getattr(self, "volume", None)
        if volume is not None:
            with contextlib.suppress(Exception):
                volume.remove(force=True)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        container = getattr(self, "_container", None)
        return f"DockerSandbox(image={self.config.image!r}, container={getattr(container, 'short_id', None)})"


class _CappedStream(io.RawIOBase):
    """A read-only file over the chunks of a docker stream that refuses to yield more than ``limit`` bytes."""

    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._buffer:
            self._buffer = next(self._chunks, b"")
            self._left -= len(self._buffer)
            if self._left < 0:
                raise SandboxError("the docker archive stream is larger than the file it should hold")
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
