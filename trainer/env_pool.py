"""Where rollout envs run: in this process, in worker processes, or on threads.

An :class:`EnvPool` holds ``n`` envs and steps any subset of them at once, either
blocking (``step_many``) or in two halves (``submit`` now, ``wait`` later), which lets
asynchronous rollouts generate for some envs while others step:

* ``inline``: in this process, one after another (no overhead; the default);
* ``subprocess``: one worker process per env, all stepping in parallel (for envs
  whose step is slow or holds the GIL: simulators, browsers);
* ``thread``: one thread per env (for envs that wait on I/O, e.g. ``RemoteEnv``);
* ``ray``: one Ray actor per env, on this machine or across a Ray cluster
  (``pip install 'agentrl[ray]'``; joins a running cluster or starts a local one).

A worker that raises reports the error to the caller; a worker that dies is named
in the error. ``close()`` stops every worker.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

StepResult = tuple[str, float, bool, bool, dict[str, Any]]
EXECUTORS = ("inline", "subprocess", "thread", "ray")


class EnvPoolError(RuntimeError):
    """An env failed in a worker, or the worker died."""


class EnvPool:
    """``n`` envs stepped in this process."""

    def __init__(self, env_factory: Callable[[], Any], n: int):
        self.envs = [env_factory() for _ in range(n)]

    def __len__(self) -> int:
        return len(self.envs)

    @property
    def spec_id(self) -> str | None:
        spec = getattr(self.envs[0], "spec", None) if self.envs else None
        return spec.id if spec is not None else None

    def reset(self, index: int, seed: int | None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Reset env ``index``."""
        return self.reset_many([(index, seed)], options)[0]

    def reset_many(
        self, requests: Sequence[tuple[int, int | None]], options: dict[str, Any] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Reset the envs ``index`` with ``seed`` (at once where they run elsewhere); results in order."""
        return [self.envs[index].reset(seed=seed, options=options) for index, seed in requests]

    def step_many(self, actions: Sequence[tuple[int, str]]) -> list[StepResult]:
        """Step the envs ``index`` with ``action``; the results in the same order."""
        return self.wait(self.submit(actions))

    def submit(self, actions: Sequence[tuple[int, str]]) -> Any:
        """Start stepping envs (in this process: step them now); pass what it returns to :meth:`wait`.

        An env with a step in flight must not be reset or stepped again before its ``wait``.
        """
        return [self.envs[index].step(action) for index, action in actions]

    def wait(self, handle: Any) -> list[StepResult]:
        """The results of a :meth:`submit`, in the order its actions were given."""
        return list(handle)

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []


class ThreadEnvPool(EnvPool):
    """``n`` envs stepped concurrently on threads."""

    def __init__(self, env_factory: Callable[[], Any], n: int):
        super().__init__(env_factory, n)
        self._threads = ThreadPoolExecutor(max_workers=max(1, n), thread_name_prefix="agentrl-env")

    def reset_many(
        self, requests: Sequence[tuple[int, int | None]], options: dict[str, Any] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        futures = [self._threads.submit(self.envs[index].reset, seed=seed, options=options) for index, seed in requests]
        return [future.result() for future in futures]

    def submit(self, actions: Sequence[tuple[int, str]]) -> Any:
        return [self._threads.submit(self.envs[index].step, action) for index, action in actions]

    def wait(self, handle: Any) -> list[StepResult]:
        return [future.result() for future in handle]

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        super().close()


def _worker(connection: Connection, env_factory: Callable[[], Any]) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    env = None
    try:
        env = env_factory()
        spec = getattr(env, "spec", None)
        connection.send(("ok", spec.id if spec is not None else None))
        while True:
            command, payload = connection.recv()
            if command == "close":
                break
            try:
                if command == "reset":
                    result: Any = env.reset(seed=payload[0], options=payload[1])
                else:
                    result = env.step(payload)
                connection.send(("ok", result))
            except Exception:
                connection.send(("error", traceback.format_exc()))
    except (EOFError, KeyboardInterrupt):
        pass
    except Exception:
        connection.send(("error", traceback.format_exc()))
    finally:
        if env is not None:
            env.close()
        connection.close()


class SubprocessEnvPool(EnvPool):
    """One worker process per env; ``step_many`` steps them in parallel.

    Workers are forked, so ``env_factory`` need not be picklable.
    """

    def __init__(self, env_factory: Callable[[], Any], n: int):
        context = mp.get_context("fork")
        self.envs = []
        self._connections: list[Connection] = []
        self._processes: list[Any] = []
        for _ in range(n):
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, env_factory), daemon=True)
            process.start()
            child.close()
            self._connections.append(parent)
            self._processes.append(process)
        self._spec_ids = [self._receive(i) for i in range(n)]

    def __len__(self) -> int:
        return len(self._connections)

    @property
    def spec_id(self) -> str | None:
        return self._spec_ids[0] if self._spec_ids else None

    def _receive(self, index: int) -> Any:
        try:
            status, payload = self._connections[index].recv()
        except (EOFError, ConnectionResetError) as err:
            code = self._processes[index].exitcode
            raise EnvPoolError(f"env worker {index} died (exit code {code})") from err
        if status == "error":
            raise EnvPoolError(f"env worker {index} failed:\n{payload}")
        return payload

    def _send(self, index: int, message: tuple[str, Any]) -> None:
        try:
            self._connections[index].send(message)
        except (BrokenPipeError, ConnectionResetError, OSError) as err:
            raise EnvPoolError(f"env worker {index} died (exit code {self._processes[index].exitcode})") from err

    def reset_many(
        self, requests: Sequence[tuple[int, int | None]], options: dict[str, Any] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        for index, seed in requests:
            self._send(index, ("reset", (seed, options)))
        return [self._receive(index) for index, _ in requests]

    def submit(self, actions: Sequence[tuple[int, str]]) -> Any:
        for index, action in actions:
            self._send(index, ("step", action))
        return [index for index, _ in actions]

    def wait(self, handle: Any) -> list[StepResult]:
        return [self._receive(index) for index in handle]

    def close(self) -> None:
        for connection in self._connections:
            try:
                connection.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for connection in self._connections:
            connection.close()
        self._connections, self._processes = [], []


class _EnvActor:
    """The body of a Ray actor holding one env."""

    def __init__(self, env_factory: Callable[[], Any]):
        torch = sys.modules.get("torch")  # envs rarely need torch: don't pay for importing it
        if torch is not None:
            torch.set_num_threads(1)
        self.env = env_factory()

    def spec_id(self) -> str | None:
        spec = getattr(self.env, "spec", None)
        return spec.id if spec is not None else None

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: str) -> StepResult:
        return self.env.step(action)

    def close(self) -> None:
        self.env.close()


class RayEnvPool(EnvPool):
    """One Ray actor per env; ``step_many`` steps them in parallel.

    ``env_factory`` is shipped to the actors with cloudpickle, so it must not hold
    unpicklable state (an open socket, a model).
    """

    def __init__(self, env_factory: Callable[[], Any], n: int, *, num_cpus: float = 1.0):
        try:
            import ray
        except ImportError as err:
            raise ImportError("rollout.executor=ray needs Ray: pip install 'agentrl[ray]'") from err
        self._ray = ray
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        actor: Any = ray.remote(num_cpus=num_cpus)(_EnvActor)
        self.envs = []
        self._actors: list[Any] = [actor.remote(env_factory) for _ in range(n)]
        self._spec_ids = self._get([a.spec_id.remote() for a in self._actors])

    def _get(self, refs: list[Any]) -> list[Any]:
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayError as err:
            raise EnvPoolError(f"a Ray env actor failed: {err}") from err

    def __len__(self) -> int:
        return len(self._actors)

    @property
    def spec_id(self) -> str | None:
        return self._spec_ids[0] if self._spec_ids else None

    def reset_many(
        self, requests: Sequence[tuple[int, int | None]], options: dict[str, Any] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        return self._get([self._actors[index].reset.remote(seed, options) for index, seed in requests])

    def submit(self, actions: Sequence[tuple[int, str]]) -> Any:
        return [self._actors[index].step.remote(action) for index, action in actions]

    def wait(self, handle: Any) -> list[StepResult]:
        return self._get(handle)

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.get(actor.close.remote(), timeout=30)
            except Exception:
                pass  # a dead actor has nothing left to close
            self._ray.kill(actor)
        self._actors = []


def make_pool(executor: str, env_factory: Callable[[], Any], n: int) -> EnvPool:
    """An env pool of the named kind (``inline``, ``subprocess``, ``thread`` or ``ray``)."""
    if executor == "inline":
        return EnvPool(env_factory, n)
    if executor == "subprocess":
        return SubprocessEnvPool(env_factory, n)
    if executor == "thread":
        return ThreadEnvPool(env_factory, n)
    if executor == "ray":
        return RayEnvPool(env_factory, n)
    raise ValueError(f"rollout.executor must be one of {EXECUTORS}, got {executor!r}")
