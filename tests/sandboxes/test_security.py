"""The security suite, run on every backend: what a sandboxed command can and cannot do."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

import psutil
import pytest

from agentrl.sandboxes.base import ExecResult, Sandbox, SandboxConfig, SandboxError, make_sandbox
from agentrl.sandboxes.bubblewrap import BubblewrapSandbox
from agentrl.sandboxes.docker import DockerSandbox, docker_client
from agentrl.sandboxes.workdir import unmount
from tests.sandboxes.conftest import NOBODY, backend_or_skip, nobody_command


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


def test_every_bwrap_is_started_by_a_thread_that_outlives_its_command(monkeypatch):
    """``--die-with-parent`` ties a bwrap to the thread that started it: when that thread exits while the bwrap
    runs, the kernel kills the command (seen as a rare ``bwrap could not start the sandbox (exit -9)`` under load,
    when a one-shot arming thread was still exiting after ``join``). Every bwrap must come from a thread that is
    alive until its command has ended."""
    backend_or_skip("bubblewrap")
    import agentrl.sandboxes.bwrap_process as bwrap_process

    starters: dict[int, threading.Thread] = {}
    popen = subprocess.Popen

    def recording_popen(argv, *args, **kwargs):
        process = popen(argv, *args, **kwargs)
        starters[process.pid] = threading.current_thread()
        return process

    run_armed = bwrap_process.run_armed
    checked = []

    def checking_run(armed, *args, **kwargs):
        result = run_armed(armed, *args, **kwargs)
        starter = starters[armed.proc.pid]
        checked.append((starter.name, starter.is_alive()))
        return result

    monkeypatch.setattr(bwrap_process.subprocess, "Popen", recording_popen)
    monkeypatch.setattr("agentrl.sandboxes.bubblewrap.run_armed", checking_run)
    with make_sandbox(SandboxConfig(backend="bubblewrap")) as box:
        for _ in range(4):
            assert box.run("true").exit_code == 0
    assert len(checked) == 4
    assert all(alive for _, alive in checked), checked


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


# -- escapes found by an outside review -------------------------------------------------------
# Each probe takes a backend and a host directory the driver may write; it makes its own
# sandboxes. The tests below run them in this process (root in CI) and, through
# test_escape_probes_as_a_non_root_driver, in a driver process running as nobody.

ALLOWED_TRANSFER_ERRORS = (FileNotFoundError, SandboxError)


def _status_fields(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def _mount_options(path: str) -> tuple[str, set[str]]:
    """The mount point holding ``path`` in this process's mount namespace and its options."""
    path = os.path.realpath(path)
    best, options = "", set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, options = point, set(fields[5].split(","))
    return best, options


def _host_workdir(box: Sandbox) -> Path | None:
    """Where the sandbox's work dir is on this host, if this process can see it."""
    if isinstance(box, BubblewrapSandbox):
        return box.host_workdir
    if isinstance(box, DockerSandbox):
        with contextlib.suppress(Exception):
            mountpoint = Path(box.volume.attrs["Mountpoint"])
            if os.access(mountpoint, os.R_OK | os.X_OK):
                return mountpoint
    return None


def probe_sandboxed_code_runs_as_an_unprivileged_host_user(backend: str, outside: Path) -> None:
    """Finding 1's cause: the sandbox's uid 1000 was the driver's uid, root when agentrl ran as root."""
    marker = f"30.{secrets.randbelow(10**9):09d}"  # a sleep length that names the process
    status: dict[str, str] | None = None
    with make_sandbox(SandboxConfig(backend=backend)) as box:
        runner = threading.Thread(target=box.run, args=(["sleep", marker],), kwargs={"timeout": 3})
        runner.start()
        deadline = time.monotonic() + 2.5
        while status is None and time.monotonic() < deadline:
            for proc in psutil.process_iter(["cmdline"]):
                if proc.info["cmdline"] == ["sleep", marker]:
                    with contextlib.suppress(OSError):
                        status = _status_fields(proc.pid)
            time.sleep(0.02)
        runner.join()
    if status is None:
        pytest.skip("the sandboxed process is not visible from this host (a remote Docker daemon?)")
    assert "0" not in status["Uid"].split() + status["Gid"].split(), status
    assert "0" not in status["Groups"].split(), status
    assert int(status["CapEff"], 16) == 0 and status["NoNewPrivs"] == "1", status


