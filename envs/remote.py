"""``RemoteEnv``: a ``gymnasium.Env`` whose env runs in an ``agentrl serve-env`` server.

Rollouts cannot tell it from a local env: same spaces, same ``reset``/``step``, same
``info`` keys (less values JSON cannot carry). Transport failures are retried a few
times. Anything the server refuses raises :class:`RemoteEnvError` with the server's
message: a client mistake (HTTP 4xx, e.g. a step before the first reset) keeps the
session; an env that crashed on the server ends it (``session_closed``).
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium
import httpx

from agentrl.envs.spaces import TextSpace


class RemoteEnvError(RuntimeError):
    """The server refused a request, its env failed, or the server could not be reached.

    Attributes:
        status_code: The HTTP status (None when the server could not be reached).
        session_closed: The server ended the session (its env failed); the env cannot be used again.
    """

    def __init__(self, message: str, *, status_code: int | None = None, session_closed: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.session_closed = session_closed


def _error_message(response: httpx.Response) -> tuple[str, bool]:
    """The server's message for a failed request, and whether it closed the session."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase, False
    if isinstance(body, dict):
        message = body.get("error") or body.get("detail") or body
        return str(message), bool(body.get("session_closed"))
    return str(body)[:500], False


class RemoteEnv(gymnasium.Env[str, str]):
    """A session of an env server.

    Args:
        url: The server, e.g. ``http://127.0.0.1:8000``.
        kwargs: Constructor arguments for the server's env.
        timeout: Seconds per request.
        retries: Extra attempts after a connection error (not after an env error).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"]}  # noqa: RUF012 (gymnasium declares it so)

    def __init__(self, url: str, *, kwargs: dict[str, Any] | None = None, timeout: float = 60.0, retries: int = 2):
        self.url = url.rstrip("/")
        self.retries = retries
        self._client = httpx.Client(base_url=self.url, timeout=timeout)
        self._session: str | None = None
        self._observation = ""
        created = self._call("POST", "/sessions", {"kwargs": dict(kwargs or {})})
        self._session = created["session_id"]
        self.remote_env_id = created["env_id"]
        self.observation_space = TextSpace(created["max_observation_length"])
        self.action_space = TextSpace(created["max_action_length"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                response = self._client.request(method, path, json=body)
                break
            except httpx.TransportError as err:
                if attempt == self.retries:
                    raise RemoteEnvError(f"cannot reach the env server at {self.url}: {err}") from err
                time.sleep(0.2 * (attempt + 1))
        if response.status_code >= 400:
            message, closed = _error_message(response)
            if closed:
                self._session = None
                message += " (the server closed this session: make a new RemoteEnv)"
            raise RemoteEnvError(
                f"env server {self.url}{path}: HTTP {response.status_code}: {message}",
                status_code=response.status_code,
                session_closed=closed,
            )
        return response.json()

    def _path(self, verb: str) -> str:
        if self._session is None:
            raise RemoteEnvError(
                "this remote env's session is closed (by close(), or the server ended it when its env failed): "
                "make a new RemoteEnv",
                session_closed=True,
            )
        return f"/sessions/{self._session}/{verb}"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        data = self._call("POST", self._path("reset"), {"seed": seed, "options": options})
        self._observation = data["observation"]
        return data["observation"], data["info"]

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        sent = action if isinstance(action, str) else None
        data = self._call("POST", self._path("step"), {"action": sent})
        self._observation = data["observation"]
        return data["observation"], data["reward"], data["terminated"], data["truncated"], data["info"]

    def render(self) -> str:
        return self._observation

    def close(self) -> None:
        if self._session is not None:
            try:
                self._client.delete(f"/sessions/{self._session}")
            except httpx.HTTPError:
                pass  # the server may be gone already; the session dies with it
            self._session = None
        self._client.close()
