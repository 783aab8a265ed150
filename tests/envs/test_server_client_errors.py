"""The env server: client mistakes are 4xx with a message and keep the session; env failures end it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from agentrl.envs import TextEnv
from agentrl.envs.actions import ActionTable
from agentrl.envs.remote import RemoteEnv, RemoteEnvError
from agentrl.envs.server import create_app

_ACTIONS = ActionTable({"wait": "wait", "crash": "crash"})


class _CounterEnv(TextEnv[str]):
    """Counts waits; ``crash`` breaks the engine; options other than ``start`` are refused."""

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        unknown = set(options) - {"start"}
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}")
        self.task = "Wait."
        self.t = int(options.get("start", 0))

    def _engine_step(self, command: str) -> tuple[float, bool, bool]:
        if command == "crash":
            raise RuntimeError("the engine fell over")
        self.t += 1
        return 0.0, False, False

    def _render(self) -> str:
        return f"t={self.t}"

    def parse_action(self, action: str) -> str | None:
        return _ACTIONS.match(action)


@pytest.fixture
def client():
    app = create_app(lambda _name, **kwargs: _CounterEnv(**kwargs), "counter")
    with TestClient(app) as test_client:
        yield test_client


def _open(client: TestClient) -> str:
    response = client.post("/sessions", json={})
    assert response.status_code == 200
    return response.json()["session_id"]


def _alive(client: TestClient, session: str) -> None:
    """The session still works: a reset and a step succeed."""
    assert client.post(f"/sessions/{session}/reset", json={"seed": 0}).status_code == 200
    step = client.post(f"/sessions/{session}/step", json={"action": "wait"})
    assert step.status_code == 200 and step.json()["observation"] == "t=1"


def test_step_before_reset_is_409_and_keeps_the_session(client, caplog):
    session = _open(client)
    response = client.post(f"/sessions/{session}/step", json={"action": "wait"})
    assert response.status_code == 409
    assert "reset the env before stepping it" in response.json()["error"]
    assert "session_closed" not in response.json()
    assert "Traceback" not in caplog.text
    _alive(client, session)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"seed": -1}, 422, "seed: Input should be greater than or equal to 0 (got -1)"),
        ({"seed": "3"}, 422, "seed: Input should be a valid integer"),
        ({"seed": 1.5}, 422, "seed: Input should be a valid integer"),
        ({"seed": True}, 422, "seed: Input should be a valid integer"),
        ({"options": 3}, 422, "options: Input should be a valid dictionary"),
        ({"sed": 3}, 422, "sed: Extra inputs are not permitted"),
        ({"options": {"colour": "red"}}, 400, "the env refused this reset: ValueError: unknown options ['colour']"),
    ],
)
def test_bad_resets_are_4xx_with_a_message_and_keep_the_session(client, caplog, body, status, message):
    session = _open(client)
    response = client.post(f"/sessions/{session}/reset", json=body)
    assert response.status_code == status and message in response.json()["error"], response.json()
    assert "Traceback" not in caplog.text
    _alive(client, session)


def test_a_refused_reset_needs_a_new_reset_before_steps(client):
    session = _open(client)
    assert client.post(f"/sessions/{session}/reset", json={"seed": 0}).status_code == 200
    assert client.post(f"/sessions/{session}/reset", json={"options": {"bad": 1}}).status_code == 400
    assert client.post(f"/sessions/{session}/step", json={"action": "wait"}).status_code == 409
    _alive(client, session)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 422, "action: Field required"),
        ({"action": 5}, 422, "action: Input should be a valid string (got 5)"),
        ({"action": ["wait"]}, 422, "action: Input should be a valid string"),
        ({"action": "wait", "seed": 1}, 422, "seed: Extra inputs are not permitted"),
        ([1, 2], 422, "Input should be a valid dictionary"),
    ],
)
def test_bad_steps_are_422_with_a_message_and_keep_the_session(client, body, status, message):
    session = _open(client)
    assert client.post(f"/sessions/{session}/reset", json={"seed": 0}).status_code == 200
    response = client.post(f"/sessions/{session}/step", json=body)
    assert response.status_code == status and message in response.json()["error"], response.json()
    step = client.post(f"/sessions/{session}/step", json={"action": "wait"})
    assert step.status_code == 200 and step.json()["observation"] == "t=1"  # the bad step did not count


def test_malformed_json_is_400_and_keeps_the_session(client):
    session = _open(client)
    response = client.post(
        f"/sessions/{session}/reset", content=b'{"seed": 0', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    _alive(client, session)


def test_a_null_action_is_the_envs_invalid_action(client):
    session = _open(client)
    client.post(f"/sessions/{session}/reset", json={"seed": 0})
    response = client.post(f"/sessions/{session}/step", json={"action": None})
    assert response.status_code == 200 and response.json()["info"]["invalid_action"]


def test_unknown_sessions_are_404_on_every_verb(client):
    for method, verb in (("post", "reset"), ("post", "step")):
        response = getattr(client, method)(f"/sessions/nope/{verb}", json={"action": "wait"} if verb == "step" else {})
        assert response.status_code == 404 and "no session 'nope'" in response.json()["error"]
    session = _open(client)
    assert client.delete(f"/sessions/{session}").status_code == 200
    response = client.delete(f"/sessions/{session}")
    assert response.status_code == 404 and "no session" in response.json()["error"]
    assert client.get("/health").json()["sessions"] == 0


def test_an_env_failure_is_500_and_ends_the_session(client, caplog):
    session = _open(client)
    client.post(f"/sessions/{session}/reset", json={"seed": 0})
    response = client.post(f"/sessions/{session}/step", json={"action": "crash"})
    assert response.status_code == 500
    assert response.json() == {"error": "RuntimeError: the engine fell over", "session_closed": True}
    assert "the engine fell over" in caplog.text
    assert client.post(f"/sessions/{session}/reset", json={}).status_code == 404


def test_remote_env_raises_the_servers_message_and_keeps_its_session(serve):
    with serve("frozenlake") as (url, _):
        env = RemoteEnv(url)
        with pytest.raises(RemoteEnvError, match="HTTP 409: reset the env before stepping it") as caught:
            env.step("up")
        assert caught.value.status_code == 409 and not caught.value.session_closed
        with pytest.raises(RemoteEnvError, match=r"HTTP 400: the env refused this reset: ValueError"):
            env.reset(seed=0, options={"task_id": "banana"})
        _, info = env.reset(seed=0)
        assert env.step(info["expert_action"])[4]["invalid_action"] is False
        env.close()
