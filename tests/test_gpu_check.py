"""``bash benchmarks/gpu_check.sh --dry-run``: the one-script GPU check runs every path CPU-sized (bf16 training of
both model shapes through agentrl's update, hf-backend rollouts, 2 Gloo data-parallel ranks) and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_dry_run_writes_every_figure(tmp_path):
    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out), "--peak-tflops", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(done.stdout) == report
    assert report["dry_run"] and report["dtype"] == "bfloat16" and report["peak_bf16_tflops"] == 1
    assert [row["model"] for row in report["train"]] == ["0.5b-dry", "1.5b-dry"]
    small, large = report["train"]
    assert large["parameters"] > small["parameters"] > 0
    for row in report["train"]:
        assert row["tokens_per_s"] > 0 and row["tflops_per_s"] > 0 and row["peak_memory_gb"] is None
        assert row["mfu"] == pytest.approx(row["tflops_per_s"], abs=1e-3)  # against the 1 TFLOP/s peak given
    rollout = report["rollout"]
    assert 0 < rollout["env_steps"] <= rollout["envs"] * rollout["turns"] and rollout["env_steps_per_s"] > 0
    parallel = report["data_parallel"]
    assert "error" not in parallel, parallel["error"]
    assert parallel["ranks"] == 2 and parallel["backend"] == "gloo" and parallel["tokens_per_s"] > 0, parallel


def test_known_cards_have_their_bf16_peak():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gpu_check import peak_tflops
    finally:
        sys.path.pop(0)
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe") == 756.5
    assert peak_tflops("NVIDIA H200") == 989.4
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_tflops("NVIDIA L4") == 121.0 and peak_tflops("NVIDIA L40S") == 362.1
    assert peak_tflops("NVIDIA GeForce RTX 4090") == 165.2
    assert peak_tflops("Some Future Card") is None
