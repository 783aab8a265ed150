"""Werewolf as a PettingZoo AEC text env (``agentrl/Werewolf-v0``).

Seats ``player_1`` .. ``player_n``. Each seat's observation is the text of what that
player has seen since it last acted (announcements, speeches in quotes, revealed votes,
and its own private news marked ``[private]``), then its standing knowledge (role, a
werewolf's partners, the seer's checks, the doctor's last protection), who is alive,
and what it must do now. ``info["werewolf"]`` holds the same knowledge as data (the
rule-based players read it). Nothing a seat is not allowed to know reaches its
observation or info; ``tests/envs/test_werewolf.py`` checks this over 1,000 games.

Actions are free text with the action inside (see :mod:`agentrl.envs.werewolf.actions`);
an unparseable or impossible one gets feedback, ``info["invalid_action"]`` (with
``info["invalid_decision"]``, the decision it failed: kill, protect, check, say or vote, and
``info["invalid_reason"]``) and the same player moves again. ``expert_action`` is the rule-based player's move
(:mod:`agentrl.envs.werewolf.rule_player`), so ``agentrl play werewolf`` and the
``ExpertAgent`` play it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pettingzoo import AECEnv

from agentrl.envs.spaces import TextSpace
from agentrl.envs.werewolf import actions
from agentrl.envs.werewolf.game import (
    DISCUSSION,
    DOCTOR,
    NIGHT,
    REWARDS,
    SEER,
    VILLAGER,
    VOTE,
    WEREWOLF,
    Game,
    side_of,
)
from agentrl.envs.werewolf.rule_player import RulePlayer, WolfPlan

_MAX_NEWS_LINES = 60


def seat_name(seat: int) -> str:
    return f"player_{seat}"


def seat_number(agent: str) -> int:
    return int(agent.rsplit("_", 1)[1])


def _names(seats: list[int] | set[int]) -> str:
    return ", ".join(f"Player {s}" for s in sorted(seats)) or "nobody"


def rules_text(deck: list[str], discussion_rounds: int) -> str:
    """The instructions of a game with ``deck`` (one role per seat) and ``discussion_rounds``."""
    counts = {r: deck.count(r) for r in (WEREWOLF, SEER, DOCTOR, VILLAGER)}
    plural = {WEREWOLF: "werewolves", SEER: "seers", DOCTOR: "doctors", VILLAGER: "villagers"}
    cast = ", ".join(f"{n} {plural[r] if n > 1 else r}" for r, n in counts.items() if n)
    return (
        f"You are playing Werewolf with {len(deck)} players (Player 1 to Player {len(deck)}): {cast}. "
        "The werewolves know each other; everyone else only knows their own role. Each night the werewolves "
        "attack a player (kill N), the seer learns whether one player is a werewolf (check N) and the doctor "
        "protects one player from the attack (protect N). Each day the night's death is announced, then "
        f"everyone alive speaks in turn ({discussion_rounds} round(s); say: MESSAGE, or pass), then "
        "everyone votes (vote N, or vote none); the player with the most votes is exiled, and a tie exiles "
        "nobody. Roles are not revealed on death. The village wins when no werewolf is left; the werewolves "
        "win when they are as many as the others. Reply with exactly one action of the kind asked for."
    )


_DEFAULT_DECK = [WEREWOLF] * 2 + [SEER, DOCTOR] + [VILLAGER] * 3


class WerewolfEnv(AECEnv):
    """The Werewolf party game for LLM agents, one seat per agent.

    Args:
        werewolves: Number of werewolves.
        seers: Number of seers (0 or 1).
        doctors: Number of doctors (0 or 1).
        villagers: Number of plain villagers.
        discussion_rounds: Rounds of speeches each day before the vote (each living player speaks once a round).
        max_days: Days before a game without a winner is truncated.
        rewards: ``win`` (+1 to the winning side, -1 to the losing side, at the end) or ``lspo`` (LSPO's shaped
            rewards: win +-300, +5 per survived day, village votes +-20, eliminated -10, opponent eliminated +5,
            teammate eliminated -5).
        max_invalid: After this many invalid replies in a row a seat's move is played for it (pass, abstain, no
            night action) so that a model that never writes a valid action cannot stall a game; None never does.
        expert: Put the rule-based player's move in the mover's ``info["expert_action"]``.
        log_path: Append each finished game to this JSONL file (one line per game: seed, roles, every event).
        render_mode: ``"ansi"`` (``render()`` returns the full log as text) or ``"human"`` (prints it).
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (PettingZoo declares it so)
        "name": "werewolf_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": False,
    }
    instructions: ClassVar[str] = rules_text(_DEFAULT_DECK, 2)
    """The default game's instructions; :meth:`instructions_text` gives those of the env's own counts (what
    ``info["instructions"]`` holds)."""

    def __init__(
        self,
        *,
        werewolves: int = 2,
        seers: int = 1,
        doctors: int = 1,
        villagers: int = 3,
        discussion_rounds: int = 2,
        max_days: int = 10,
        rewards: str = "win",
        max_invalid: int | None = None,
        expert: bool = True,
        log_path: str | None = None,
        render_mode: str | None = None,
    ):
        super().__init__()
        if rewards not in REWARDS:
            raise ValueError(f"rewards={rewards!r}: choose one of {', '.join(REWARDS)}")
        if werewolves < 1 or seers not in (0, 1) or doctors not in (0, 1) or villagers < 0:
            raise ValueError("werewolf counts: werewolves >= 1, seers and doctors 0 or 1, villagers >= 0")
        others = seers + doctors + villagers
        if werewolves >= others:
            raise ValueError(
                f"{werewolves} werewolves against {others} others win at once: give fewer werewolves or more villagers"
            )
        if discussion_rounds < 0 or max_days < 1:
            raise ValueError("discussion_rounds must be >= 0 and max_days >= 1")
        self.deck = [WEREWOLF] * werewolves + [SEER] * seers + [DOCTOR] * doctors + [VILLAGER] * villagers
        self.discussion_rounds, self.max_days = discussion_rounds, max_days
        self.reward_mode, self.weights = rewards, REWARDS[rewards]
        self.max_invalid, self.expert, self.log_path = max_invalid, expert, log_path
        self.render_mode = render_mode
        self.possible_agents = [seat_name(i + 1) for i in range(len(self.deck))]
        self._spaces = {agent: TextSpace(32768) for agent in self.possible_agents}
        self.game = Game(roles={i + 1: r for i, r in enumerate(self.deck)}, discussion_rounds=discussion_rounds)
        self.seed_used: int | None = None
        self.events: list[dict[str, Any]] = []
        """This game's events (what the JSONL log holds), each with ``visible_to``: ``"all"`` or seat numbers."""
        self._news: dict[int, list[tuple[str, bool]]] = {}
        self._seen: dict[int, int] = {}
        self._feedback: dict[int, str] = {}
        self._invalid_run: dict[int, int] = {}
        self._claims: list[dict[str, Any]] = []
        self._vote_log: list[dict[str, Any]] = []
        self._deaths: list[dict[str, Any]] = []
        self._protections: dict[int, list[int]] = {}
        self._players: dict[int, RulePlayer] = {}
        self._expert_cache: dict[int, tuple[int, str]] = {}
        self._acted: set[str] = set()
        self._steps = 0
        self._decision = 0
        self._returns: dict[str, float] = {}

    def observation_space(self, agent: str) -> TextSpace:
        return self._spaces[agent]

    def action_space(self, agent: str) -> TextSpace:
        return self._spaces[agent]

    def instructions_text(self) -> str:
        """What every player must know to act: the rules and the action grammar, for this env's counts."""
        return rules_text(self.deck, self.discussion_rounds)

    # ---- text ----

    def _tell(self, seat: int, text: str, private: bool = False) -> None:
        self._news[seat].append((("[private] " if private else "") + text, private))

    def _render_event(self, event: dict[str, Any]) -> list[tuple[list[int], str, bool]]:
        """(seats, line, private) for each line ``event`` shows."""
        everyone = self.game.seats
        kind = event["event"]
        who = f"Player {event.get('actor')}"
        if kind == "kill_choice":
            target = "nobody" if event["target"] is None else f"Player {event['target']}"
            return [(event["visible_to"], f"Werewolf {who} chose to attack {target} tonight.", True)]
        if kind == "protect":
            target = "nobody" if event["target"] is None else f"Player {event['target']}"
            return [(event["visible_to"], f"You protect {target} tonight.", True)]
        if kind == "check":
            if event["target"] is None:
                return [(event["visible_to"], "You checked nobody tonight.", True)]
            result = "is a werewolf" if event["werewolf"] else "is not a werewolf"
            return [(event["visible_to"], f"Your check: Player {event['target']} {result}.", True)]
        if kind == "speech":
            line = f'{who} said: "{event["text"]}"' if event["text"] else f"{who} passed."
            return [(everyone, line, False)]
        if kind == "vote_cast":
            target = "nobody" if event["target"] is None else f"Player {event['target']}"
            return [(event["visible_to"], f"You voted for {target}.", True)]
        if kind == "votes":
            parts = [f"Player {v} -> {'none' if t is None else f'Player {t}'}" for v, t in event["votes"].items()]
            return [(everyone, f"Votes of day {event['day']}: " + "; ".join(parts) + ".", False)]
        if kind == "killed":
            return [
                (everyone, f"Morning of day {event['day']}: Player {event['target']} was killed in the night.", False)
            ]
        if kind == "no_death":
            return [(everyone, f"Morning of day {event['day']}: nobody died in the night.", False)]
        if kind == "exiled":
            return [(everyone, f"Player {event['target']} was exiled by the vote.", False)]
        if kind == "no_exile":
            return [(everyone, "The vote was tied or empty: nobody was exiled.", False)]
        if kind == "phase":
            if event["phase"] == NIGHT:
                return [(everyone, f"Night {event['day']} falls.", False)]
            if event["phase"] == VOTE:
                return [(everyone, f"Day {event['day']}: the discussion is over; time to vote.", False)]
            return [(everyone, f"Day {event['day']}, discussion round {event['round']}.", False)]
        if kind == "end":
            if event["winner"] is None:
                line = f"The game ended after {self.max_days} days without a winner."
            else:
                line = f"The game is over: the {event['winner']} win."
            return [(everyone, line, False)]
        return []

    def _record(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            event = {"step": self._steps, **event}
            self.events.append(event)
            for seats, line, private in self._render_event(event):
                for seat in seats:
                    self._tell(seat, line, private)
            kind = event["event"]
            if kind == "speech" and event["text"]:
                self._claims.append(
                    {"day": self.game.day, "speaker": event["actor"], **actions.claims_in(event["text"])}
                )
            elif kind == "votes":
                self._vote_log.append({"day": event["day"], "votes": dict(event["votes"])})
            elif kind in ("killed", "exiled"):
                self._deaths.append({"day": event["day"], "seat": event["target"], "how": kind})
            elif kind == "protect" and event["target"] is not None:
                self._protections[event["actor"]].append(event["target"])

    def knowledge(self, seat: int) -> dict[str, str]:
        """What ``seat`` knows of roles: seat number (as str) -> role, or ``werewolf``/``not a werewolf``."""
        game = self.game
        known = {str(seat): game.roles[seat]}
        if game.roles[seat] == WEREWOLF:
            known.update({str(w): WEREWOLF for w in game.wolves()})
        if game.roles[seat] == SEER:
            known.update({str(t): WEREWOLF if wolf else "not a werewolf" for t, wolf in game.checks.items()})
        return known

    def _status(self, seat: int) -> str:
        game, role = self.game, self.game.roles[seat]
        lines = [f"You are Player {seat}. Your role: {role} ({side_of(role)} side)."]
        if role == WEREWOLF:
            partners = [w for w in game.wolves() if w != seat]
            lines.append(f"[private] Your fellow werewolves: {_names(partners)}.")
        if role == SEER and game.checks:
            results = [
                f"Player {t} is {'a werewolf' if w else 'not a werewolf'}" for t, w in sorted(game.checks.items())
            ]
            lines.append("[private] Your checks so far: " + "; ".join(results) + ".")
        if role == DOCTOR and self._protections[seat]:
            lines.append(f"[private] Last night you protected Player {self._protections[seat][-1]}.")
        lines.append(f"Alive: {_names(game.alive)}.")
        if game.winner is not None or game.truncated:
            mine = side_of(role)
            result = "nobody won" if game.winner is None else ("you won" if game.winner == mine else "you lost")
            lines.append(f"The game is over: {result}.")
        elif seat not in game.alive:
            lines.append("You are dead: you watch the rest of the game.")
        elif game.to_move == seat:
            kind = game.expected(seat)
            when = f"Night {game.day}" if game.phase == NIGHT else f"Day {game.day}"
            if game.phase == DISCUSSION:
                when += f", discussion round {game.round} of {game.discussion_rounds}"
            targets = game.valid_targets(seat)
            choices = f" Choose among: {_names(targets)}." if targets else ""
            lines.append(f"{when}. Your turn: {actions.form_of(kind)}.{choices}")
        else:
            lines.append(f"Wait: Player {game.to_move} is acting.")
        return "\n".join(lines)

    def observe(self, agent: str) -> str:
        seat = seat_number(agent)
        news = [line for line, _ in self._news[seat][self._seen[seat] :]][-_MAX_NEWS_LINES:]
        parts = [self._feedback[seat]] if seat in self._feedback else []
        if news:
            parts.append("\n".join(news))
        parts.append(self._status(seat))
        return "\n\n".join(parts)

    # ---- info ----

    def view(self, seat: int) -> dict[str, Any]:
        """``seat``'s knowledge as data (``info["werewolf"]``): public facts and its own private ones only."""
        game, role = self.game, self.game.roles[seat]
        view: dict[str, Any] = {
            "seat": seat,
            "role": role,
            "players": len(game.roles),
            "alive": game.living(),
            "day": game.day,
            "phase": game.phase,
            "to_move": game.to_move,
            "known": self.knowledge(seat),
            "claims": [dict(c) for c in self._claims],
            "votes": [dict(v) for v in self._vote_log],
            "deaths": [dict(d) for d in self._deaths],
        }
        if role == WEREWOLF:
            view["partners"] = [w for w in game.wolves() if w != seat]
            view["attack_choices"] = [[a, t] for a, t in game.kill_choices]
        if role == DOCTOR:
            view["protected"] = list(self._protections[seat])
        return view

    def _expert(self, seat: int) -> str | None:
        if not self.expert or self.game.to_move != seat:
            return None
        cached = self._expert_cache.get(seat)
        if cached is None or cached[0] != self._decision:
            # One decision per turn, whatever the invalid replies before it: the rule player's memory moves once.
            cached = (self._decision, self._players[seat].act(self.view(seat)))
            self._expert_cache[seat] = cached
        return cached[1]

    def _admissible(self, seat: int) -> list[str]:
        game = self.game
        if game.to_move != seat:
            return []
        kind = game.expected(seat)
        targets = game.valid_targets(seat)
        if kind == "say":
            others = [s for s in game.living() if s != seat]
            return [
                "pass",
                "say: I am a villager.",
                *(f"say: I suspect Player {s}." for s in others),
                *(f"say: I am the seer. Player {s} is a werewolf." for s in others),
            ]
        if kind == "vote":
            return [*(f"vote {s}" for s in targets), "vote none"]
        return [f"{kind} {s}" for s in targets]

    def _agent_info(self, agent: str, invalid: str = "") -> dict[str, Any]:
        """The seat's info; ``invalid``: why its reply was not a valid move ('' when it was)."""
        seat, game = seat_number(agent), self.game
        role = game.roles[seat]
        info: dict[str, Any] = {
            "task": f"Win Werewolf for the {side_of(role)} as Player {seat}, the {role}.",
            "admissible_actions": self._admissible(seat),
            "won": game.winner is not None and game.winner == side_of(role),
            "score": float(self._returns.get(agent, 0.0)),
            "invalid_action": bool(invalid),
            "expert_action": self._expert(seat),
            "werewolf": self.view(seat),
        }
        if invalid:  # the seat still owes the same decision
            info["invalid_decision"], info["invalid_reason"] = game.expected(seat), invalid
        if agent not in self._acted:
            info["instructions"] = self.instructions_text()
        return info

    # ---- AEC API ----

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
            self.seed_used = seed
        elif not hasattr(self, "np_random"):
            self.np_random = np.random.default_rng()
            self.seed_used = None
        else:
            self.seed_used = None
        deck = [self.deck[i] for i in self.np_random.permutation(len(self.deck))]
        roles = {i + 1: r for i, r in enumerate(deck)}
        self.game = Game(
            roles=roles, discussion_rounds=self.discussion_rounds, max_days=self.max_days, weights=self.weights
        )
        plan_seed = int(self.np_random.integers(2**31))
        plan = WolfPlan(self.game.wolves(), np.random.default_rng([plan_seed, 0]))
        self._players = {
            s: RulePlayer(s, np.random.default_rng([plan_seed, s]), plan if r == WEREWOLF else None)
            for s, r in roles.items()
        }
        self._expert_cache, self._decision = {}, 0
        self.events = [
            {
                "step": 0,
                "event": "start",
                "seed": seed,
                "roles": {str(s): r for s, r in roles.items()},
                "visible_to": [],
            }
        ]
        self._news = {s: [] for s in roles}
        self._seen = dict.fromkeys(roles, 0)
        self._feedback, self._invalid_run = {}, dict.fromkeys(roles, 0)
        self._claims, self._vote_log, self._deaths = [], [], []
        self._protections = {s: [] for s in roles}
        self._acted, self._steps = set(), 0
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self._returns = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self._record([{"event": "phase", "phase": NIGHT, "day": 1, "visible_to": "all"}])
        self.agent_selection = seat_name(self.game.queue[0])
        self.infos = {a: self._agent_info(a) for a in self.agents}

    def step(self, action: str | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        seat, game = seat_number(agent), self.game
        self._cumulative_rewards[agent] = 0.0
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._acted.add(agent)
        self._steps += 1
        kind = game.expected(seat)
        parsed = actions.parse(action if isinstance(action, str) else "", kind)
        error = parsed.error or game.target_error(seat, parsed.target)
        if not error and parsed.target is None and kind in ("kill", "protect", "check"):
            error = "name a player"
        if error:
            self._invalid_run[seat] += 1
            if self.max_invalid is None or self._invalid_run[seat] < self.max_invalid:
                self._feedback[seat] = f"Invalid action: {error.rstrip('.')}."
                self.infos = {a: self._agent_info(a, invalid=error if a == agent else "") for a in self.agents}
                return
            # Too many invalid replies in a row: the seat's move is played for it.
            parsed = actions.Parsed(kind="pass" if kind == "say" else kind, target=None)
            self._record([{"event": "forced", "actor": seat, "visible_to": [seat]}])
        self._invalid_run[seat] = 0
        self._feedback.pop(seat, None)
        self._seen[seat] = len(self._news[seat])
        events = game.act(seat, parsed.kind or kind, parsed.target, parsed.speech)
        self._record(events)
        self._decision += 1
        for s, r in game.rewards(events).items():
            self.rewards[seat_name(s)] = r
            self._returns[seat_name(s)] += r
        if game.winner is not None or game.truncated:
            done = self.terminations if game.winner is not None else self.truncations
            for a in self.agents:
                done[a] = True
            self._write_log()
        else:
            self.agent_selection = seat_name(game.queue[0])
        self._accumulate_rewards()
        self.infos = {a: self._agent_info(a) for a in self.agents}
        if self.render_mode == "human":
            print(self.render_text(events))

    def _write_log(self) -> None:
        if self.log_path is None:
            return
        record = {"seed": self.seed_used, "winner": self.game.winner, "days": self.game.day, "events": self.events}
        path = Path(self.log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def render_text(self, events: list[dict[str, Any]] | None = None) -> str:
        """The events (default: the whole game) as a narrator sees them, private ones included."""
        lines = []
        for event in self.events if events is None else events:
            if event["event"] == "start":
                lines.append("Roles: " + ", ".join(f"Player {s} {r}" for s, r in event["roles"].items()))
            for _, line, private in self._render_event(event):
                lines.append(f"[private to Player {event.get('actor')}] {line}" if private else line)
        return "\n".join(lines)

    def render(self) -> str | None:
        if self.render_mode == "human":
            print(self.render_text())
            return None
        return self.render_text()

    def close(self) -> None:
        """Nothing to release (the log is written as each game ends)."""
