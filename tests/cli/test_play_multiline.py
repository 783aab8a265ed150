"""``agentrl play``: a line ending in ``<<<`` starts a multi-line action that a line ``>>>`` sends."""

from __future__ import annotations

from typing import Any

from agentrl.cli.play import HELP, PlayConfig, _Session


class _RecordingEnv:
    """Records the actions it is sent; the episode ends on ``stop``."""

    def __init__(self) -> None:
        self.actions: list[str] = []

    def reset(self, *, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        return "start", {"task": "type things"}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.actions.append(action)
        return "ok", 0.0, action == "stop", False, {"won": False, "score": 0.0}


def _play(typed: list[str]) -> tuple[list[str], list[str]]:
    lines, prompts, out = iter(typed), [], []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    env = _RecordingEnv()
    _Session(PlayConfig(), read, out.append).play_single(env)
    return env.actions, prompts


def test_a_block_is_sent_as_one_multi_line_action():
    edit = ["<<<<<<< SEARCH", "    return ordered[mid]", "=======", "    return 0", ">>>>>>> REPLACE"]
    actions, prompts = _play(["edit stats.py <<<", *edit, ">>>", "write a.txt <<<", "", "quit", " >>> ", "stop"])
    assert actions == ["\n".join(["edit stats.py", *edit]), "write a.txt\n\nquit", "stop"]
    assert prompts.count("... ") == len(edit) + 4  # continuation lines get their own prompt


def test_a_bare_opener_and_an_unfinished_block():
    actions, _ = _play(["<<<", "run echo 1", "echo 2", ">>>", "<<<", ">>>", "write b.txt <<<", "x"])
    assert actions == ["run echo 1\necho 2", "write b.txt\nx"]  # the empty block sends nothing; Ctrl-D ends one


def test_help_explains_multi_line_actions():
    assert "<<<" in HELP and ">>>" in HELP
