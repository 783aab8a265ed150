"""Sandbox fixtures: one sandbox per backend; a backend that is missing here is skipped.

CI sets ``AGENTRL_REQUIRE_SANDBOXES=1`` (it installs bubblewrap and docker.io, starts
dockerd and builds the image), so there a missing backend fails instead of skipping.
"""

from __future__ import annotations

import os

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
