"""Shared test setup: one torch thread (2-core machines), quiet logging."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch is a core dependency; envs' tests still run without it
    pass
