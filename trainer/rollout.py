"""Batched multi-turn rollouts: N envs, one generation call per step of all of them.

:func:`collect` plays ``len(seeds) * group_size`` episodes on at most ``num_envs``
envs at a time. Every env waiting for an action joins one generation batch; when an
episode ends its env resets onto the next pending episode. The ``group_size`` copies
of a seed form a group (``Trajectory.group_id``), as GRPO/GiGPO need. Envs that finish
together reset together, so slow resets (a PDDL translation, a browser page) overlap
where envs run in workers. Each turn keeps the token ids the model saw and produced,
straight from the backend.

Envs run where ``RolloutConfig.executor`` says (:mod:`agentrl.trainer.env_pool`): in
this process, in worker processes or on threads; remote envs (``env.remote``) are
ordinary envs here, best stepped on threads.

``mode="async"`` overlaps env steps with generation: the envs are split into
``waves``, and while one wave's envs step (in workers, threads or actors) the model
generates for the next wave. It pays when env steps cost about as much as generation
(simulators, browsers, remote envs); with the ``inline`` executor nothing can overlap
and it behaves like ``sync``. Each wave is a smaller generation batch, and sampled
tokens depend on the batch a prompt is in, so sampled episodes differ from ``sync``
ones (greedy ones do not).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentrl.agents.base import Agent, AgentStep, EpisodeStart
from agentrl.agents.types import Trajectory, Turn, expert_action_of
from agentrl.trainer.env_pool import make_pool

logger = logging.getLogger(__name__)

MODES = ("sync", "async")


@dataclass
class RolloutConfig:
    """How many episodes to play and how."""

    num_envs: int = 8
    """Envs stepped concurrently (the generation batch size)."""
    group_size: int = 1
    """Same-seed copies of each task (a group)."""
    max_turns: int = 30
    """Turns after which an episode is cut (marked truncated)."""
    executor: str = "inline"
    """Where envs run: ``inline``, ``subprocess`` (a process per env), ``thread`` or ``ray`` (an actor per env)."""
    mode: str = "sync"
    """``sync`` (generate for all waiting envs, then step them all) or ``async`` (overlap, see the module doc)."""
    waves: int = 2
    """In ``async`` mode: groups of envs that take turns generating while the others step."""


@dataclass
class _Slot:
    index: int
    trajectory: Trajectory | None = None
    episode: Any = None
    """The agent's handle for the episode in this slot."""
    expert_action: str | None = None
    """The env's expert action in the state the episode is in (recorded on the turn that acts in it)."""


