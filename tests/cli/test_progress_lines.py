"""Where output goes to a file, ``agentrl train`` prints a line per iteration and per evaluation episode."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console
from rich.progress import Progress

from agentrl.cli.train import RichHooks


def test_train_progress_lines_when_stderr_is_a_file():
    out = io.StringIO()
    console = Console(file=out)  # not a terminal: bars are not drawn there
    with Progress(console=console) as progress:
        hooks = RichHooks(console, progress)
        hooks.iteration_start(0, 3, 4)
        train = {"kind": "train", "iteration": 0, "env_steps": 12, "success": 0.5, "invalid_action_rate": 0.25}
        hooks.record({**train, "seconds": 2.0})
        hooks.evaluation_start(2)
        for seed, won in ((10_000, True), (10_001, False)):
            hooks.episode_done(SimpleNamespace(seed=seed, won=won, turns=[None] * 3))
        evaluation = {"kind": "eval", "iteration": 1, "env_steps": 12, "split": None, "success": 0.5}
        hooks.record({**evaluation, "success_ci95": [0.1, 0.9], "invalid_action_rate": 0.0})
        hooks.episode_done(SimpleNamespace(seed=3, won=True, turns=[]))  # a rollout episode: no line
    lines = out.getvalue().splitlines()
    assert "iteration 1/3: success 0.50, invalid 25%, 12 env steps, 2 s" in lines
    assert "evaluation episode 1 (seed 10000): won in 3 turns, success so far 1/1" in lines
    assert "evaluation episode 2 (seed 10001): not won in 3 turns, success so far 1/2" in lines
    assert sum("episode" in line for line in lines) == 2


def test_no_extra_lines_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True)
    with Progress(console=console, transient=True) as progress:
        hooks = RichHooks(console, progress)
        hooks.iteration_start(0, 3, 4)
        train = {"kind": "train", "iteration": 0, "env_steps": 12, "success": 0.5, "invalid_action_rate": 0.25}
        hooks.record({**train, "seconds": 2.0})
    assert "iteration 1/3:" not in out.getvalue()


def test_an_iteration_without_rollouts_prints_the_losses_its_algorithm_reports():
    out = io.StringIO()
    console = Console(file=out, width=200)
    with Progress(console=console) as progress:
        hooks = RichHooks(console, progress)
        hooks.iteration_start(0, 3, 0)
        digiq = {"actor_loss": 0.9211, "q_loss": 0.1125, "v_loss": 0.0104, "imitated_share": 0.3}
        hooks.record({"kind": "train", "iteration": 0, "env_steps": 0, "seconds": 5.0, **digiq})
        hooks.record({"kind": "train", "iteration": 1, "env_steps": 0, "seconds": 6.0, "sft_loss": 0.284})
    lines = out.getvalue().splitlines()
    assert "iteration 1/3: actor loss 0.921, q loss 0.113, v loss 0.010, 0 env steps, 5 s" in lines
    assert "iteration 2/3: sft loss 0.284, 0 env steps, 6 s" in lines