def probe_kernel_settings_are_read_only(backend: str, outside: Path) -> None:
    """Finding 1: /proc/sys (and the other /proc files that set host state) opened for writing."""
    probe = textwrap.dedent(
        """
        import os
        for path in ("/proc/sys/kernel/printk_ratelimit", "/proc/sys/kernel/core_pattern",
                     "/proc/sys/vm/drop_caches", "/proc/sys/fs/file-max", "/proc/sysrq-trigger"):
            try:
                os.close(os.open(path, os.O_WRONLY))  # opened, never written
                print("WRITABLE", path)
            except OSError as error:
                print("refused", path, error.errno)
        for line in open("/proc/self/mountinfo"):
            fields = line.split()
            if fields[4] == "/proc/sys":
                print("mount", fields[5])
        """
    )
    with make_sandbox(SandboxConfig(backend=backend)) as box:
        result = box.run(["python3", "-c", probe])
    assert result.ok, result.summary()
    assert "WRITABLE" not in result.stdout, result.stdout
    mounts = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("mount ")]
    assert mounts and "ro" in mounts[-1].split(","), result.stdout  # /proc/sys is a read-only mount


def probe_no_setuid_file_reaches_the_host(backend: str, outside: Path) -> None:
    """Finding 2: a setuid-root file left in the host work dir."""
    with make_sandbox(SandboxConfig(backend=backend)) as box:
        result = box.run(
            "cp /bin/sh suid && chmod 6755 suid && stat -c '%a %u' suid; grep NoNewPrivs /proc/self/status; "
            'awk \'$5 == "/work" {print "mount", $6}\' /proc/self/mountinfo'
        )
        assert result.ok, result.summary()
        assert "NoNewPrivs:\t1" in result.stdout
        inside = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("mount ")]
        assert inside and "nosuid" in inside[-1].split(","), result.stdout
        host = _host_workdir(box)
        if host is not None:  # the file as the host sees it: not root's, and no other user may run it setuid
            info = os.stat(host / "suid")
            assert info.st_uid != 0 and info.st_gid != 0, (info.st_uid, info.st_gid)
            point, options = _mount_options(str(host / "suid"))
            if "nosuid" not in options:  # a non-root driver cannot mount: then only its own uid reaches the file
                parent = os.stat(host.parent)
                assert parent.st_uid == os.getuid() and not parent.st_mode & 0o077, (point, options, parent)


RACER = r"""
import ctypes, os, sys, time
target, seconds = sys.argv[1], float(sys.argv[2])
os.makedirs(target, exist_ok=True)
with open(os.path.join(target, "secret"), "w") as handle:
    handle.write("OUTSIDE-SECRET\n")
os.makedirs("d", exist_ok=True)
with open("d/secret", "w") as handle:
    handle.write("inside\n")
os.symlink(target, "s")
libc = ctypes.CDLL(None, use_errno=True)
swaps, end = 0, time.monotonic() + seconds
while time.monotonic() < end:  # d is a directory, then a link out of the work dir, and so on
    libc.renameat2(-100, b"d", -100, b"s", 2)  # AT_FDCWD, RENAME_EXCHANGE
    swaps += 1
print("swaps", swaps)
"""


def probe_file_transfer_during_a_command_stays_in_the_work_dir(backend: str, outside: Path) -> None:
    """Finding 3: a command swaps a work-dir folder for a link out of it while files are transferred."""
    secret = "HOST-SECRET-" + secrets.token_hex(8)
    (outside / "secret").write_text(secret + "\n")
    # The link target as the driver would resolve it: the host path (bubblewrap works on the host's
    # file system) or a container path outside /work (docker resolves inside the container).
    target = str(outside) if backend == "bubblewrap" else "/tmp/outside"
    with make_sandbox(SandboxConfig(backend=backend, timeout_s=30)) as box:
        results: list[ExecResult] = []
        racer = threading.Thread(target=lambda: results.append(box.run(["python3", "-c", RACER, target, "2"])))
        racer.start()
        time.sleep(0.3)  # the racer is swapping now
        tries, leaked, unexpected = 0, 0, []
        while racer.is_alive():
            tries += 1
            try:
                leaked += b"SECRET" in box.get_file("d/secret")
            except ALLOWED_TRANSFER_ERRORS:
                pass
            except Exception as error:
                unexpected.append(repr(error))
            try:
                box.put_file("d/planted", "planted by the driver")
            except ALLOWED_TRANSFER_ERRORS:
                pass
            except Exception as error:
                unexpected.append(repr(error))
        racer.join()
        assert results and results[0].ok, results[0].summary() if results else "the racer did not run"
        inside = box.run(["ls", "-a", target]).stdout
    planted = (outside / "planted").exists() or "planted" in inside
    assert (leaked, planted, unexpected[:3]) == (0, False, []), f"{tries} tries"
    if backend == "bubblewrap":
        assert tries > 20  # the transfers ran while the racer did


