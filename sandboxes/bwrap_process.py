"""One bubblewrap command as processes: a ``bwrap`` armed ahead of its command, then run to its end.

Moving a process into a cgroup waits for an RCU grace period (``cgroup.procs`` takes the
cgroup threadgroup lock for writing): about 6 ms on a busy 2-core machine, as much as
``bwrap`` itself needs. A process *born* in the cgroup pays nothing, so the sandbox
starts the next command's ``bwrap`` early (:class:`ArmedBwrap`): started (through
``setpriv`` when the driver is root) and moved into a fresh cgroup while the current
command runs or the agent thinks, it blocks reading its arguments from a pipe
(``bwrap --args FD``). :func:`run_armed` writes them, with the command in an
environment variable that a fixed launcher shell runs after setting the file-size and
core limits; everything ``bwrap`` makes is born in the cgroup. ``--block-fd`` still holds
the sandbox's first process until the driver holds a pidfd on it (the timeout kill then
cannot hit another process) and, without cgroups, has set its ``prlimit`` limits.

The pipes are pumped by one selector in the calling thread (no reader or timer threads);
a timeout kills the first process (its pid namespace dies with it), ``bwrap`` and
whatever is left in the cgroup.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.sandboxes.base import ExecResult, OutputCap, SandboxConfig, SandboxError, note_disk_full
from agentrl.sandboxes.cgroups import CommandCgroup

logger = logging.getLogger(__name__)

COMMAND_VARIABLE = "AGENTRL_SANDBOX_COMMAND"
# The fixed command of every bwrap: run the script in the variable (limits, then `exec` of the command),
# after removing it from the environment.
LAUNCHER = f'c="${COMMAND_VARIABLE}"; unset {COMMAND_VARIABLE}; eval "$c"'
KILL_GRACE_S = 5.0


def command_script(cmd: str | Sequence[str], max_file_mb: int) -> str:
    """What the launcher evaluates: the limits, then ``exec`` of ``cmd`` (``sh -c`` for a string)."""
    blocks = max_file_mb * 2048  # POSIX ulimit -f counts 512-byte blocks; hard and soft when neither -H nor -S
    limits = f"ulimit -f {blocks} || exit 126; ulimit -c 0 2>/dev/null"
    if isinstance(cmd, str):
        return f"{limits}; exec /bin/sh -c {shlex.quote(cmd)}"
    argv = [str(part) for part in cmd]
    if not argv:
        raise ValueError("empty command")
    return f"{limits}; exec {shlex.join(argv)}"


@dataclass
class ArmedBwrap:
    """A started ``bwrap`` waiting for its arguments, in its own fresh cgroup when there is one."""

    proc: subprocess.Popen[bytes]
    args_w: int
    status_r: int
    block_w: int
    group: CommandCgroup | None
    fds: list[int] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        launch: list[str],
        bwrap: str,
        env: dict[str, str],
        popen_ids: dict[str, Any],
        limits: tuple[int, float, int] | None,
    ) -> ArmedBwrap:
        """Start ``bwrap`` (after ``launch``, e.g. ``setpriv``) and, with ``limits``, put it in a new cgroup."""
        args_r, args_w = os.pipe()
        status_r, status_w = os.pipe()
        block_r, block_w = os.pipe()
        argv = [*launch, bwrap, "--args", str(args_r), "--json-status-fd", str(status_w), "--block-fd", str(block_r)]
        argv += ["--", "/bin/sh", "-c", LAUNCHER]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(args_r, status_w, block_r),
                # No start_new_session: a session-leader bwrap costs ~3 ms more per command; bwrap's own
                # --new-session detaches the sandboxed code from the terminal.
                env=env,
                **popen_ids,
            )
        except OSError as error:
            for fd in (args_r, args_w, status_r, status_w, block_r, block_w):
                os.close(fd)
            raise SandboxError(f"could not start bwrap: {error}") from error
        for fd in (args_r, status_w, block_r):
            os.close(fd)
        armed = cls(proc, args_w, status_r, block_w, None)
        if limits is not None:
            try:
                armed.group = CommandCgroup.create(*limits)
                armed.group.add(proc.pid)  # bwrap reads its arguments first: nothing of it is born yet
            except OSError as error:
                armed.discard()
                raise SandboxError(f"could not put the sandbox command in its cgroup: {error}") from error
        return armed

    def discard(self) -> None:
        """Kill the waiting ``bwrap`` and remove what it had (it never ran a command)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.close_fds()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.group is not None:
            self.group.remove()

    def close_args(self) -> None:
        """Close the argument pipe (bwrap starts once it has read to its end)."""
        if self.args_w >= 0:
            os.close(self.args_w)
            self.args_w = -1

    def close_fds(self) -> None:
        """Close the driver's ends of the argument, status and block pipes (each once: fd numbers get reused)."""
        self.close_args()
        for fd in (self.status_r, self.block_w):
            if fd >= 0:
                os.close(fd)
        self.status_r = self.block_w = -1


def run_armed(
    armed: ArmedBwrap,
    args: list[str],
    stdin: bytes | None,
    timeout: float,
    config: SandboxConfig,
    limit: Callable[[int], None],
) -> ExecResult:
    """Give ``armed`` its arguments (options, ``--setenv`` of the command script) and run it to its end.

    ``limit`` is called with the pid of the sandbox's first process while it is held.
    """
    return _Run(armed, stdin, config, limit).run(args, timeout)


