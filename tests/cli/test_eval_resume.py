"""``agentrl eval`` keeps what it played: episodes are written as they finish, and a rerun continues a stopped run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARGS = ["eval", "env=frozenlake", "agent=random", "eval.seed=40", "rollout.max_turns=6", "rollout.num_envs=1"]
LLM_ARGS = ["eval", "env=frozenlake", "model=tiny", "eval.seed=40", "rollout.max_turns=3", "rollout.num_envs=1"]


def _files(out: Path) -> tuple[dict, str]:
    (results_file,) = out.glob("*.json")
    results = json.loads(results_file.read_text())
    return results, Path(results["trajectories"]).read_text()


def _same_trajectories(got: str, want: str) -> bool:
    """The same trajectories, line for line: equal in everything, log-probs within 1e-4 (the hf backend reuses
    the history's attention states, so a process resumed with an empty cache sums in another order)."""

    def close(a, b, key: str = "") -> bool:
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k], k) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(close(x, y, key) for x, y in zip(a, b, strict=True))
        if "logprob" in key and isinstance(a, float) and isinstance(b, float):
            return abs(a - b) <= 1e-4
        return a == b

    rows, expected = got.splitlines(), want.splitlines()
    if len(rows) != len(expected):
        return False
    return all(close(json.loads(r), json.loads(e)) for r, e in zip(rows, expected, strict=True))


def _comparable(results: dict) -> dict:
    """The results without what depends on when and where they were written, the agent's counters of
    episodes started and generation calls (a stopped run's unfinished episodes are started again), and the
    backend's cache statistics (a resumed process starts with an empty prefix cache)."""
    drop = {"seconds", "trajectories", "git_revision"}
    kept = {k: v for k, v in results.items() if k not in drop}
    kept["agent_stats"] = {k: v for k, v in results["agent_stats"].items() if k not in ("calls", "episodes")}
    if kept.get("backend"):
        kept["backend"] = {k: v for k, v in kept["backend"].items() if not k.startswith("prefix_cache/")}
    return kept


def _interrupt_after(monkeypatch, episodes: int) -> None:
    """Make every env reset after the first ``episodes`` raise KeyboardInterrupt (Ctrl-C between episodes)."""
    import agentrl.factory

    make = agentrl.factory.make_from_config
    resets = []

    def factory(*args, **kwargs):
        env = make(*args, **kwargs)
        reset = env.reset

        def counted(**options):
            resets.append(1)
            if len(resets) > episodes:
                raise KeyboardInterrupt
            return reset(**options)

        env.reset = counted
        return env

    monkeypatch.setattr(agentrl.factory, "make_from_config", factory)


def test_a_stopped_eval_continues_and_ends_as_an_uninterrupted_one(tmp_path, monkeypatch, capsys):
    from agentrl.cli import main

    with monkeypatch.context() as patch:
        _interrupt_after(patch, 2)
        assert main([*ARGS, "eval.episodes=5", f"eval.output_dir={tmp_path / 'stopped'}"]) == 130
    partial, lines = _files(tmp_path / "stopped")
    assert partial["complete"] is False and partial["episodes"] == 2 and len(lines.splitlines()) == 2
    assert [e["seed"] for e in partial["per_episode"]] == [40, 41] and partial["seeds"] == [40, 41, 42, 43, 44]
    err = capsys.readouterr().err  # not a terminal: one line per episode
    assert "episode 1/5 (seed 40): " in err and "episode 2/5 (seed 41): " in err and "success so far" in err
    with (tmp_path / "stopped" / Path(partial["trajectories"]).name).open("a") as handle:
        handle.write('{"env_id": "agentrl/Fro')  # a line a kill cut short

    assert main([*ARGS, "eval.episodes=5", f"eval.output_dir={tmp_path / 'stopped'}"]) == 0
    err = capsys.readouterr().err
    assert "continuing" in err and "2 of 5 episodes already played" in err and "episode 3/5 (seed 42)" in err
    assert main([*ARGS, "eval.episodes=5", f"eval.output_dir={tmp_path / 'whole'}"]) == 0
    (resumed, resumed_lines), (whole, whole_lines) = _files(tmp_path / "stopped"), _files(tmp_path / "whole")
    assert resumed["complete"] is True and resumed["episodes"] == 5
    assert _comparable(resumed) == _comparable(whole)
    assert resumed_lines == whole_lines  # the same trajectories, in seed order, token ids and all


def test_other_settings_get_files_of_their_own_and_altered_files_are_refused(tmp_path, capsys):
    from agentrl.cli import main

    out = tmp_path / "r"
    args = [*ARGS, "eval.episodes=3", f"eval.output_dir={out}"]
    assert main(args) == 0
    assert main([*ARGS, "eval.episodes=3", "agent.seed=1", f"eval.output_dir={out}"]) == 0
    assert len(list(out.glob("*.json"))) == 2  # another evaluation, next to the first
    (results_file,) = [path for path in out.glob("*.json") if json.loads(path.read_text())["agent"]["seed"] == 0]
    results = json.loads(results_file.read_text())
    results["settings"]["max_turns"] = 7  # not what the episodes were played with
    results_file.write_text(json.dumps(results))
    assert main(args) == 2
    assert "holds an evaluation with other settings" in capsys.readouterr().err


@pytest.mark.slow
def test_an_eval_killed_mid_run_continues_where_it_stopped(tmp_path):
    """SIGKILL while the model plays; the rerun plays only what is missing (subprocesses, about a minute)."""
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "agentrl",
        *LLM_ARGS,
        "eval.episodes=12",
        "rollout.max_turns=8",
        f"eval.output_dir={out}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        written = [line for path in out.glob("*.trajectories.jsonl") for line in path.read_text().splitlines()]
        if len(written) >= 3:
            break
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()[1]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial, _ = _files(out)
    assert partial["complete"] is False and 3 <= partial["episodes"] < 12
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{partial['episodes']} of 12 episodes already played" in rerun.stderr
    whole_dir = tmp_path / "whole"
    whole = subprocess.run([*command[:-1], f"eval.output_dir={whole_dir}"], capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    (resumed, resumed_lines), (complete, whole_lines) = _files(out), _files(whole_dir)
    assert _comparable(resumed) == _comparable(complete) and _same_trajectories(resumed_lines, whole_lines)
