"""The security suite, run on every backend: what a sandboxed command can and cannot do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from agentrl.sandboxes.base import SandboxConfig, make_sandbox


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_runs_commands_and_reports_output(sandbox):
    result = sandbox.run("echo out; echo err >&2; exit 3")
    assert (result.stdout, result.stderr.strip(), result.exit_code, result.timed_out) == ("out\n", "err", 3, False)
    argv = sandbox.run(["python3", "-c", "import sys; print(sys.argv[1:])", "a b", "$HOME"])
    assert argv.stdout.strip() == "['a b', '$HOME']"
    assert sandbox.run("cat", stdin="fed through stdin").stdout == "fed through stdin"
    assert sandbox.run("pwd").stdout.strip() == "/work"


def test_outbound_network_is_blocked(sandbox):
    # A server on the host's loopback: the sandbox must not reach it, nor anything outside.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    probe = textwrap.dedent(
        f"""
        import socket
        for host, port in (("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443), ("pypi.org", 443)):
            try:
                socket.create_connection((host, port), timeout=2).close()
                print("CONNECTED", host)
            except OSError as error:
                print("blocked", host, type(error).__name__)
        """
    )
    result = sandbox.run(["python3", "-c", probe], timeout=30)
    server.setblocking(False)
    try:
        server.accept()[0].close()  # a connection that reached the host would wait in the backlog
        reached = True
    except BlockingIOError:
        reached = False
    server.close()
    assert result.ok, result.summary()
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("blocked") == 4
    assert not reached


def test_writes_outside_the_work_dir_are_blocked(sandbox, tmp_path):
    host_file = tmp_path / "host.txt"
    host_file.write_text("original")
    script = (
        f"for p in /usr/x /etc/x /x /bin/x /var/x {host_file} {tmp_path}/new; do "
        'if (echo pwned > "$p") 2>/dev/null; then echo "WROTE $p"; fi; done; '
        "echo ok > /work/inside && cat /work/inside"
    )
    result = sandbox.run(script)
    assert "WROTE" not in result.stdout, result.stdout
    assert result.stdout.strip().endswith("ok")
    assert host_file.read_text() == "original" and not (tmp_path / "new").exists()


def test_host_secrets_are_unreadable(sandbox, tmp_path, monkeypatch):
    secret = "agentrl-test-secret-" + os.urandom(8).hex()
    (tmp_path / "secret.txt").write_text(secret)
    monkeypatch.setenv("AGENTRL_TEST_SECRET", secret)
    script = (
        f"cat {tmp_path}/secret.txt; env; cat /proc/1/environ /proc/self/environ; cat /etc/shadow /root/.ssh/id_rsa; "
        "grep -rs agentrl-test-secret- /etc /home /root /tmp /work /var 2>/dev/null; true"
    )
    result = sandbox.run(script, timeout=60)
    assert secret not in result.stdout + result.stderr
    assert "root:" not in sandbox.run("cat /etc/shadow").stdout
    assert sandbox.run("id -u").stdout.strip() != "0"


def test_infinite_loop_is_killed_at_the_timeout(sandbox):
    start = time.monotonic()
    result = sandbox.run("sleep 60 & python3 -c 'while True: pass'", timeout=2)
    assert result.timed_out and result.exit_code == 137 and not result.ok
    assert time.monotonic() - start < 15
    after = sandbox.run("ps -e -o comm= 2>/dev/null || ls /proc | grep -c '^[0-9]'")
    assert "sleep" not in after.stdout and "python3" not in after.stdout
    assert sandbox.run("echo alive").stdout == "alive\n"  # the sandbox still works


def test_fork_bomb_is_contained(sandbox):
    before = len(psutil.pids())
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = sandbox.run(["python3", "-c", bomb], timeout=5)
    assert not result.ok
    assert sandbox.run("echo alive", timeout=20).stdout == "alive\n"
    assert len(psutil.pids()) < before + 20  # the host's process table did not fill up


def test_memory_bomb_is_killed(sandbox):
    result = sandbox.run(["python3", "-c", "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))"])
    assert not result.ok and not result.timed_out
    assert result.exit_code == 137 or "MemoryError" in result.stderr
    assert sandbox.run("echo alive").stdout == "alive\n"


def test_output_and_file_size_are_capped(backend):
    with make_sandbox(SandboxConfig(backend=backend, max_output_bytes=1000, max_file_mb=1)) as box:
        flood = box.run("yes | head -c 5000000")
        assert flood.truncated and len(flood.stdout) == 1000
        big = box.run("head -c 3000000 /dev/zero > big")
        assert not big.ok
        assert len(box.get_file("big")) <= 2**20


def test_files_round_trip_and_paths_cannot_escape(sandbox):
    sandbox.put_file("pkg/mod.py", "X = 1\n")
    sandbox.put_file("/work/data.bin", bytes(range(256)))
    assert sandbox.get_file("pkg/mod.py") == b"X = 1\n"
    assert sandbox.get_file("data.bin") == bytes(range(256))
    assert sandbox.run("python3 -c 'import pkg.mod; print(pkg.mod.X)'").stdout == "1\n"
    sandbox.run("echo made inside > made.txt; ln -s /etc/passwd link; mkdir d; ln -s / root")
    assert sandbox.get_file("made.txt") == b"made inside\n"
    for bad in ("../escape", "/etc/passwd", "", "a/../../b"):
        with pytest.raises(ValueError):
            sandbox.put_file(bad, "x")
    for planted in ("link", "missing.txt", "d"):
        with pytest.raises((FileNotFoundError, ValueError)):
            sandbox.get_file(planted)
    # Through a planted directory symlink: refused (bubblewrap), or resolved inside the container
    # (docker), never the host's file.
    try:
        seen = sandbox.get_file("root/etc/passwd")
    except (FileNotFoundError, ValueError):
        seen = None
    with open("/etc/passwd", "rb") as host:
        host_passwd = host.read()
    assert seen is None or (seen != host_passwd and seen.decode() == sandbox.run("cat /etc/passwd").stdout)


def test_close_is_idempotent_and_final(backend):
    box = make_sandbox(SandboxConfig(backend=backend))
    box.run("true")
    box.close()
    box.close()
    with pytest.raises(RuntimeError):
        box.run("true")


def test_no_process_or_container_left_after_100_runs(backend):
    before = _descendants()
    with make_sandbox(SandboxConfig(backend=backend, timeout_s=10)) as box:
        for i in range(100):
            if i % 20 == 0:
                result = box.run("sleep 30 & sleep 30", timeout=0.5)
                assert result.timed_out
            else:
                assert box.run(f"sleep 30 & echo {i}").stdout == f"{i}\n"
    time.sleep(0.2)
    assert _descendants() - before == set()
    assert not _leftovers(backend)


def _leftovers(backend: str, pid: int | None = None) -> list[str]:
    """Sandbox processes, cgroups, containers or volumes owned by ``pid`` (default: this process)."""
    pid = pid or os.getpid()
    found: list[str] = []
    if backend == "docker":
        from agentrl.sandboxes.docker import LABEL, OWNER_LABEL, docker_client

        client = docker_client()
        owner = f"{socket.gethostname()}/{pid}"
        found += [
            f"container {c.name}"
            for c in client.containers.list(all=True, filters={"label": LABEL})
            if c.labels.get(OWNER_LABEL) == owner
        ]
        found += [
            f"volume {v.name}"
            for v in client.volumes.list(filters={"label": LABEL})
            if (v.attrs.get("Labels") or {}).get(OWNER_LABEL) == owner
        ]
    else:
        from agentrl.sandboxes.cgroups import live_groups

        found += [f"cgroup {name}" for name in live_groups() if name.startswith(f"{pid}-")]
        mark = f"agentrl-sandbox-{pid}-"
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if cmdline.startswith(("bwrap", "/usr/bin/bwrap")) and mark in cmdline:
                found.append(f"process {proc.pid}")
        found += [f"workdir {p}" for p in Path(tempfile.gettempdir()).glob(f"{mark}*")]
    return found


DRIVER = """
import sys, time
from agentrl.sandboxes.base import SandboxConfig, make_sandbox
box = make_sandbox(SandboxConfig(backend=sys.argv[1], timeout_s=120))
box.put_file("marker", "x")
print("ready", flush=True)
box.run("sleep 300 & sleep 300")
"""


def test_a_killed_driver_leaves_nothing_behind(backend):
    from agentrl.sandboxes.bubblewrap import reap_workdirs
    from agentrl.sandboxes.cgroups import cgroups_available, reap_stale

    driver = subprocess.Popen([sys.executable, "-c", DRIVER, backend], stdout=subprocess.PIPE, text=True)
    assert driver.stdout is not None and driver.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # the command is running now
    assert _leftovers(backend, driver.pid)  # there is something to clean up
    driver.kill()
    driver.wait()
    # bubblewrap: the sandbox dies with its driver; docker: the next driver reaps what is left.
    if backend == "docker":
        from agentrl.sandboxes.docker import reap_orphans

        reap_orphans()
    else:
        if cgroups_available():
            reap_stale()
        reap_workdirs()
    deadline = time.monotonic() + 10
    while _leftovers(backend, driver.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _leftovers(backend, driver.pid)