class _Run:
    def __init__(
        self, armed: ArmedBwrap, stdin: bytes | None, config: SandboxConfig, limit: Callable[[int], None]
    ) -> None:
        self.armed, self.stdin, self.config, self.limit = armed, stdin, config, limit
        self.outputs = {"stdout": OutputCap(config.max_output_bytes), "stderr": OutputCap(config.max_output_bytes)}
        self.status = b""
        self.pidfd: int | None = None
        self.exit_code: int | None = None

    def run(self, args: list[str], timeout: float) -> ExecResult:
        proc = self.armed.proc
        start = time.monotonic()
        timed_out = False
        try:
            data = b"".join(arg.encode() + b"\0" for arg in args)
            try:
                os.write(self.armed.args_w, data)  # bwrap reads while we write: no deadlock past the pipe size
            except OSError as error:
                raise SandboxError(f"bwrap did not take its arguments ({error}): make a new sandbox") from error
            self.armed.close_args()
            timed_out = self._pump(proc, start + timeout)
        finally:
            self.armed.close_fds()
            if proc.poll() is None:
                self._kill(proc)
            proc.wait()
            if self.pidfd is not None:
                os.close(self.pidfd)
        return self._result(proc, timed_out, time.monotonic() - start)

    def _pump(self, proc: subprocess.Popen[bytes], deadline: float) -> bool:
        """Move bytes until bwrap and everything holding its pipes are gone; True when it timed out."""
        assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        selector.register(self.armed.status_r, selectors.EVENT_READ, "status")
        pending = memoryview(self.stdin or b"")
        if self.stdin is None:  # the command reads end of file, as from /dev/null
            proc.stdin.close()
        else:
            os.set_blocking(proc.stdin.fileno(), False)
            selector.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
        timed_out = False
        with selector:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    if timed_out:  # killed, yet the pipes stay open past the grace period: stop reading
                        logger.warning("sandbox command still holds its pipes %.0f s after the kill", KILL_GRACE_S)
                        break
                    timed_out = True
                    self._kill(proc)
                    deadline = time.monotonic() + KILL_GRACE_S
                    continue
                for key, _ in selector.select(left):
                    name = key.data
                    if name == "stdin":
                        pending = self._feed(proc, selector, pending)
                        continue
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif name in self.outputs:
                        self.outputs[name].add(chunk)
                    else:
                        self._on_status(chunk)
        return timed_out

    def _feed(self, proc: subprocess.Popen[bytes], selector: selectors.BaseSelector, pending: memoryview) -> memoryview:
        assert proc.stdin is not None
        try:
            sent = os.write(proc.stdin.fileno(), pending[:65536]) if pending else 0
            pending = pending[sent:]
        except BlockingIOError:
            return pending
        except OSError:  # the command closed its stdin
            pending = pending[:0]
        if not pending:
            selector.unregister(proc.stdin)
            with contextlib.suppress(OSError):
                proc.stdin.close()
        return pending

    def _on_status(self, chunk: bytes) -> None:
        """bwrap's status lines: the first process's pid (limit and release it), then the exit code."""
        self.status += chunk
        while b"\n" in self.status:
            line, _, self.status = self.status.partition(b"\n")
            report = json.loads(line)
            if "child-pid" in report:
                self._release(int(report["child-pid"]))
            if "exit-code" in report:
                self.exit_code = int(report["exit-code"])

    def _release(self, pid: int) -> None:
        # The process waits on the block fd: it is alive and is ours, so a pidfd names it for good.
        with contextlib.suppress(OSError):
            self.pidfd = os.pidfd_open(pid)
        try:
            self.limit(pid)
        except OSError as error:
            raise SandboxError(
                f"could not put the sandboxed command under its limits ({error}): make cgroups writable (run as "
                "root) or run agentrl as the user the sandbox runs as"
            ) from error
        with contextlib.suppress(BrokenPipeError):  # bwrap already failed: its stderr says why
            os.write(self.armed.block_w, b"1")

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the sandbox's first process (its pid namespace dies with it), bwrap, and the cgroup."""
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        if self.armed.group is not None:
            self.armed.group.kill()

    def _result(self, proc: subprocess.Popen[bytes], timed_out: bool, duration: float) -> ExecResult:
        stdout, stderr = self.outputs["stdout"], self.outputs["stderr"]
        error_text = stderr.text()
        exit_code = 137 if timed_out else self.exit_code
        if exit_code is None:  # bwrap itself failed before the command could start
            raise SandboxError(f"bubblewrap could not start the sandbox (exit {proc.returncode}): {error_text}")
        group = self.armed.group
        oom = group is not None and group.oom_killed()
        if oom and not timed_out:
            error_text += "\n[sandbox] killed: the command went over the memory limit\n"
        if exit_code != 0:
            error_text = note_disk_full(self.config, error_text)
        return ExecResult(
            stdout=stdout.text(),
            stderr=error_text,
            exit_code=137 if oom and exit_code == 0 else exit_code,
            timed_out=timed_out,
            duration_s=duration,
            truncated=stdout.truncated or stderr.truncated,
        )
