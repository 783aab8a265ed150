"""Build the default sandbox image locally: a debootstrap root file system imported into Docker.

No image registry is reachable from the machines agentrl runs on, so the image is made
from Debian packages: ``debootstrap --variant=minbase`` with Python 3, trimmed of docs
and package caches, with a work dir owned by the sandbox user (uid 1000), packed as a
tar and imported with ``docker import``. The tar and the unpacked tree are cached in
``$AGENTRL_CACHE/sandbox`` (default ``~/.cache/agentrl/sandbox``): a second build only
re-imports, and the bubblewrap backend can use the tree as ``sandbox.rootfs``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from agentrl.envs.cache import cache_dir as agentrl_cache_dir
from agentrl.sandboxes.base import DEFAULT_IMAGE, SandboxError, SandboxUnavailable

logger = logging.getLogger(__name__)

PACKAGES = ("python3-minimal", "python3")
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists")


@dataclass
class ImageConfig:
    """Settings of ``agentrl sandbox build-image``."""

    tag: str = DEFAULT_IMAGE
    """The image name the sandbox config refers to."""
    suite: str = "bookworm"
    """The Debian release to bootstrap."""
    mirror: str = "http://deb.debian.org/debian"
    """The Debian mirror debootstrap downloads packages from."""
    packages: tuple[str, ...] = PACKAGES
    """Packages installed on top of ``minbase``."""
    cache_dir: str | None = None
    """Where the rootfs tar and tree are kept (default ``$AGENTRL_CACHE/sandbox``, ``~/.cache/agentrl/sandbox``)."""
    rebuild: bool = False
    """Bootstrap again even when a cached rootfs exists."""


def cache_dir(config: ImageConfig | None = None) -> Path:
    """The cache directory of sandbox root file systems."""
    if config is not None and config.cache_dir:
        return Path(config.cache_dir)
    return agentrl_cache_dir("sandbox")


def rootfs_paths(config: ImageConfig) -> tuple[Path, Path]:
    """The cached (tree, tar) of ``config``'s suite."""
    base = cache_dir(config)
    return base / f"rootfs-{config.suite}", base / f"rootfs-{config.suite}.tar"


def bootstrap(config: ImageConfig) -> Path:
    """Make (or reuse) the root file system tree and its tar; return the tar's path."""
    tree, tar_path = rootfs_paths(config)
    if tar_path.exists() and tree.is_dir() and not config.rebuild:
        logger.info("using the cached sandbox rootfs %s", tar_path)
        return tar_path
    if os.geteuid() != 0:
        raise SandboxUnavailable("building the sandbox rootfs needs root (debootstrap): run it as root or with sudo")
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise SandboxUnavailable("debootstrap is not installed: apt-get install debootstrap")
    tree.parent.mkdir(parents=True, exist_ok=True)
    staging = tree.with_name(tree.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.monotonic()
    command = [
        debootstrap,
        "--variant=minbase",
        f"--include={','.join(config.packages)}",
        config.suite,
        str(staging),
        config.mirror,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SandboxError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    for relative in TRIM:
        shutil.rmtree(staging / relative, ignore_errors=True)
    work = staging / "work"
    work.mkdir(exist_ok=True)
    os.chown(work, 1000, 1000)
    shutil.rmtree(tree, ignore_errors=True)
    staging.rename(tree)
    partial_tar = tar_path.with_suffix(".tar.partial")
    with tarfile.open(partial_tar, "w") as archive:
        for entry in sorted(tree.iterdir()):
            archive.add(entry, arcname=entry.name)
    partial_tar.rename(tar_path)
    logger.info("bootstrapped %s in %.0f s", tree, time.monotonic() - started)
    return tar_path


def build_image(config: ImageConfig | None = None) -> dict[str, object]:
    """Bootstrap (or reuse) the rootfs and import it as ``config.tag``; return what was done."""
    from agentrl.sandboxes.docker import docker_client

    config = config or ImageConfig()
    client = docker_client()
    started = time.monotonic()
    tar_path = bootstrap(config)
    bootstrapped_s = time.monotonic() - started
    repository, _, tag = config.tag.rpartition(":") if ":" in config.tag.split("/")[-1] else (config.tag, "", "latest")
    with tar_path.open("rb") as handle:
        client.api.import_image(
            src=handle, repository=repository, tag=tag or "latest", changes=['CMD ["/bin/sh"]', "WORKDIR /work"]
        )
    image = client.images.get(config.tag)
    return {
        "image": config.tag,
        "id": image.short_id,
        "size_mb": round(int(image.attrs.get("Size", 0)) / 2**20, 1),
        "rootfs": str(rootfs_paths(config)[0]),
        "bootstrap_s": round(bootstrapped_s, 1),
        "total_s": round(time.monotonic() - started, 1),
    }
