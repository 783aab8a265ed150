"""A tiny random model shared by the agent tests (built once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny():
    from agentrl.agents.models import build_tiny_model

    return build_tiny_model(seed=0)
