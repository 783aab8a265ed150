"""Guess the number: a small multi-turn information-seeking env.

The env picks a secret whole number in ``[low, high]`` from the reset seed; the agent
guesses and hears "too low" or "too high" until it names the number or runs out of
guesses. Winning needs the agent to *use* what it was told in earlier turns, which
makes it the gym's testbed for sample efficiency of multi-turn credit assignment
(ArCHer's Guess-My-City / Twenty Questions, in miniature). The reward is 1 for the
right number and 0 otherwise; bisection (the expert) wins whenever
``max_guesses >= ceil(log2(high - low + 2))``.

A guess is a bare integer, optionally after ``guess`` (``"7"``, ``"Guess 7."``). Anything
else, and numbers outside the range, are invalid actions and cost no guess.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, SupportsFloat

import numpy as np

from agentrl.envs.actions import describe_invalid
from agentrl.envs.base import TextEnv

_GUESS = re.compile(r"(?:guess\s*:?\s*)?([+-]?\d{1,9})", re.IGNORECASE)


class GuessNumberEnv(TextEnv[int]):
    """Find a secret number from "too low" / "too high" feedback.

    Args:
        low: Smallest possible secret.
        high: Largest possible secret.
        max_guesses: Guesses before the episode ends in a loss (None: enough for bisection).
        expert: Put the bisection guess in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    # Short on purpose: it heads every prompt of the main job (`agentrl train`), whose cost grows with prompt length.
    instructions: ClassVar[str] = (
        "You are guessing a secret whole number from too low / too high answers. Reply with one number, e.g. 5."
    )

    def __init__(
        self,
        low: int = 1,
        high: int = 10,
        max_guesses: int | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        if high < low:
            raise ValueError(f"high must be >= low, got low={low}, high={high}")
        needed = math.ceil(math.log2(high - low + 2))
        if max_guesses is not None and max_guesses < 1:
            raise ValueError(f"max_guesses must be at least 1, got {max_guesses}")
        self.low, self.high = int(low), int(high)
        self.max_guesses = int(max_guesses) if max_guesses is not None else needed
        self.task = (
            f"I am thinking of a whole number from {self.low} to {self.high}. Find it: after each guess I say "
            f"whether it is too low or too high. You have {self.max_guesses} guesses. Reply with a number."
        )
        self.secret = self.low
        self.guesses: list[int] = []
        self._bounds = (self.low, self.high)
        self._message = ""

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        task_seed = int(options.get("task_id", seed))
        self.secret = int(np.random.default_rng(task_seed).integers(self.low, self.high + 1))
        self.guesses = []
        self._bounds = (self.low, self.high)
        self._message = f"Guess the number from {self.low} to {self.high}."

    def _engine_step(self, command: int) -> tuple[SupportsFloat, bool, bool]:
        self.guesses.append(command)
        left = self.max_guesses - len(self.guesses)
        lo, hi = self._bounds
        if command == self.secret:
            self.won, self.score = True, 1.0
            self._message = f"{command} is correct! You found the number in {len(self.guesses)} guesses."
            return 1.0, True, False
        if command < self.secret:
            self._bounds = (max(lo, command + 1), hi)
            verdict = "too low"
        else:
            self._bounds = (lo, min(hi, command - 1))
            verdict = "too high"
        if left == 0:
            self._message = f"{command} is {verdict}. No guesses left: the number was {self.secret}."
            return 0.0, True, False
        self._message = f"{command} is {verdict}. Guesses left: {left}."
        return 0.0, False, False

    def _render(self) -> str:
        return self._message

    def parse_action(self, action: str) -> int | None:
        match = _GUESS.fullmatch(action.strip().rstrip(".!"))
        if match is None:
            return None
        value = int(match.group(1))
        return value if self.low <= value <= self.high else None

    def invalid_feedback(self, action: object) -> str:
        # The range, not the list of its numbers: the base class's list would be 300 SmolLM2 tokens for 1..100 in
        # every invalid turn's observation, kept in the history of every later prompt.
        return describe_invalid(action) + f" Reply with one whole number from {self.low} to {self.high}."

    def _admissible(self) -> list[str]:
        return [str(n) for n in range(self.low, self.high + 1)]

    def _compute_expert(self) -> str | None:
        if self.won or len(self.guesses) >= self.max_guesses:
            return None
        lo, hi = self._bounds
        return str((lo + hi) // 2)
