"""The env server: remote envs pass the checker, 32 clients at once, crash isolation, limits."""

from __future__ import annotations

import textwrap
import threading

import httpx
import numpy as np
import pytest

from agentrl.envs.remote import RemoteEnv, RemoteEnvError
from agentrl.testing import check_text_env

CRASHY = """
from agentrl.envs import TextEnv
from agentrl.envs.actions import ActionTable

_ACTIONS = ActionTable({"wait": "wait", "crash": "crash"})


class CrashyEnv(TextEnv[str]):
    def _engine_reset(self, seed, options):
        self.task = "Wait, or crash the env."
        self.t = 0

    def _engine_step(self, command):
        if command == "crash":
            raise RuntimeError("the engine fell over")
        self.t += 1
        return 0.0, False, False

    def _render(self):
        return f"t={self.t}"

    def parse_action(self, action):
        return _ACTIONS.match(action)

    def _admissible(self):
        return ["wait"]
"""


def test_remote_env_passes_the_checker_and_matches_local(serve):
    import agentrl

    with serve("sokoban") as (url, _):
        remote = RemoteEnv(url)
        check_text_env(remote, soak_steps=1000)
        local = agentrl.make("sokoban")
        assert remote.reset(seed=4)[0] == local.reset(seed=4)[0]
        for action in ["up", "left", "jump", "down"]:
            r, l_ = remote.step(action), local.step(action)
            assert r[:4] == tuple(l_[:4]) and r[4]["invalid_action"] == l_[4]["invalid_action"]
        remote.close()
        remote.close()  # idempotent


def test_32_concurrent_clients_200_steps_each(serve):
    errors: list[BaseException] = []
    steps = [0] * 32

    def client(index: int) -> None:
        try:
            env = RemoteEnv(url)
            rng = np.random.default_rng(index)
            _, info = env.reset(seed=index)
            for _ in range(200):
                action = info["admissible_actions"][rng.integers(4)] if rng.random() < 0.9 else "garbage"
                _, _, terminated, truncated, info = env.step(action)
                steps[index] += 1
                if terminated or truncated:
                    _, info = env.reset()
            env.close()
        except BaseException as err:
            errors.append(err)

    with serve("frozenlake", "env.kwargs.size=6") as (url, _):
        threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors[:3]
        assert steps == [200] * 32
        assert httpx.get(url + "/health").json()["sessions"] == 0


def test_a_crashing_env_ends_only_its_own_session(serve, tmp_path):
    (tmp_path / "crashy.py").write_text(textwrap.dedent(CRASHY))
    with serve("crashy:CrashyEnv", pythonpath=str(tmp_path)) as (url, process):
        doomed, healthy = RemoteEnv(url), RemoteEnv(url)
        doomed.reset(seed=0)
        healthy.reset(seed=0)
        with pytest.raises(RemoteEnvError, match="the engine fell over"):
            doomed.step("crash")
        with pytest.raises(RemoteEnvError, match="session is closed"):
            doomed.step("wait")
        assert healthy.step("wait")[0] == "t=1"
        assert process.poll() is None
        assert httpx.get(url + "/health").json()["sessions"] == 1
        healthy.close()


def test_limits_and_unknown_sessions(serve):
    with serve("frozenlake", "server.max_sessions=2") as (url, _):
        first, second = RemoteEnv(url), RemoteEnv(url)
        with pytest.raises(RemoteEnvError, match="maximum of 2 sessions"):
            RemoteEnv(url)
        first.close()
        third = RemoteEnv(url)
        response = httpx.post(url + "/sessions/nope/step", json={"action": "up"})
        assert response.status_code == 404 and "no session" in response.text
        second.close()
        with pytest.raises(RemoteEnvError, match="cannot make"):
            RemoteEnv(url, kwargs={"no_such_argument": 1})
        third.close()


def test_unreachable_server_is_a_clear_error(free_port):
    with pytest.raises(RemoteEnvError, match="cannot reach"):
        RemoteEnv(f"http://127.0.0.1:{free_port}", retries=0)
