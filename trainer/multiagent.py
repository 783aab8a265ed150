"""Playing multi-agent (PettingZoo AEC) text envs with Agent-protocol players: per-seat trajectories.

The trainer's rollouts play single-agent envs (``trainer/rollout.py``); this module is
their counterpart for AEC envs such as Werewolf and TicTacToe. Each seat is an episode
of the agent that plays it: the agent gets ``start_episode`` at the seat's first turn,
``act`` for each of its moves, ``observe`` with what the seat sees at its next turn,
and ``end_episode`` with the seat's :class:`Trajectory` when the game ends for it. One
agent may hold several seats (a shared policy: self-play, or both werewolves) and play
many games at once: every seat waiting for the same agent across the running games goes
into one ``act`` call (one generation batch for a model).

A turn's reward is what the seat received between its move and its next turn (or the
end of the game); rewards a seat receives before its first move are counted in
:attr:`GameResult.returns` but belong to no turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.base import Agent, AgentStep, EpisodeStart
from agentrl.agents.types import Trajectory, Turn, expert_action_of

Assign = Callable[[str, dict[str, Any]], Agent]
"""Who plays a seat: called with the seat's name and its info at its first turn (a role is known by then)."""


@dataclass
class GameResult:
    """One finished game."""

    seed: int
    trajectories: dict[str, Trajectory]
    """Each seat's episode (a seat that never moved has no turns)."""
    returns: dict[str, float]
    """Each seat's total reward."""
    final_info: dict[str, dict[str, Any]]
    """Each seat's info when the game ended for it."""
    players: dict[str, Agent] = field(default_factory=dict)
    """Who played each seat."""

    def won(self, seat: str) -> bool:
        return bool(self.final_info.get(seat, {}).get("won", False))


@dataclass
class _Seat:
    agent: Agent
    handle: Any
    trajectory: Trajectory
    pending: tuple[AgentStep, Turn] | None = None
    expert_action: str | None = None
    """The env's expert action for this seat in the state it is about to act in."""


@dataclass
class _Game:
    env: Any
    seed: int
    index: int
    seats: dict[str, _Seat] = field(default_factory=dict)
    returns: dict[str, float] = field(default_factory=dict)
    final_info: dict[str, dict[str, Any]] = field(default_factory=dict)


def _advance(game: _Game, assign: Assign, env_id: str) -> tuple[str, _Seat] | None:
    """Settle what happened since the seats last moved; the seat to move next, or None when the game is over."""
    env = game.env
    while env.agents:
        name = env.agent_selection
        obs, reward, terminated, truncated, info = env.last()
        done = bool(terminated or truncated)
        game.returns[name] = game.returns.get(name, 0.0) + float(reward)
        seat = game.seats.get(name)
        if seat is None:
            agent = assign(name, info)
            start = EpisodeStart(env_id, game.seed, obs, dict(info))
            trajectory = Trajectory(
                env_id=env_id,
                seed=game.seed,
                task_id=f"{game.seed}/{name}",
                group_id=game.index,
                initial_observation=obs,
                task=start.task,
            )
            seat = game.seats[name] = _Seat(agent, agent.start_episode(start), trajectory)
        elif seat.pending is not None:
            step, turn = seat.pending
            seat.pending = None
            turn.observation_text, turn.reward = obs, float(reward)
            turn.terminated, turn.truncated, turn.info = bool(terminated), bool(truncated), dict(info)
            if not done:
                seat.agent.observe(seat.handle, step, obs, info)
        if done:
            game.final_info[name] = dict(info)
            seat.agent.end_episode(seat.handle, seat.trajectory)
            env.step(None)
            continue
        seat.expert_action = expert_action_of(info)
        return name, seat
    return None


def play_games(
    make_env: Callable[[], Any],
    assign: Assign,
    seeds: Sequence[int],
    *,
    env_id: str,
    concurrency: int = 16,
    on_game: Callable[[GameResult], None] | None = None,
) -> list[GameResult]:
    """Play one game per seed, ``concurrency`` at a time; results in seed order.

    Args:
        make_env: Builds a fresh AEC env (one per concurrent game).
        assign: Who plays each seat (see :data:`Assign`); return the same agent for seats it should share.
        seeds: The games' reset seeds.
        env_id: Recorded in the trajectories.
        concurrency: Games played at once (their waiting seats share one ``act`` call per agent).
        on_game: Called with each result as its game ends.
    """
    queue = list(enumerate(seeds))
    envs = [make_env() for _ in range(max(1, min(concurrency, len(queue))))]
    running: list[_Game] = []
    results: dict[int, GameResult] = {}
    try:
        while queue or running:
            while queue and len(running) < len(envs):
                index, seed = queue.pop(0)
                used = {id(g.env) for g in running}
                env = next(e for e in envs if id(e) not in used)
                env.reset(seed=seed)
                running.append(_Game(env, seed, index))
            waiting: dict[int, tuple[Agent, list[tuple[_Game, _Seat]]]] = {}
            for game in list(running):
                nxt = _advance(game, assign, env_id)
                if nxt is None:
                    running.remove(game)
                    result = GameResult(
                        game.seed,
                        {n: s.trajectory for n, s in game.seats.items()},
                        game.returns,
                        game.final_info,
                        {n: s.agent for n, s in game.seats.items()},
                    )
                    results[game.index] = result
                    if on_game is not None:
                        on_game(result)
                    continue
                _, seat = nxt
                waiting.setdefault(id(seat.agent), (seat.agent, []))[1].append((game, seat))
            for agent, items in waiting.values():
                steps = agent.act([seat.handle for _, seat in items])
                for (game, seat), step in zip(items, steps, strict=True):
                    turn = Turn(
                        prompt_ids=list(step.prompt_ids),
                        response_ids=list(step.completion.token_ids),
                        response_logprobs=list(step.completion.logprobs),
                        action_text=step.action,
                        observation_text="",
                        reward=0.0,
                        terminated=False,
                        truncated=False,
                        response_text=step.completion.text,
                        expert_action=seat.expert_action,
                    )
                    seat.trajectory.turns.append(turn)
                    seat.pending = (step, turn)
                    game.env.step(step.action)
    finally:
        for env in envs:
            env.close()
    return [results[i] for i in sorted(results)]
