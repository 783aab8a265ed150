"""Serving an env over HTTP (``agentrl serve-env``), one env instance per session.

Endpoints (JSON):

* ``POST /sessions`` ``{"kwargs": {...}}`` -> ``{"session_id", "env_id", "max_action_length",
  "max_observation_length"}``
* ``POST /sessions/{id}/reset`` ``{"seed", "options"}`` -> ``{"observation", "info"}``
* ``POST /sessions/{id}/step`` ``{"action"}`` -> ``{"observation", "reward", "terminated", "truncated", "info"}``
* ``DELETE /sessions/{id}`` -> ``{"closed"}``; ``GET /health``

``seed`` is a whole number >= 0 or null; ``action`` is a string, or null for an action
that was not one (the env answers it as an invalid action, as it would in-process).

Errors are JSON ``{"error": message}``. Client mistakes are 4xx and keep the session:
a body that is not JSON (400), a missing field, a wrong type or an unknown field (422,
with pydantic's ``detail`` too), an unknown session (404), a step before the first
reset (409), and a reset whose seed or options the env refuses with ``ValueError`` or a
gymnasium error (400; reset again before stepping). An env that raises anything else
ends its own session (HTTP 500, ``session_closed: true``, the traceback in the log);
the server and every other session go on. Sessions idle longer than ``idle_timeout_s``
are closed. ``info`` values JSON cannot hold (arrays, images) are dropped on the wire.
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
from typing import Annotated, Any

import gymnasium
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    model_config = ConfigDict(extra="forbid")
    kwargs: dict[str, Any] = {}


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: Annotated[int, Field(strict=True, ge=0)] | None = None
    options: dict[str, Any] | None = None


class StepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Annotated[str, Field(strict=True)] | None
    """Required; null stands for an action that was not a string (the env reports it invalid)."""


class _Session:
    def __init__(self, env: Any):
        self.env = env
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.needs_reset = True
        """No successful reset since the session opened or since a refused reset: steps are refused."""


# Exceptions of ``env.reset`` that mean "not this seed or these options" rather than "the env broke".
_REFUSED_RESET = (ValueError, gymnasium.error.Error)


def _validation_message(errors: list[Any]) -> tuple[int, str]:
    """HTTP status and one readable line for pydantic's request errors."""
    if any(error.get("type") == "json_invalid" for error in errors):
        why = "; ".join(str((e.get("ctx") or {}).get("error") or e.get("msg", "")) for e in errors)
        return 400, f"the request body is not valid JSON: {why}"
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        given = f" (got {repr(error['input'])[:80]})" if error.get("type") != "missing" and "input" in error else ""
        parts.append(f"{where}: {error.get('msg', 'invalid')}{given}")
    return 422, "invalid request: " + "; ".join(parts)


def create_app(make_env: Callable[..., Any], env_name: str, config: EnvServerConfig | None = None) -> FastAPI:
    """The FastAPI app serving ``make_env(env_name, **kwargs)`` per session."""
    config = config or EnvServerConfig()
    sessions: dict[str, _Session] = {}
    registry_lock = threading.Lock()

    def close_session(session_id: str) -> bool:
        with registry_lock:
            session = sessions.pop(session_id, None)
        if session is None:
            return False
        with contextlib.suppress(Exception):
            session.env.close()
        return True

    def get(session_id: str) -> _Session:
        session = sessions.get(session_id)
        if session is None:
            raise HTTPException(404, f"no session {session_id!r} (closed, timed out or never opened)")
        session.last_used = time.monotonic()
        return session

    def guarded(session_id: str, call: Callable[[_Session], dict[str, Any]]) -> Any:
        session = get(session_id)
        with session.lock:
            try:
                return call(session)
            except HTTPException:
                raise  # a client mistake the call found: the session stays
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

    @app.exception_handler(StarletteHTTPException)
    async def client_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = list(err.errors())
        status, message = _validation_message(errors)
        return JSONResponse({"error": message, "detail": json_safe({"errors": errors})["errors"]}, status_code=status)

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
    def reset(session_id: str, request: ResetRequest | None = None) -> Any:
        request = request or ResetRequest()

        def call(session: _Session) -> dict[str, Any]:
            session.needs_reset = True
            try:
                observation, info = session.env.reset(seed=request.seed, options=request.options)
            except _REFUSED_RESET as err:
                logger.info("session %s: reset refused: %s: %s", session_id, type(err).__name__, err)
                raise HTTPException(400, f"the env refused this reset: {type(err).__name__}: {err}") from err
            session.needs_reset = False
            return {"observation": observation, "info": json_safe(info)}

        return guarded(session_id, call)

    @app.post("/sessions/{session_id}/step")
    def step(session_id: str, request: StepRequest) -> Any:
        def call(session: _Session) -> dict[str, Any]:
            if session.needs_reset:
                raise HTTPException(409, f"reset the env before stepping it (POST /sessions/{session_id}/reset)")
            observation, reward, terminated, truncated, info = session.env.step(request.action)
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
        if not close_session(session_id):
            raise HTTPException(404, f"no session {session_id!r} (closed, timed out or never opened)")
        return {"closed": session_id}

    return app
