"""Shared test setup: one torch thread (2-core machines), quiet logging."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import httpx
import psutil
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch is a core dependency; envs' tests still run without it
    pass


def _open_one(open_path, path: str, barrier, errors) -> None:
    barrier.wait()
    try:
        open_path(path)
    except Exception as err:  # what the process would have died of
        errors.put(repr(err))


@pytest.fixture
def open_together(tmp_path):
    """``open_together(open_path)``: 40 rounds of 8 processes calling ``open_path`` on one new file at once (an
    SQLite file's creation races: its header, its tables, its journal mode); fails with the first error any met."""
    import multiprocessing

    def run(open_path, rounds: int = 40, processes: int = 8) -> None:
        ctx = multiprocessing.get_context("fork")
        errors = ctx.Queue()
        for round_ in range(rounds):
            path, barrier = str(tmp_path / f"new-{round_}.sqlite"), ctx.Barrier(processes)
            workers = [ctx.Process(target=_open_one, args=(open_path, path, barrier, errors)) for _ in range(processes)]
            for p in workers:
                p.start()
            for p in workers:
                p.join(timeout=120)
                assert p.exitcode == 0
        assert errors.empty(), errors.get()

    return run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    return _free_port()


@contextmanager
def serve_process(argv: list[str], *, health: str, name: str, env: dict[str, str] | None = None, wait_s: float = 120):
    """Run a server (``argv`` takes ``--port`` last) on loopback until ``health`` answers 200; stop it after.

    Yields ``(url, process)``; on exit checks that the server left no process behind.
    """
    port = _free_port()
    # Output goes to a file, not a pipe: a chatty server would block once a pipe's buffer fills.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([*argv, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if httpx.get(url + health, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{name} did not start: {log.read()[-4000:]}")
            time.sleep(0.2)
        yield url, process
    finally:
        children = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        process.terminate()
        process.wait(timeout=30)
        log.close()
        _, alive = psutil.wait_procs(children, timeout=30)  # a server's helper processes take a moment to exit
        leaked = [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        for child in leaked:  # reported below, but not left running for the rest of the session
            with contextlib.suppress(psutil.Error):
                child.kill()
        assert not leaked, f"{name} left processes behind: {leaked}"


def _serve(command: str, *args: str, pythonpath: str | None = None, health: str = "/health"):
    """Run ``agentrl COMMAND ARGS --port P`` on loopback (see :func:`serve_process`)."""
    environ = dict(os.environ)
    if pythonpath:
        environ["PYTHONPATH"] = pythonpath + os.pathsep + environ.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "agentrl", command, *args]
    return serve_process(argv, health=health, name=f"agentrl {command}", env=environ)


@pytest.fixture
def serve():
    """``with serve(ENV, *overrides) as (url, process)``: an env server on loopback."""

    def start(env: str, *overrides: str, pythonpath: str | None = None):
        return _serve("serve-env", env, *overrides, pythonpath=pythonpath)

    return start


@pytest.fixture
def serve_command():
    """``with serve_command(COMMAND, *args) as (url, process)``: any serving ``agentrl`` command on loopback."""
    return _serve


@pytest.fixture(scope="session")
def spawn_server():
    """``with spawn_server(argv, health=..., name=...) as (url, process)``: any server on loopback."""
    return serve_process


@pytest.fixture(scope="module")
def tiny_model_server():
    """A model server for the tiny model (seed 0), shared by a test module."""
    with _serve("serve-model", "model=tiny") as (url, process):
        yield url, process


def _browser_or_skip(extra: tuple[str, str] | None = None) -> None:
    """Skip (fail under AGENTRL_REQUIRE_BROWSER=1, as in CI) when Playwright, Chromium or ``extra`` (a module and
    how to install it) is missing."""
    missing = []
    for module, hint in [("playwright", "playwright (pip install 'agentrl[web]')"), *([extra] if extra else [])]:
        try:
            __import__(module)
        except ImportError:
            missing.append(hint)
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing.append("chromium (apt-get install chromium)")
    if missing:
        if os.environ.get("AGENTRL_REQUIRE_BROWSER") == "1":
            pytest.fail("the browser envs are required but these are missing: " + ", ".join(missing))
        pytest.skip("needs " + ", ".join(missing))


@pytest.fixture(scope="session")
def require_browser():
    """``require_browser(extra=None)``: skip the test when the browser envs cannot run here (fail in CI)."""
    return _browser_or_skip
