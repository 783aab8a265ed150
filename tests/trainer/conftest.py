"""Shared by the trainer tests: a tiny random model (built once per session), one torch thread, and a backend
that answers every prompt with the same reply."""

from __future__ import annotations

import pytest
import torch

from agentrl.agents.generation import Completion


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class FixedReplies:
    """A backend that answers every prompt with ``reply``, without touching the policy's model."""

    weights_shared = True

    def __init__(self, reply: list[int]):
        self.reply = list(reply)
        self.eos_ids: set[int] = set()

    def generate(self, prompts, params):
        return [Completion(list(self.reply), [0.0] * len(self.reply), "go", "stop") for _ in prompts]

    def update_weights(self, state_dict):
        return 0

    def stats(self):
        return {}

    def close(self):
        pass


@pytest.fixture
def fixed_replies():
    """``fixed_replies(reply)``: a :class:`FixedReplies` backend."""
    return FixedReplies


@pytest.fixture(scope="session")
def tiny():
    from agentrl.agents.models import build_tiny_model

    return build_tiny_model(seed=0)
