"""``agentrl play``: play any env in the terminal, or watch the expert or a random agent.

The expert and the random agent are :mod:`agentrl.agents.scripted`'s, the same players
``agentrl eval agent=expert|random`` evaluates; here the expert falls back to a random
admissible action in a state where it has no move.

Each turn shows the observation, the admissible actions, the reward and whether the
episode is over. In a multi-agent (PettingZoo) env a person sees only the observations of
the seats they play, never the other seats' moves (in Werewolf those include night
actions); the whole game is shown once it is over. When no person plays, every seat's move
is echoed. Typing ``help`` lists the commands (``actions``, ``hint``, ``reset``,
``quit``); anything else is sent to the env as the action, exactly as an LLM agent's
utterance would be. A line ending in ``<<<`` starts a multi-line action (CodeTask's
``write``/``edit``), ended by a line ``>>>``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentrl.cli.config import env_overrides, load, store
from agentrl.cli.validate import add_rules, at_least, one_of
from agentrl.envs.config import EnvConfig

HELP = """Commands:
  help      show this help
  actions   list the admissible actions
  hint      show the expert's action (when the env has an expert)
  reset     start a new episode
  quit      leave (also: exit, Ctrl-D)
Anything else is sent to the env as your action.
Multi-line actions: end a line with <<< and type the rest, then a line >>> sends it all, e.g.
  > edit stats.py <<<
  ... <<<<<<< SEARCH
  ...     return ordered[mid]
  ... =======
  ...     return (ordered[mid - 1] + ordered[mid]) / 2
  ... >>>>>>> REPLACE
  ... >>>"""


@dataclass
class PlayConfig:
    """Settings of ``agentrl play``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The env (``env=NAME`` picks a file of ``configs/env``)."""
    seed: int = 0
    """Seed of the first episode; episode k uses ``seed + k``."""
    player: str = "human"
    """Who acts: ``human`` (you, through stdin), ``expert`` or ``random``."""
    opponent: str = "expert"
    """Who plays the seats not in ``seats`` of a multi-agent env: ``expert`` or ``random``."""
    seats: list[str] = field(default_factory=list)
    """Seats of a multi-agent env that ``player`` plays (empty: all of them)."""
    episodes: int = 1
    """Episodes to play before exiting."""
    record: str = ""
    """A dataset folder to write the single-agent episodes played into (agentrl's trajectory format: JSONL shards
    and a manifest, screenshots as PNG files in ``images/``; no token ids); '' : none. It must not hold a dataset."""
    image_file: str = ""
    """Write the env's screenshot (``info["image"]``) to this PNG file after every reset and step, to watch a visual
    env (Device, MiniWoB, WebShop-Browser) in an image viewer while playing; '' : none."""


store("play_schema", PlayConfig)

_AGENTS = ("human", "expert", "random")
add_rules(PlayConfig, player=one_of(*_AGENTS), opponent=one_of("expert", "random"), episodes=at_least(1))


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "play",
        help="play an env in the terminal",
        description="Play an env in the terminal. Extra KEY=VALUE arguments are Hydra overrides "
        "(e.g. env.kwargs.size=8 episodes=3).",
    )
    parser.add_argument("env", help="a short name (see 'agentrl envs'), a registered or gymnasium id, or module:Class")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first episode (default 0)")
    parser.add_argument("--agent", choices=_AGENTS, default=None, help="who acts (default: human)")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    flags = [f"seed={args.seed}"] if args.seed is not None else []
    flags += [f"player={args.agent}"] if args.agent is not None else []
    # `agent=` names the agent config group of train/eval; in play it is the player (human, expert, random).
    overrides = [f"player={o.split('=', 1)[1]}" if o.startswith("agent=") else o for o in overrides]
    cfg = load("play", [*env_overrides(args.env), *flags, *overrides], PlayConfig)
    from pettingzoo import AECEnv

    from agentrl.factory import make_from_config

    env = make_from_config(cfg.env)
    try:
        session = _Session(cfg, input, print)
        if isinstance(env, AECEnv):
            session.play_aec(env)
        else:
            session.play_single(env)
    finally:
        env.close()
    return 0


class _Quit(Exception):
    pass


class _Session:
    """One terminal session; ``read``/``write`` are swappable for tests."""

    def __init__(self, cfg: PlayConfig, read: Callable[[str], str], write: Callable[[str], None]):
        from agentrl.agents.scripted import ExpertAgent, RandomAgent

        self.cfg, self.read, self.write = cfg, read, write
        self.scripted: dict[str, Any] = {"expert": ExpertAgent(fallback_seed=cfg.seed), "random": RandomAgent(cfg.seed)}
        self.handles: dict[Any, Any] = {}
        """The scripted players' episode handles, by (episode seed, seat)."""

    def _scripted(self, kind: str, seed: int, seat: str, obs: str, info: dict[str, Any]) -> str:
        from agentrl.agents.base import EpisodeStart, text_step

        agent, key = self.scripted[kind], (kind, seed, seat)
        if key not in self.handles:
            self.handles[key] = agent.start_episode(EpisodeStart(self.cfg.env.id, seed, obs, dict(info)))
        else:
            agent.observe(self.handles[key], text_step(""), obs, dict(info))
        return str(agent.act([self.handles[key]])[0].action)

    def _show(self, obs: str, info: dict[str, Any], who: str = "") -> None:
        self.write(f"\n--- observation{f' ({who})' if who else ''} ---\n{obs}")
        if info.get("admissible_actions"):
            self.write("Actions: " + ", ".join(info["admissible_actions"]))

    def _choose(self, kind: str, info: dict[str, Any], prompt: str, where: tuple[int, str, str]) -> str | None:
        """An action from ``kind`` (``where``: episode seed, seat, observation); None to start a new episode.
        Raises _Quit to leave."""
        if kind in self.scripted:
            seed, seat, obs = where
            return self._scripted(kind, seed, seat, obs, info)
        while True:
            try:
                line = self.read(prompt)
            except EOFError:
                raise _Quit from None
            if line.rstrip().endswith("<<<"):
                block = self._read_block(line.rstrip()[:-3].rstrip())
                if block.strip():
                    return block
                self.write("Empty action: nothing sent.")
                continue
            command = line.strip().lower()
            if command in ("quit", "exit", "q"):
                raise _Quit
            if command == "help":
                self.write(HELP)
            elif command == "actions":
                self.write(", ".join(info.get("admissible_actions") or []) or "This env does not list its actions.")
            elif command == "hint":
                self.write(f"Expert: {info.get('expert_action') or 'no expert action here'}")
            elif command == "reset":
                return None
            else:
                return line

    def _read_block(self, first: str) -> str:
        """A multi-line action: ``first`` and the lines typed after it, up to a line ``>>>`` (or Ctrl-D)."""
        lines = [first] if first else []
        while True:
            try:
                line = self.read("... ")
            except EOFError:
                break
            if line.strip() == ">>>":
                break
            lines.append(line)
        return "\n".join(lines)

    def _image(self, info: dict[str, Any]) -> None:
        if self.cfg.image_file and isinstance(info.get("image"), bytes):
            from pathlib import Path

            Path(self.cfg.image_file).write_bytes(info["image"])

    def play_single(self, env: Any) -> None:
        self.write(f"Playing {self.cfg.env.id}. Type 'help' for commands.")
        writer = None
        if self.cfg.record:
            from dataclasses import asdict

            from agentrl.agents.dataset import DatasetWriter

            env_record = {
                "id": self.cfg.env.id,
                "split": self.cfg.env.kwargs.get("split"),
                "config": asdict(self.cfg.env),
            }
            writer = DatasetWriter(self.cfg.record, env=env_record, agent={"kind": self.cfg.player}, shard_size=1)
        try:
            self._play_single(env, writer)
        finally:
            if writer is not None:
                path = writer.close()
                self.write(f"Recorded {writer.manifest.episodes} episode(s) in {path}")

    def _play_single(self, env: Any, writer: Any) -> None:
        from agentrl.agents.types import Trajectory, Turn

        try:
            for episode in range(self.cfg.episodes):
                seed = self.cfg.seed + episode
                obs, info = env.reset(seed=seed)
                self._image(info)
                record = Trajectory(self.cfg.env.id, seed, str(seed), episode, obs, str(info.get("task", "")))
                self.write(f"\n=== episode {episode + 1}, seed {seed} ===\nTask: {info.get('task', '')}")
                self._show(obs, info)
                ret, steps = 0.0, 0
                while True:
                    action = self._choose(self.cfg.player, info, "> ", (seed, "", obs))
                    if action is None:
                        break
                    if self.cfg.player != "human":
                        self.write(f"> {action}")
                    obs, reward, terminated, truncated, info = env.step(action)
                    ret, steps = ret + float(reward), steps + 1
                    self._image(info)
                    turn = Turn([], [], [], action, obs, float(reward), bool(terminated), bool(truncated), dict(info))
                    record.turns.append(turn)
                    self._show(obs, info)
                    flags = " (invalid action)" if info.get("invalid_action") else ""
                    self.write(f"Reward: {float(reward):g}  Return: {ret:g}  Done: {terminated or truncated}{flags}")
                    if terminated or truncated:
                        outcome = "won" if info.get("won") else ("truncated" if truncated else "lost")
                        self.write(
                            f"Episode over after {steps} step{'s' * (steps != 1)}: {outcome}, "
                            f"return {ret:g}, score {info.get('score')}"
                        )
                        break
                if writer is not None and record.turns:
                    writer.add(record)
        except _Quit:
            self.write("Bye.")

    def play_aec(self, env: Any) -> None:
        self.write(f"Playing {self.cfg.env.id}. Type 'help' for commands.")
        seats = set(self.cfg.seats or env.possible_agents)
        unknown = seats - set(env.possible_agents)
        if unknown:
            raise ValueError(f"unknown seats {sorted(unknown)}; this env has {env.possible_agents}")
        # A person at the table sees only what their seats observe: the other seats' moves (a werewolf's
        # attack, the seer's check, a secret vote) reach them only as far as their own observation tells.
        # With no person playing, every move is echoed, as a spectator would want.
        human = self.cfg.player == "human"
        if human and env.render_mode == "human":
            raise ValueError(
                "render_mode=human prints every seat's moves as they happen, which would show you the other "
                "seats' secrets: drop env.kwargs.render_mode to play a seat (the whole game is shown at the end)"
            )
        try:
            for episode in range(self.cfg.episodes):
                seed = self.cfg.seed + episode
                env.reset(seed=seed)
                self.write(f"\n=== game {episode + 1}, seed {seed} ===")
                restart = False
                for agent in env.agent_iter():
                    obs, reward, terminated, truncated, info = env.last()
                    kind = self.cfg.player if agent in seats else self.cfg.opponent
                    if terminated or truncated:
                        if not human or kind == "human":
                            if kind == "human":
                                self._show(obs, {}, agent)
                            self.write(f"{agent}: final reward {float(reward):g}")
                        env.step(None)
                        continue
                    if kind == "human":
                        self._show(obs, info, agent)
                    action = self._choose(kind, info, f"[{agent}]> ", (seed, agent, obs))
                    if action is None:
                        restart = True
                        break
                    if not human:
                        self.write(f"{agent}> {action}")
                    env.step(action)
                if not restart:
                    # the game is over: the narrator's view (every seat's moves) is no longer a secret
                    self.write("\nFinal position:\n" + str(env.render() if env.render_mode != "human" else ""))
        except _Quit:
            self.write("Bye.")