def probe_get_file_reads_no_more_than_it_returns(backend: str, outside: Path) -> None:
    """Finding 4: ``get_file`` on a directory read the whole tree into the driver's memory."""
    with make_sandbox(SandboxConfig(backend=backend, max_file_mb=4)) as box:
        made = box.run("mkdir tree && for i in $(seq 16); do head -c 3000000 /dev/zero > tree/f$i || exit 1; done")
        assert made.ok, made.summary()
        box.put_file("three_mb", b"x" * 3_000_000)
        tracemalloc.start()
        try:
            with pytest.raises(FileNotFoundError):
                box.get_file("tree")
            peak_tree = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            assert len(box.get_file("three_mb")) == 3_000_000
            peak_file = tracemalloc.get_traced_memory()[1]
            # The cap is read at call time; lowering it is the only way to have a file over it.
            box.config.max_file_mb = 1
            tracemalloc.reset_peak()
            with pytest.raises(SandboxError, match="max_file_mb"):
                box.get_file("three_mb")
            peak_over = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        with pytest.raises(SandboxError, match="max_file_mb"):
            box.put_file("two_mb", b"x" * 2_000_000)
    assert peak_tree < 2**20, peak_tree
    assert peak_over < 2**20, peak_over
    assert peak_file < 3 * 3_000_000, peak_file


def probe_links_are_never_followed(backend: str, outside: Path) -> None:
    """Finding 5: ``get_file`` followed links out of the work dir (docker, inside the container)."""
    with make_sandbox(SandboxConfig(backend=backend)) as box:
        made = box.run(
            "echo inside > real.txt; ln -s /etc e; ln -s /etc/passwd p; ln -s real.txt inner; mkdir d; "
            f"ln -s .. d/up; ln -s / root; ln -s {outside} out"
        )
        assert made.ok, made.summary()
        for path in ("e/passwd", "p", "inner", "d/up/real.txt", "root/etc/passwd", "e", "d", "out/x"):
            with pytest.raises(FileNotFoundError):
                box.get_file(path)
        for path in ("e/planted", "d/up/planted", "root/tmp/planted", "out/planted", "d"):
            with pytest.raises(SandboxError):
                box.put_file(path, "x")
        assert box.get_file("real.txt") == b"inside\n"
        box.put_file("p", "replaced\n")  # a link at the end of the path is replaced, never followed
        assert box.run("cat p; test -L p || echo not a link").stdout == "replaced\nnot a link\n"
        assert "planted" not in box.run("ls /tmp /etc").stdout
    assert not (outside / "planted").exists()


def probe_work_dir_has_a_disk_quota(backend: str, outside: Path) -> None:
    """Finding 6: no disk quota; ``disk_mb`` caps the work dir, and hitting it says so."""
    with make_sandbox(SandboxConfig(backend=backend, disk_mb=8)) as box:
        if isinstance(box, BubblewrapSandbox) and box.disk_quota_mb is None:
            pytest.skip("bubblewrap enforces the work dir quota only when the driver may mount a tmpfs (root)")
        full = box.run("for i in $(seq 12); do head -c 1000000 /dev/zero > f$i || exit 1; done")
        assert not full.ok and "No space left on device" in full.stderr, full.summary()
        assert "disk_mb" in full.stderr, full.stderr
        used_kb = int(box.run("du -sk .").stdout.split()[0])
        assert used_kb <= 8 * 1024 + 64, used_kb
        with pytest.raises(SandboxError, match="disk_mb"):
            box.put_file("more", b"x" * 2_000_000)
        assert box.run("rm f*").ok
        box.put_file("more", b"x" * 2_000_000)
        assert len(box.get_file("more")) == 2_000_000


