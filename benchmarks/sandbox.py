"""Sandbox start and run latency per backend, against a plain subprocess in the same run.

For each backend that is available here (bubblewrap; docker when a daemon and the
image are there) this times ``--repeats`` times: making a sandbox (``start``), running
``true`` (``run_true``), running ``python3 -c 'print(1)'`` (``run_python``), a file
put + get round trip (``files``), and closing (``close``). The baseline is the same
two commands as a plain ``subprocess.run`` with no isolation, so the ``*_ratio``
figures are the price of the sandbox. Figures are medians in milliseconds, printed as
JSON.

    python benchmarks/sandbox.py --repeats 20
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

from agentrl.sandboxes.base import SandboxConfig, SandboxUnavailable, make_sandbox
from agentrl.sandboxes.bubblewrap import PATH as SANDBOX_PATH


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def baseline(repeats: int) -> dict[str, Any]:
    """Plain subprocess latency of the commands the sandboxes run."""
    # The interpreter a sandbox finds on its PATH, so both sides run the same binary.
    python = shutil.which("python3", path=SANDBOX_PATH) or "python3"
    run_true = [_time(lambda: subprocess.run(["true"], check=True)) for _ in range(repeats)]
    run_python = [
        _time(lambda: subprocess.run([python, "-c", "print(1)"], check=True, capture_output=True))
        for _ in range(repeats)
    ]
    return {"python": python, "run_true_ms": _median_ms(run_true), "run_python_ms": _median_ms(run_python)}


def measure(backend: str, repeats: int) -> dict[str, Any]:
    """Median latencies of one backend."""
    samples: dict[str, list[float]] = {k: [] for k in ("start", "run_true", "run_python", "files", "close")}
    for _ in range(repeats):
        start = time.perf_counter()
        box = make_sandbox(SandboxConfig(backend=backend))
        samples["start"].append(time.perf_counter() - start)
        samples["run_true"].append(_time(lambda box=box: box.run("true")))
        start = time.perf_counter()
        printed = box.run(["python3", "-c", "print(1)"]).stdout
        samples["run_python"].append(time.perf_counter() - start)
        assert printed == "1\n", printed
        samples["files"].append(_time(lambda box=box: (box.put_file("a.txt", "x" * 1000), box.get_file("a.txt"))))
        samples["close"].append(_time(box.close))
    return {f"{name}_ms": _median_ms(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=["bubblewrap", "docker"])
    args = parser.parse_args()
    base = baseline(args.repeats)
    report: dict[str, Any] = {"repeats": args.repeats, "subprocess": base}
    for backend in args.backends:
        try:
            figures = measure(backend, args.repeats)
        except SandboxUnavailable as error:
            report[backend] = {"unavailable": str(error)}
            continue
        figures["run_true_ratio"] = round(figures["run_true_ms"] / base["run_true_ms"], 1)
        figures["run_python_ratio"] = round(figures["run_python_ms"] / base["run_python_ms"], 2)
        report[backend] = figures
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