def collect(
    env_factory: Callable[[], Any],
    agent: Agent,
    seeds: Sequence[int],
    config: RolloutConfig | None = None,
    *,
    env_id: str = "",
    on_episode: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Play every seed ``group_size`` times; return the trajectories in (seed, copy) order.

    Args:
        env_factory: Builds one env (called at most ``num_envs`` times).
        agent: Who plays (any :class:`~agentrl.agents.base.Agent`); it hears of every episode's
            start, steps and end.
        seeds: Reset seeds, one task each.
        config: Batch size, group size and turn limit.
        env_id: Recorded in each trajectory (defaults to the env's spec id).
        on_episode: Called with each finished trajectory (progress bars, logging).
    """
    config = config or RolloutConfig()
    if config.num_envs < 1 or config.group_size < 1 or config.max_turns < 1:
        raise ValueError("num_envs, group_size and max_turns must be at least 1")
    if config.mode not in MODES:
        raise ValueError(f"rollout.mode must be one of {MODES}, got {config.mode!r}")
    if config.waves < 1:
        raise ValueError(f"rollout.waves must be at least 1, got {config.waves}")
    pending = deque(
        (index * config.group_size + copy, seed, index)
        for index, seed in enumerate(seeds)
        for copy in range(config.group_size)
    )
    results: dict[int, Trajectory] = {}
    if not pending:
        return []
    pool = make_pool(config.executor, env_factory, min(config.num_envs, len(pending)))
    env_id = env_id or pool.spec_id or "unknown"
    order: dict[int, int] = {}

    def start(slots: list[_Slot]) -> set[int]:
        """Reset ``slots`` onto the next pending episodes, all at once; the indices that got one."""
        assigned = []
        for slot in slots:
            if pending:
                assigned.append((slot, pending.popleft()))
            else:
                slot.trajectory = None
        outcomes = pool.reset_many([(slot.index, seed) for slot, (_, seed, _) in assigned])
        for (slot, (position, seed, group)), (observation, info) in zip(assigned, outcomes, strict=True):
            slot.trajectory = Trajectory(
                env_id=env_id,
                seed=int(seed),
                task_id=str(seed),
                group_id=group,
                initial_observation=observation,
                task=str(info.get("task", "")),
            )
            order[id(slot.trajectory)] = position
            slot.expert_action = expert_action_of(info)
            slot.episode = agent.start_episode(EpisodeStart(env_id, int(seed), observation, dict(info)))
        return {slot.index for slot, _ in assigned}

    def advance(active: list[_Slot], steps: list[AgentStep], outcomes: list[Any]) -> list[_Slot]:
        """Record one step of ``active``; return the slots with an episode still to play."""
        going, finished = set(), []
        for slot, step, outcome in zip(active, steps, outcomes, strict=True):
            observation, reward, terminated, truncated, info = outcome
            trajectory = slot.trajectory
            assert trajectory is not None
            cut = not (terminated or truncated) and len(trajectory.turns) + 1 >= config.max_turns
            trajectory.turns.append(
                Turn(
                    prompt_ids=step.prompt_ids,
                    response_ids=list(step.completion.token_ids),
                    response_logprobs=list(step.completion.logprobs),
                    action_text=step.action,
                    observation_text=observation,
                    reward=float(reward),
                    terminated=bool(terminated),
                    truncated=bool(truncated or cut),
                    info=dict(info),
                    response_text=step.completion.text,
                    expert_action=slot.expert_action,
                    repaired_from=step.repaired_from,
                )
            )
            slot.expert_action = expert_action_of(info)
            if terminated or truncated or cut:
                results[order.pop(id(trajectory))] = trajectory
                agent.end_episode(slot.episode, trajectory)
                if on_episode is not None:
                    on_episode(trajectory)
                finished.append(slot)
            else:
                agent.observe(slot.episode, step, observation, info)
                going.add(slot.index)
        going |= start(finished)  # the finished envs reset together (slow resets overlap in workers)
        return [slot for slot in active if slot.index in going]

    # Wave w holds the envs i with i % waves == w. Each wave in turn collects its last
    # step's outcomes, then generates and submits its next step, so that generating for
    # one wave overlaps the steps of the others. One wave is the synchronous loop.
    n_waves = min(config.waves, len(pool)) if config.mode == "async" else 1
    waves = [[_Slot(index) for index in range(w, len(pool), n_waves)] for w in range(n_waves)]
    try:
        started = start([slot for wave in waves for slot in wave])
        active = [[slot for slot in wave if slot.index in started] for wave in waves]
        in_flight: list[tuple[list[_Slot], list[AgentStep], Any] | None] = [None] * n_waves
        while any(active) or any(flight is not None for flight in in_flight):
            for w in range(n_waves):
                flight = in_flight[w]
                if flight is not None:
                    in_flight[w] = None
                    active[w] = advance(flight[0], flight[1], pool.wait(flight[2]))
                if active[w]:
                    steps = agent.act([slot.episode for slot in active[w]])
                    actions = [(slot.index, step.action) for slot, step in zip(active[w], steps, strict=True)]
                    in_flight[w], active[w] = (active[w], steps, pool.submit(actions)), []
    finally:
        pool.close()
    return [results[i] for i in sorted(results)]
