"""Serving an env over HTTP (``agentrl serve-env``), one env instance per session.

Endpoints (JSON):

* ``POST /sessions`` ``{"kwargs": {...}}`` -> ``{"session_id", "env_id", "max_action_length",
  "max_observation_length"}``
* ``POST /sessions/{id}/reset`` ``{"seed", "options"}`` -> ``{"observation", "info"}``
* ``POST /sessions/{id}/step`` ``{"action"}`` -> ``{"observation", "reward", "terminated", "truncated", "info"}``
* ``DELETE /sessions/{id}``; ``GET /health``

Sessions are independent: each has its own env and lock. An env that raises ends its
own session (HTTP 500 with the error, ``session_closed: true``); the server and every
other session go on. Sessions idle longer than ``idle_timeout_s`` are closed. ``info``
values JSON cannot hold (arrays, images) are dropped on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agentrl.envs.info import json_safe

logger = logging.getLogger(__name__)


@dataclass
class EnvServerConfig:
    """Settings of an env server."""

    host: str = "127.0.0.1"
    """Address to bind (loopback by default: an env server is not meant for the open internet)."""
    port: int = 8000
    """TCP port."""
    max_sessions: int = 256
    """Sessions open at once; more are refused with HTTP 503."""
    idle_timeout_s: float = 600.0
    """Close sessions unused for this long."""


class CreateRequest(BaseModel):
    kwargs: dict[str, Any] = {}


class ResetRequest(BaseModel):
    seed: int | None = None
    options: dict[str, Any] | None = None


class StepRequest(BaseModel):
    action: str | None = None


class _Session:
    def __init__(self, env: Any):
        self.env = env
        self.lock = threading.Lock()
        self.last_used = time.monotonic()


def create_app(make_env: Callable[..., Any], env_name: str, config: EnvServerConfig | None = None) -> FastAPI:
    """The FastAPI app serving ``make_env(env_name, **kwargs)`` per session."""
    config = config or EnvServerConfig()
    sessions: dict[str, _Session] = {}
    registry_lock = threading.Lock()

    def close_session(session_id: str) -> None:
        with registry_lock:
            session = sessions.pop(session_id, None)
        if session is not None:
            with contextlib.suppress(Exception):
                session.env.close()

    def get(session_id: str) -> _Session:
        session = sessions.get(session_id)
        if session is None:
            raise HTTPException(404, f"no session {session_id!r} (closed, timed out or never opened)")
        session.last_used = time.monotonic()
        return session

    def guarded(session_id: str, call: Callable[[Any], dict[str, Any]]) -> Any:
        session = get(session_id)
        with session.lock:
            try:
                return call(session.env)
            except Exception as err:
                logger.exception("env of session %s failed; closing the session", session_id)
                failure = {"error": f"{type(err).__name__}: {err}", "session_closed": True}
        close_session(session_id)
        return JSONResponse(failure, status_code=500)

    async def reap() -> None:
        while True:
            await asyncio.sleep(max(1.0, min(30.0, config.idle_timeout_s / 4)))
            now = time.monotonic()
            for session_id, session in list(sessions.items()):
                if now - session.last_used > config.idle_timeout_s:
                    logger.info("closing idle session %s", session_id)
                    close_session(session_id)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(reap())
        try:
            yield
        finally:
            task.cancel()
            for session_id in list(sessions):
                close_session(session_id)

    app = FastAPI(title=f"agentrl env server: {env_name}", lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "env": env_name, "sessions": len(sessions)}

    @app.post("/sessions")
    def create(request: CreateRequest) -> dict[str, Any]:
        with registry_lock:
            if len(sessions) >= config.max_sessions:
                raise HTTPException(503, f"the server holds its maximum of {config.max_sessions} sessions")
        try:
            env = make_env(env_name, **request.kwargs)
        except Exception as err:
            raise HTTPException(400, f"cannot make {env_name!r} with {request.kwargs}: {err}") from err
        if hasattr(env, "agent_iter"):
            env.close()
            raise HTTPException(400, f"{env_name!r} is a multi-agent env; the env server serves single-agent envs")
        session_id = uuid.uuid4().hex
        with registry_lock:
            sessions[session_id] = _Session(env)
        spec = getattr(env, "spec", None)
        return {
            "session_id": session_id,
            "env_id": spec.id if spec is not None else env_name,
            "max_action_length": int(getattr(env.action_space, "max_length", 8192)),
            "max_observation_length": int(getattr(env.observation_space, "max_length", 65536)),
        }

    @app.post("/sessions/{session_id}/reset")
    def reset(session_id: str, request: ResetRequest) -> Any:
        def call(env: Any) -> dict[str, Any]:
            observation, info = env.reset(seed=request.seed, options=request.options)
            return {"observation": observation, "info": json_safe(info)}

        return guarded(session_id, call)

    @app.post("/sessions/{session_id}/step")
    def step(session_id: str, request: StepRequest) -> Any:
        def call(env: Any) -> dict[str, Any]:
            observation, reward, terminated, truncated, info = env.step(request.action)
            return {
                "observation": observation,
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "info": json_safe(info),
            }

        return guarded(session_id, call)

    @app.delete("/sessions/{session_id}")
    def delete(session_id: str) -> dict[str, Any]:
        close_session(session_id)
        return {"closed": session_id}

    return app
