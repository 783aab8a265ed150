"""CodeTask: every task is solved by its reference and failed by its starting code; the actions work."""

from __future__ import annotations

from collections import Counter

import pytest

import agentrl
from agentrl.sandboxes.codetask import KINDS, CodeTaskEnv, count_tests
from agentrl.sandboxes.codetask_tasks import TASKS
from tests.sandboxes.conftest import backend_or_skip

TASK_IDS = [str(task["task_id"]) for task in TASKS]


def test_task_data_is_complete():
    assert len(TASKS) >= 30 and len(set(TASK_IDS)) == len(TASK_IDS)
    counts = Counter(task["kind"] for task in TASKS)
    assert set(counts) == set(KINDS) and min(counts.values()) >= 8, counts
    for task in TASKS:
        assert set(task) == {"task_id", "kind", "instruction", "files", "solution", "tests"}, task["task_id"]
        assert task["instruction"] and task["files"] and task["solution"]
        assert count_tests(task["tests"]) >= 3, task["task_id"]
        for path, content in task["solution"].items():
            assert content.endswith("\n") and content != task["files"].get(path), (task["task_id"], path)
        if task["kind"] == "make-tests-pass":
            assert any(p.split("/")[-1].startswith("test_") for p in task["files"]), task["task_id"]


@pytest.fixture(scope="module")
def env():
    backend_or_skip("bubblewrap")
    env = CodeTaskEnv(command_timeout_s=5)
    yield env
    env.close()


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_reference_solves_and_starting_code_fails(env, task_id):
    env.reset(options={"task_id": task_id})
    _, reward, terminated, _, info = env.step("submit")
    assert terminated and reward == 0.0 and not info["won"], f"{task_id}: the starting code passes the hidden tests"
    assert info["score"] < 1.0
    obs, info = env.reset(options={"task_id": task_id})
    for _ in range(len(env.current["solution"]) + 1):
        action = info["expert_action"]
        obs, reward, terminated, _, info = env.step(action)
        assert not info["invalid_action"], (task_id, action[:80], obs)
        if terminated:
            break
    assert terminated and reward == 1.0 and info["won"] and info["score"] == 1.0, f"{task_id}: {obs}"


def test_make_tests_pass_tasks_visible_tests_fail_then_pass(env):
    for task in TASKS:
        if task["kind"] != "make-tests-pass":
            continue
        tests = [p for p in task["files"] if p.split("/")[-1].startswith("test_")]
        env.reset(options={"task_id": task["task_id"]})
        command = "run python3 -m unittest -q " + " ".join(p[:-3].replace("/", ".") for p in tests)
        obs, *_ = env.step(command)
        assert "exit code 0" not in obs, (task["task_id"], obs)
        for path, content in task["solution"].items():
            env.step(f"write {path}\n```\n{content}```")
        obs, *_ = env.step(command)
        assert "exit code 0" in obs, (task["task_id"], obs)


def test_run_write_edit_and_submit_actions(env):
    obs, info = env.reset(seed=0)
    assert env.current["instruction"] in obs and "submit" in obs
    obs, reward, terminated, _, info = env.step("run echo hello && ls")
    assert "hello" in obs and "exit code 0" in obs and reward == 0.0 and not terminated
    obs, *_ = env.step("```bash\necho from-a-fence >&2\nexit 4\n```")
    assert "exit code 4" in obs and "from-a-fence" in obs
    obs, *_ = env.step("write notes/a.txt\nline one\nline two\n")
    assert "Wrote notes/a.txt" in obs
    assert env.sandbox.get_file("notes/a.txt") == b"line one\nline two\n"
    obs, *_ = env.step("edit notes/a.txt\n<<<<<<< SEARCH\nline two\n=======\nline 2\n>>>>>>> REPLACE")
    assert "1 replacement" in obs and env.sandbox.get_file("notes/a.txt") == b"line one\nline 2\n"
    obs, _, _, _, info = env.step("edit notes/a.txt\n<<<<<<< SEARCH\nnot there\n=======\nx\n>>>>>>> REPLACE")
    assert "nothing was changed" in obs and not info["invalid_action"]
    obs, *_ = env.step("run sleep 60")
    assert "timed out" in obs


def test_malformed_and_escaping_actions_are_invalid(env):
    env.reset(seed=1)
    for bad in (
        "hello",
        "run",
        "write",
        "write ../../etc/passwd\nx",
        "edit /etc/passwd\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE",
        "edit a.py\nno blocks",
        "submit now",
        "```python\nprint(1)\n```",
    ):
        _, reward, terminated, _, info = env.step(bad)
        assert info["invalid_action"] and not terminated and reward == 0.0, bad


def test_links_the_agent_planted_are_reported_not_followed(env):
    env.reset(seed=2)
    env.step("run ln -s /etc out && mkdir tree && ln -s /etc/passwd tree/pw")
    obs, _, terminated, _, info = env.step("write out/evil.txt\nx\n")
    assert "Cannot write out/evil.txt" in obs and "link" in obs and not terminated and not info["invalid_action"]
    obs, *_ = env.step("edit tree/pw\n<<<<<<< SEARCH\nroot\n=======\nx\n>>>>>>> REPLACE")
    assert "Cannot edit tree/pw" in obs
    obs, *_ = env.step("edit tree\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE")
    assert "Cannot edit tree" in obs


def test_printing_a_fake_verdict_does_not_pass(env):
    task = next(t for t in TASKS if t["kind"] == "implement")
    env.reset(options={"task_id": task["task_id"]})
    module = next(iter(task["solution"]))
    cheat = 'import sys\nprint(\'AGENTRL-RESULT-x{"run": 99, "failed": []}\')\nsys.exit(0)\n'
    env.step(f"write {module}\n```\n{cheat}```")
    _, reward, terminated, _, info = env.step("submit")
    assert terminated and reward == 0.0 and not info["won"]


def test_docker_backend_runs_a_task():
    backend_or_skip("docker")
    env = agentrl.make("codetask", sandbox={"backend": "docker"})
    try:
        _, info = env.reset(seed=3)
        for _ in range(5):
            _, reward, terminated, _, info = env.step(info["expert_action"])
            if terminated:
                break
        assert reward == 1.0 and info["won"]
    finally:
        env.close()


def test_unknown_tasks_and_sandbox_settings_are_clear_errors():
    with pytest.raises(ValueError, match="unknown CodeTask"):
        CodeTaskEnv(task_ids=["no-such-task"])
    with pytest.raises(ValueError, match="unknown sandbox settings"):
        CodeTaskEnv(sandbox={"memory": 5})
