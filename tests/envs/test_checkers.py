"""The checkers catch each kind of contract breach they claim to catch."""

from __future__ import annotations

from typing import Any

import pytest

from agentrl.envs import TextEnv, TextSpace
from agentrl.envs.actions import ActionTable
from agentrl.envs.checkers import check_aec_text_env, check_text_env
from agentrl.envs.tictactoe import TicTacToeEnv

_MOVES = ActionTable({"left": -1, "right": 1})


class LineWorld(TextEnv[int]):
    """Walk from 0 to 3 on a line; a well-behaved env the broken ones below spoil."""

    instructions = "You walk on a line. Reply with one move: left or right."

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        self.pos = 0
        self.target = 3 + seed % 2
        self.task = f"Reach position {self.target}."

    def _engine_step(self, command: int):
        self.pos = max(0, self.pos + command)
        self.won = self.pos == self.target
        self.score = float(self.won)
        return float(self.won), self.won, False

    def _render(self) -> str:
        return f"You are at {self.pos}."

    def parse_action(self, action: str) -> int | None:
        return _MOVES.match(action)

    def _admissible(self) -> list[str]:
        return list(_MOVES.names)

    def _compute_expert(self) -> str | None:
        return None if self.won else "right"


def test_a_conforming_env_passes():
    check_text_env(LineWorld(), soak_steps=1000)


class AcceptsGarbage(LineWorld):
    def parse_action(self, action: str) -> int | None:
        return _MOVES.match(action) or 1


class RaisesOnGarbage(LineWorld):
    def step(self, action: str):
        if action not in ("left", "right"):
            raise ValueError("bad action")
        return super().step(action)


class NotDeterministic(LineWorld):
    calls = 0

    def _render(self) -> str:
        NotDeterministic.calls += 1
        return f"You are at {self.pos} (call {self.calls})."


class MissingInfoKey(LineWorld):
    def _info(self, invalid: bool) -> dict[str, Any]:
        info = super()._info(invalid)
        del info["won"]
        return info


class WrongInfoType(LineWorld):
    def _info(self, invalid: bool) -> dict[str, Any]:
        return {**super()._info(invalid), "admissible_actions": "left,right"}


class EmptyInstructions(LineWorld):
    def _info(self, invalid: bool) -> dict[str, Any]:
        return {**super()._info(invalid), "instructions": " "}


class InstructionsVaryBySeedHistory(LineWorld):
    resets = 0

    def instructions_text(self) -> str:
        InstructionsVaryBySeedHistory.resets += 1
        return f"{self.instructions} (reset {self.resets})"


class NonTextSpace(LineWorld):
    def __init__(self):
        super().__init__()
        import gymnasium

        self.action_space = gymnasium.spaces.Discrete(2)


class OverlongObservation(LineWorld):
    def __init__(self):
        super().__init__()
        self.observation_space = TextSpace(5)


class NoTask(LineWorld):
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        super()._engine_reset(seed, options)
        self.task = ""


class NeverWon(LineWorld):
    """Pays and ends at the target but never says it won (as the README's old skeleton did)."""

    def _engine_step(self, command: int):
        reward, terminated, truncated = super()._engine_step(command)
        self.won = False
        return reward, terminated, truncated


class NeverWonNoExpert(NeverWon):
    def _compute_expert(self) -> str | None:
        return None


@pytest.mark.parametrize(
    ("env_cls", "message"),
    [
        (NoTask, "info\\['task'\\] is empty after every reset"),
        (NeverWon, "info\\['won'\\] was never true, though the expert's episode"),
        (NeverWonNoExpert, "info\\['won'\\] was never true, though an episode ended .* positive return"),
        (AcceptsGarbage, "not reported as invalid_action"),
        (RaisesOnGarbage, "raised"),
        (NotDeterministic, "deterministic|not equivalent"),
        (MissingInfoKey, "lacks the key 'won'"),
        (WrongInfoType, "admissible_actions"),
        (EmptyInstructions, "info\\['instructions'\\] must be a non-empty str"),
        (InstructionsVaryBySeedHistory, "different info\\['instructions'\\]"),
        (NonTextSpace, "must be a text space"),
        (OverlongObservation, "observation"),
    ],
)
def test_checker_rejects_broken_env(env_cls, message):
    with pytest.raises(AssertionError, match=message):
        check_text_env(env_cls(), soak_steps=300)


class TicTacToePassesTurnOnGarbage(TicTacToeEnv):
    def step(self, action):
        if isinstance(action, str) and not action.strip().isdigit() and self.agents:
            self.agent_selection = self.agents[1 - self.agents.index(self.agent_selection)]
            self.infos[self.agent_selection]["invalid_action"] = True
            return
        super().step(action)


class TicTacToeIntObservation(TicTacToeEnv):
    def observe(self, agent: str):
        return 0


class TicTacToeNumericInstructions(TicTacToeEnv):
    instructions = 9  # type: ignore[assignment]


def test_a_conforming_env_without_instructions_passes():
    class Unexplained(LineWorld):
        instructions = ""

    env = Unexplained()
    assert "instructions" not in env.reset(seed=0)[1]
    check_text_env(env, soak_steps=300)


def test_an_env_with_nothing_to_win_passes():
    class NoReward(LineWorld):
        """Episodes end without reward and there is no expert: nothing says a win was due."""

        def _engine_step(self, command: int):
            self.pos = max(0, self.pos + command)
            return 0.0, self.pos == self.target, False

        def _compute_expert(self) -> str | None:
            return None

    check_text_env(NoReward(), soak_steps=300)


def test_aec_checker_passes_tictactoe_and_rejects_broken_ones():
    check_aec_text_env(TicTacToeEnv(), soak_steps=1000)
    with pytest.raises(AssertionError, match="after reset: info\\['instructions'\\] must be a non-empty str"):
        check_aec_text_env(TicTacToeNumericInstructions(), soak_steps=300)
    with pytest.raises(AssertionError):
        check_aec_text_env(TicTacToePassesTurnOnGarbage(), soak_steps=300)
    with pytest.raises(AssertionError, match="must return text"):
        check_aec_text_env(TicTacToeIntObservation(), soak_steps=300)
