"""Sandbox start and run latency per backend, against the bare tool it wraps, in one run.

For each backend that is available here (bubblewrap; docker when a daemon and the
image are there) this times ``--repeats`` times: making a sandbox (``start``), running
``true`` (``run_true``), running ``python3 -c pass`` (``run_python``), a file put + get
round trip (``files``), and closing (``close``). Each run is timed next to the same
command run bare, in alternation so that load on the machine hits both alike:

- bubblewrap against bare ``bwrap``: the sandbox's own ``bwrap`` command line (same
  namespaces and mounts) started by a plain ``subprocess.run`` as the driver's user,
  with no uid change, limits, cgroup or output caps;
- docker against a bare ``exec``: the same command in the sandbox's container through
  the docker SDK's ``exec_run``, without the reaper, timeout or output caps.

Before each timed command the loop pauses ``--pause-ms`` (default 20), as an agent thinks
between actions; the bare tool gets the same pause. Bubblewrap starts the next command's
``bwrap`` during such pauses (see ``agentrl.sandboxes.bwrap_process``); ``--pause-ms 0``
times back-to-back commands instead.

The ``*_ratio`` figures (sandbox / bare) are the price of what agentrl adds; a plain
``subprocess.run`` with no isolation is printed for scale. Figures are medians in
milliseconds, printed as JSON. Nothing is asserted.

    python benchmarks/sandbox.py --repeats 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from agentrl.sandboxes.base import SandboxConfig, SandboxUnavailable, make_sandbox
from agentrl.sandboxes.bubblewrap import PATH as SANDBOX_PATH
from agentrl.sandboxes.bubblewrap import BubblewrapSandbox
from agentrl.sandboxes.docker import DockerSandbox

PYTHON = ["python3", "-c", "pass"]


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


PAUSE_S = 0.0


def _time(fn: Callable[[], Any]) -> float:
    time.sleep(PAUSE_S)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def baseline(repeats: int) -> dict[str, Any]:
    """Plain subprocess latency of the commands the sandboxes run (no isolation at all)."""
    python = shutil.which("python3", path=SANDBOX_PATH) or "python3"  # the interpreter a sandbox finds
    run_true = [_time(partial(subprocess.run, ["true"], check=True)) for _ in range(repeats)]
    run_python = [_time(partial(subprocess.run, [python, "-c", "pass"], check=True)) for _ in range(repeats)]
    return {"python": python, "run_true_ms": _median_ms(run_true), "run_python_ms": _median_ms(run_python)}


def _bare(box: Any, scratch: Path) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The bare tool running ``true`` and ``python3 -c pass`` the way ``box`` would (``scratch``: a work dir)."""
    if isinstance(box, BubblewrapSandbox):
        argv_true, argv_python = box.bwrap_argv("true", scratch), box.bwrap_argv(PYTHON, scratch)
        return (
            partial(subprocess.run, argv_true, capture_output=True, check=True),
            partial(subprocess.run, argv_python, capture_output=True, check=True),
        )
    assert isinstance(box, DockerSandbox)
    container = box._container
    return (
        partial(container.exec_run, ["/bin/sh", "-c", "true"], user="1000:1000"),
        partial(container.exec_run, PYTHON, user="1000:1000"),
    )


def measure(backend: str, repeats: int) -> dict[str, Any]:
    """Median latencies of one backend, and of its bare tool in the same loop."""
    names = ("start", "run_true", "run_python", "files", "close", "bare_true", "bare_python")
    samples: dict[str, list[float]] = {name: [] for name in names}
    extra: dict[str, Any] = {}
    # bare bwrap runs as the driver's own user, who cannot enter a root driver's sandbox work dir
    scratch = Path(tempfile.mkdtemp(prefix="agentrl-bench-"))
    for _ in range(repeats):
        start = time.perf_counter()
        box = make_sandbox(SandboxConfig(backend=backend))
        samples["start"].append(time.perf_counter() - start)
        if isinstance(box, BubblewrapSandbox):
            extra = {"host_uid": box.host_uid, "disk_quota_mb": box.disk_quota_mb, "cgroups": box._use_cgroups}
        bare_true, bare_python = _bare(box, scratch)

        def run_true(box: Any = box) -> None:
            box.run("true")

        def run_python(box: Any = box) -> None:
            result = box.run(PYTHON)
            assert result.ok, result.summary()

        def files(box: Any = box) -> None:
            box.put_file("a.txt", "x" * 1000)
            box.get_file("a.txt")

        for _ in range(5):  # several runs per sandbox: the run figures are what an episode pays per action
            samples["bare_true"].append(_time(bare_true))
            samples["run_true"].append(_time(run_true))
            samples["bare_python"].append(_time(bare_python))
            samples["run_python"].append(_time(run_python))
        samples["files"].append(_time(files))
        samples["close"].append(_time(box.close))
    scratch.rmdir()
    figures: dict[str, Any] = {f"{name}_ms": _median_ms(values) for name, values in samples.items()}
    figures["run_true_ratio"] = round(figures["run_true_ms"] / figures["bare_true_ms"], 2)
    figures["run_python_ratio"] = round(figures["run_python_ms"] / figures["bare_python_ms"], 2)
    return {**figures, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=10, help="sandboxes per backend (5 runs of each command in each one)"
    )
    parser.add_argument("--backends", nargs="+", default=["bubblewrap", "docker"])
    parser.add_argument("--pause-ms", type=float, default=20.0, help="pause before each timed command")
    args = parser.parse_args()
    global PAUSE_S
    PAUSE_S = args.pause_ms / 1000
    report: dict[str, Any] = {
        "repeats": args.repeats,
        "pause_ms": args.pause_ms,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "euid": os.geteuid()},
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "subprocess": baseline(args.repeats),
    }
    for backend in args.backends:
        try:
            report[backend] = measure(backend, args.repeats)
        except SandboxUnavailable as error:
            report[backend] = {"unavailable": str(error)}
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