def probe_backend_failures_are_sandbox_errors(backend: str, outside: Path) -> None:
    """Every way the backend itself fails surfaces as the documented ``SandboxError``."""
    box = make_sandbox(SandboxConfig(backend=backend))
    try:
        box.put_file("a.txt", "x")
        if isinstance(box, DockerSandbox):
            docker_client().api.remove_container(box.container_id, force=True)
        elif isinstance(box, BubblewrapSandbox):
            unmount(box.host_workdir)  # (when it is a tmpfs)
            shutil.rmtree(box.host_workdir)
        with pytest.raises(SandboxError):
            box.run("true")
        with pytest.raises((SandboxError, FileNotFoundError)):
            box.get_file("a.txt")
        with pytest.raises(SandboxError):
            box.put_file("b.txt", "x")
    finally:
        box.close()


PROBES = {
    fn.__name__.removeprefix("probe_"): fn
    for fn in (
        probe_sandboxed_code_runs_as_an_unprivileged_host_user,
        probe_kernel_settings_are_read_only,
        probe_no_setuid_file_reaches_the_host,
        probe_file_transfer_during_a_command_stays_in_the_work_dir,
        probe_get_file_reads_no_more_than_it_returns,
        probe_links_are_never_followed,
        probe_work_dir_has_a_disk_quota,
        probe_backend_failures_are_sandbox_errors,
    )
}


def test_sandboxed_code_runs_as_an_unprivileged_host_user(backend, tmp_path):
    probe_sandboxed_code_runs_as_an_unprivileged_host_user(backend, tmp_path)


def test_kernel_settings_are_read_only(backend, tmp_path):
    probe_kernel_settings_are_read_only(backend, tmp_path)


def test_no_setuid_file_reaches_the_host(backend, tmp_path):
    probe_no_setuid_file_reaches_the_host(backend, tmp_path)


def test_file_transfer_during_a_command_stays_in_the_work_dir(backend, tmp_path):
    probe_file_transfer_during_a_command_stays_in_the_work_dir(backend, tmp_path)


def test_get_file_reads_no_more_than_it_returns(backend, tmp_path):
    probe_get_file_reads_no_more_than_it_returns(backend, tmp_path)


def test_links_are_never_followed(backend, tmp_path):
    probe_links_are_never_followed(backend, tmp_path)


def test_work_dir_has_a_disk_quota(backend, tmp_path):
    probe_work_dir_has_a_disk_quota(backend, tmp_path)


def test_backend_failures_are_sandbox_errors(backend, tmp_path):
    probe_backend_failures_are_sandbox_errors(backend, tmp_path)


@pytest.mark.slow
def test_escape_probes_as_a_non_root_driver(backend):
    """Every probe above again, with the driver process running as nobody instead of root."""
    groups: tuple[int, ...] = ()
    if backend == "docker":  # nobody reaches the daemon through the socket's group
        socket_path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
        groups = (os.stat(socket_path).st_gid,)
    outside = Path(tempfile.mkdtemp(prefix="agentrl-probe-"))
    try:
        os.chown(outside, NOBODY, NOBODY)
        argv = [sys.executable, "-m", "tests.sandboxes.test_security", backend, str(outside)]
        repo = Path(__file__).resolve().parents[2]
        done = subprocess.run(
            nobody_command(argv, groups), cwd=repo, capture_output=True, text=True, timeout=600, check=False
        )
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["uid"] == NOBODY
    failed = {name: outcome for name, outcome in report["probes"].items() if outcome.startswith("failed")}
    assert not failed, failed
    assert set(report["probes"]) == set(PROBES)


def _run_probes(backend: str, outside: Path) -> dict[str, object]:
    """Run every probe here (the driver process of the non-root test) and say how each went."""
    outcomes: dict[str, str] = {}
    for name, probe in PROBES.items():
        scratch = Path(tempfile.mkdtemp(dir=outside))
        try:
            probe(backend, scratch)
            outcomes[name] = "passed"
        except pytest.skip.Exception as skipped:
            outcomes[name] = f"skipped: {skipped}"
        except BaseException as error:  # report every probe, whatever one of them raised
            outcomes[name] = f"failed: {type(error).__name__}: {error}"[:2000]
    return {"uid": os.getuid(), "probes": outcomes}


if __name__ == "__main__":
    print(json.dumps(_run_probes(sys.argv[1], Path(sys.argv[2]))))
