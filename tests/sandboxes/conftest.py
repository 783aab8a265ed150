"""Sandbox fixtures: one sandbox per backend; a backend that is missing here is skipped.

CI sets ``AGENTRL_REQUIRE_SANDBOXES=1`` (it installs bubblewrap and docker.io, starts
dockerd and builds the image), so there a missing backend fails instead of skipping.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import sys
from pathlib import Path

import pytest

from agentrl.sandboxes.base import SandboxConfig, SandboxUnavailable, make_sandbox

BACKENDS = ("bubblewrap", "docker")


def backend_or_skip(backend: str) -> None:
    """Skip (or, under AGENTRL_REQUIRE_SANDBOXES=1, fail) when ``backend`` cannot run here."""
    try:
        make_sandbox(SandboxConfig(backend=backend)).close()
    except SandboxUnavailable as error:
        if os.environ.get("AGENTRL_REQUIRE_SANDBOXES") == "1":
            pytest.fail(f"{backend} sandbox required but unavailable: {error}")
        pytest.skip(f"{backend} sandbox unavailable: {error}")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    backend_or_skip(request.param)
    return request.param


@pytest.fixture
def sandbox(backend):
    with make_sandbox(SandboxConfig(backend=backend, memory_mb=256, pids=64, timeout_s=20)) as box:
        yield box


NOBODY = 65534


def _blocking_ancestor(path: Path) -> tuple[Path, Path] | None:
    """The first directory above ``path`` that other users cannot enter, and its child on the way."""
    parts = path.parts
    for depth in range(1, len(parts)):
        ancestor = Path(*parts[:depth])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor, Path(*parts[: depth + 1])
    return None


def nobody_command(argv: list[str], groups: tuple[int, ...] = ()) -> list[str]:
    """``argv`` run as ``nobody`` (uid and gid 65534, no capabilities, only ``groups``).

    The interpreter and the checkout may lie under a directory only root may enter
    (``/root/.pyenv``): in a private mount namespace, that directory is covered by an empty
    tmpfs through which only the needed children show. Skips where that is not possible.
    """
    if os.geteuid() != 0:
        pytest.skip(f"running a driver as another user needs root; these tests run as uid {os.geteuid()}")
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"running a driver as nobody needs {', '.join(missing)} (util-linux)")
    repo = Path(__file__).resolve().parents[2]
    needed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, Path(sys.executable).parent, repo)}
    hidden: dict[Path, set[Path]] = {}
    for path in needed:
        found = _blocking_ancestor(path)
        if found is not None:
            hidden.setdefault(found[0], set()).add(found[1])
    lines = ["set -e", "hold=$(mktemp -d)"]
    for i, (blocked, children) in enumerate(sorted(hidden.items())):
        quoted = [shlex.quote(str(child)) for child in sorted(children)]
        for j, child in enumerate(quoted):
            lines.append(f'mkdir "$hold/{i}-{j}" && mount --bind {child} "$hold/{i}-{j}"')
        lines.append(f"mount -t tmpfs -o mode=0755,size=1m agentrl-hide {shlex.quote(str(blocked))}")
        for j, child in enumerate(quoted):
            lines.append(f'mkdir -p {child} && mount --move "$hold/{i}-{j}" {child}')
    lines.append('rm -rf "$hold"')
    group_flag = f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("DOCKER_")})
    lines.append(
        f"exec setpriv --reuid={NOBODY} --regid={NOBODY} {group_flag} --inh-caps=-all -- "
        + shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv])
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)]
