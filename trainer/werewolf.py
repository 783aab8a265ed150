"""Werewolf matches: seating players by side, the arena's win rates, and the scripted baselines.

``arena`` plays N seeded games between a werewolf-side player and a village-side player
(any :class:`~agentrl.agents.base.Agent`: the rule-based player, the random player, an
LLM) and reports each side's win rate with a Wilson 95% interval. A player given for a
side holds every seat of that side (a shared policy; its seats are separate episodes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.base import Agent
from agentrl.agents.scripted import ExpertAgent, RandomAgent
from agentrl.trainer.evaluate import wilson_interval
from agentrl.trainer.multiagent import Assign, GameResult, play_games

ENV_ID = "agentrl/Werewolf-v0"
SIDES = ("werewolves", "village")
SCRIPTED = ("rule", "random")


def side_of_seat(info: dict[str, Any]) -> str:
    """The side of the seat whose info this is."""
    return "werewolves" if info["werewolf"]["role"] == "werewolf" else "village"


def by_side(werewolves: Agent, village: Agent) -> Assign:
    """Seat every werewolf with ``werewolves`` and everyone else with ``village``."""
    return lambda seat, info: werewolves if side_of_seat(info) == "werewolves" else village


def scripted_player(kind: str, seed: int = 0) -> Agent:
    """``rule`` (the env's rule-based expert) or ``random`` (uniform over the admissible actions)."""
    if kind == "rule":
        return ExpertAgent()
    if kind == "random":
        return RandomAgent(seed)
    raise ValueError(f"unknown werewolf player {kind!r}: choose one of {', '.join(SCRIPTED)} (or llm from the CLI)")


def winner(result: GameResult) -> str | None:
    """``werewolves``, ``village`` or None (a truncated game)."""
    for info in result.final_info.values():
        if info.get("won"):
            return side_of_seat(info)
    return None


@dataclass
class ArenaResult:
    """Win counts of N games between two sides."""

    werewolves: str
    village: str
    games: int = 0
    wins: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    draws: int = 0
    seconds: float = 0.0
    invalid_rate: dict[str, float] = field(default_factory=dict)
    """Share of each side's moves that were invalid actions."""
    invalid_by_decision: dict[str, dict[str, int]] = field(default_factory=dict)
    """Each side's invalid actions counted by the decision they failed (kill, protect, check, say, vote)."""

    def add(self, result: GameResult) -> None:
        self.games += 1
        side = winner(result)
        if side is None:
            self.draws += 1
        else:
            self.wins[side] += 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "werewolves": self.werewolves,
            "village": self.village,
            "games": self.games,
            "draws": self.draws,
            "seconds": round(self.seconds, 3),
            "games_per_s": round(self.games / self.seconds, 2) if self.seconds else None,
        }
        for side in SIDES:
            low, high = wilson_interval(self.wins[side], self.games)
            out[f"{side}_win_rate"] = self.wins[side] / self.games if self.games else 0.0
            out[f"{side}_ci95"] = [round(low, 4), round(high, 4)]
        out["invalid_rate"] = self.invalid_rate
        out["invalid_by_decision"] = self.invalid_by_decision
        return out


def arena(
    make_env: Callable[[], Any],
    werewolves: Agent,
    village: Agent,
    seeds: Sequence[int],
    *,
    names: tuple[str, str] = ("werewolves", "village"),
    concurrency: int = 16,
    on_game: Callable[[GameResult], None] | None = None,
) -> ArenaResult:
    """Play one game per seed between the two sides; see the module docstring."""
    out = ArenaResult(*names)
    moves = dict.fromkeys(SIDES, 0)
    invalid = dict.fromkeys(SIDES, 0)
    by_decision: dict[str, dict[str, int]] = {s: {} for s in SIDES}

    def record(result: GameResult) -> None:
        out.add(result)
        for trajectory in result.trajectories.values():
            for turn in trajectory.turns:
                side = side_of_seat(turn.info) if turn.info else None
                if side is not None:
                    moves[side] += 1
                    if turn.info.get("invalid_action"):
                        invalid[side] += 1
                        decision = str(turn.info.get("invalid_decision", "unknown"))
                        by_decision[side][decision] = by_decision[side].get(decision, 0) + 1
        if on_game is not None:
            on_game(result)

    start = time.perf_counter()
    play_games(make_env, by_side(werewolves, village), seeds, env_id=ENV_ID, concurrency=concurrency, on_game=record)
    out.seconds = time.perf_counter() - start
    out.invalid_rate = {s: round(invalid[s] / moves[s], 4) if moves[s] else 0.0 for s in SIDES}
    out.invalid_by_decision = {s: dict(sorted(by_decision[s].items())) for s in SIDES}
    return out
