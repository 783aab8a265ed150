"""The Docker backend: one locked-down container per sandbox, commands run with ``exec``.

The container (``docker`` SDK, extra ``agentrl[docker]``) runs an idle keep-alive as its
main process and gets: no network (``network_mode=none``) unless ``config.network``, a
read-only root file system, every capability dropped and ``no-new-privileges``, memory
(swap included), CPU and pids limits, a private ``/tmp`` tmpfs, and a named volume of
its own at ``config.workdir``. Commands run as uid 1000; when one exits, every other
process of that user is killed (nothing started in the background outlives the call),
and when one runs past its timeout the container is killed and started again, which
ends every process in it while the work dir (the volume) stays.

Any local image with ``/bin/sh`` works; ``agentrl sandbox build-image`` builds the
default one from a debootstrap root file system, since no registry is reachable here.
Containers and volumes carry the labels ``agentrl.sandbox`` and ``agentrl.owner``
(host and pid of the driver): those of a driver that died are removed by the next one.
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
from collections.abc import Sequence
from typing import Any

from agentrl.sandboxes.base import (
    DEFAULT_IMAGE,
    ExecResult,
    OutputCap,
    SandboxConfig,
    SandboxError,
    SandboxUnavailable,
    pid_alive,
    shell_argv,
    work_path,
)

logger = logging.getLogger(__name__)

LABEL = "agentrl.sandbox"
OWNER_LABEL = "agentrl.owner"
USER = "1000:1000"
TMPFS = "size=256m,mode=1777"
KEEPALIVE = ["sleep", "2147483647"]
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
        self._volume = self._client.volumes.create(name=name, labels=labels)
        try:
            self._container = self._create(name, labels)
            self._container.start()
            # The volume root belongs to root unless the image has the work dir: let uid 1000 write it.
            self._container.exec_run(["chmod", "0777", self.config.workdir], user="0:0")
        except Exception:
            self.close()
            raise

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
            security_opt=["no-new-privileges"],
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(config.cpus * 1e9),
            pids_limit=config.pids,
            tmpfs={"/tmp": TMPFS},
            volumes={self._volume.name: {"bind": config.workdir, "mode": "rw"}},
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
            return self._run(argv, timeout, stdin)

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
            self._restart()  # kills every process in the container; the work dir volume stays
            reader.join(10)
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

    def _restart(self) -> None:
        with contextlib.suppress(Exception):
            self._container.kill()
        self._container.wait(timeout=30)
        self._container.start()

    # -- files ---------------------------------------------------------------------------

    def put_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` in the work dir, creating parent directories."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        relative = work_path(self.config, path)
        payload = data.encode() if isinstance(data, str) else bytes(data)
        buffer = io.BytesIO()
        uid, gid = (int(part) for part in USER.split(":"))
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            parts = relative.split("/")
            for depth in range(1, len(parts)):
                entry = tarfile.TarInfo("/".join(parts[:depth]))
                entry.type, entry.mode, entry.uid, entry.gid = tarfile.DIRTYPE, 0o755, uid, gid
                entry.mtime = int(time.time())
                archive.addfile(entry)
            entry = tarfile.TarInfo(relative)
            entry.size, entry.mode, entry.uid, entry.gid = len(payload), mode, uid, gid
            entry.mtime = int(time.time())
            archive.addfile(entry, io.BytesIO(payload))
        if not self._client.api.put_archive(self._container.id, self.config.workdir, buffer.getvalue()):
            raise SandboxError(f"could not write {path!r} into the sandbox")

    def get_file(self, path: str) -> bytes:
        """The bytes of ``path`` in the work dir."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        import docker.errors

        relative = work_path(self.config, path)
        try:
            stream, _ = self._client.api.get_archive(self._container.id, f"{self.config.workdir}/{relative}")
        except docker.errors.NotFound as error:
            raise FileNotFoundError(f"{path!r} is not in the sandbox work dir") from error
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r") as archive:
            member = archive.next()
            if member is None or not member.isfile():
                raise FileNotFoundError(f"{path!r} is not a regular file in the sandbox work dir")
            handle = archive.extractfile(member)
            assert handle is not None
            return handle.read()

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
        with contextlib.suppress(Exception):
            self._volume.remove(force=True)

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
