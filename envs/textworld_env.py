"""``agentrl/TextWorld-v0``: TextWorld games generated offline by the package's own ``tw-make``.

Each reset plays one game of a pool of ``n_games`` games of a challenge; game ``i`` is
``tw-make <challenge> ... --seed <base_seed + i>``, compiled once into
``~/.cache/agentrl/textworld/<challenge>-<settings hash>/`` and reused (the package's
generator takes ~3 s a game; a compiled game loads in ~20 ms). Challenges:

* ``custom``: ``world_size`` rooms, ``nb_objects`` objects, a quest of ``quest_length``;
* ``cooking`` (``tw-cooking``, the First TextWorld Problems games): ``recipe``, ``take``,
  ``go`` rooms, and the ``open`` / ``cook`` / ``cut`` / ``drop`` skills;
* ``simple`` (``tw-simple``): ``rewards`` dense | balanced | sparse, ``goal`` detailed | brief | none.

Actions are the game's admissible commands (``info["admissible_actions"]``); anything
else is an invalid action. Reward is the change in the game's score, ``won`` the game's
own verdict, and the expert action is the first command of the game's policy from the
current state (TextWorld's ``policy_commands``, the walkthrough re-planned as you go).
Needs the ``textworld`` extra.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.actions import ActionTable
from agentrl.envs.base import TextEnv
from agentrl.envs.cache import cache_dir

logger = logging.getLogger(__name__)

CHALLENGES = ("custom", "cooking", "simple")
_DEFAULTS: dict[str, dict[str, Any]] = {
    "custom": {"world_size": 3, "nb_objects": 6, "quest_length": 3},
    "cooking": {"recipe": 1, "take": 1, "go": 1, "open": True, "cook": False, "cut": False, "drop": False},
    "simple": {"rewards": "dense", "goal": "detailed"},
}


def _tw_make() -> list[str]:
    beside = Path(sys.executable).with_name("tw-make")
    found = str(beside) if beside.exists() else shutil.which("tw-make")
    if not found:
        raise ImportError("TextWorld-v0 needs TextWorld's tw-make: pip install 'agentrl[textworld]'")
    return [sys.executable, found]


def tw_make_args(challenge: str, settings: dict[str, Any], seed: int) -> list[str]:
    """The ``tw-make`` arguments that generate game ``seed`` of ``challenge`` with ``settings``."""
    if challenge == "custom":
        return [
            "custom",
            "--world-size",
            str(settings["world_size"]),
            "--nb-objects",
            str(settings["nb_objects"]),
            "--quest-length",
            str(settings["quest_length"]),
            "--seed",
            str(seed),
        ]
    if challenge == "cooking":
        args = ["tw-cooking", "--recipe", str(settings["recipe"]), "--take", str(settings["take"])]
        args += ["--go", str(settings["go"]), "--split", "train", "--seed", str(seed)]
        return args + [f"--{skill}" for skill in ("open", "cook", "cut", "drop") if settings[skill]]
    if challenge == "simple":
        return ["tw-simple", "--rewards", settings["rewards"], "--goal", settings["goal"], "--seed", str(seed)]
    raise ValueError(f"unknown TextWorld challenge {challenge!r}; choose one of {', '.join(CHALLENGES)}")


def game_file(challenge: str, settings: dict[str, Any], seed: int) -> Path:
    """The compiled game for ``seed``, generated with ``tw-make`` the first time (atomic: safe across processes)."""
    key = hashlib.sha1(json.dumps([challenge, settings], sort_keys=True).encode()).hexdigest()[:10]
    folder = cache_dir("textworld") / f"{challenge}-{key}"
    path = folder / f"game-{seed}.z8"
    if path.exists() and path.with_suffix(".json").exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = Path(tmp) / f"game-{seed}.z8"
        command = [*_tw_make(), *tw_make_args(challenge, settings, seed), "--output", str(out), "-f", "--silent"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"tw-make failed for {challenge} seed {seed}: {(done.stderr or done.stdout)[-2000:]}")
        for suffix in (".json", ".ni", ".z8"):  # the .z8 last: its presence means the game is complete
            os.replace(out.with_suffix(suffix), path.with_suffix(suffix))
    logger.info("generated TextWorld game %s", path)
    return path


class TextWorldEnv(TextEnv[str]):
    """Play generated TextWorld games.

    Args:
        challenge: ``custom``, ``cooking`` or ``simple``.
        n_games: Size of the game pool; a reset plays game ``task_id`` (or ``seed``) modulo it.
        base_seed: ``tw-make`` seed of game 0.
        settings: Challenge settings over the defaults (see the module docstring).
        expert: Put the game's next policy command in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You are playing a text adventure with an objective. Reply with one command the game understands, such as: "
        "go north, open door, take key, take key from box, unlock chest with key, put apple on table, "
        "insert key into box, drop apple, examine table, look, inventory."
    )

    def __init__(
        self,
        challenge: str = "custom",
        n_games: int = 100,
        base_seed: int = 0,
        settings: dict[str, Any] | None = None,
        *,
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        if challenge not in CHALLENGES:
            raise ValueError(f"unknown TextWorld challenge {challenge!r}; choose one of {', '.join(CHALLENGES)}")
        unknown = set(settings or {}) - set(_DEFAULTS[challenge])
        if unknown:
            raise ValueError(f"unknown {challenge} settings {sorted(unknown)}; known: {sorted(_DEFAULTS[challenge])}")
        if n_games < 1:
            raise ValueError(f"n_games must be >= 1, got {n_games}")
        try:
            import textworld
        except ImportError as err:
            raise ImportError("TextWorld-v0 needs textworld: pip install 'agentrl[textworld]'") from err
        self._textworld = textworld
        self.challenge = challenge
        self.settings = {**_DEFAULTS[challenge], **(settings or {})}
        self.n_games = n_games
        self.base_seed = base_seed
        self.engine: Any = None
        self.game_path: Path | None = None
        self._state: Any = None
        self._text = ""
        self._actions: ActionTable[str] = ActionTable({})

    def _infos(self) -> Any:
        return self._textworld.EnvInfos(
            admissible_commands=True,
            policy_commands=self.expert,
            score=True,
            max_score=True,
            won=True,
            lost=True,
            objective=True,
            description=True,
        )

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        index = int(options.get("task_id", seed)) % self.n_games
        path = game_file(self.challenge, self.settings, self.base_seed + index)
        with warnings.catch_warnings():
            # jericho warns that it cannot detect score changes in TextWorld's own games; TextWorld tracks them.
            warnings.filterwarnings("ignore", message=".*is not fully supported", module="jericho")
            if path != self.game_path:
                if self.engine is not None:
                    self.engine.close()
                self.engine = self._textworld.start(str(path), request_infos=self._infos())
                self.game_path = path
            self._state = self.engine.reset()
        self.task = self._state["objective"]
        self._text = f"{self._state['objective']}\n\n{self._state['description'].strip()}"
        self._index_admissible()

    def _index_admissible(self) -> None:
        self._actions = ActionTable({c: c for c in self._state["admissible_commands"] or []})

    def _engine_step(self, command: str) -> tuple[SupportsFloat, bool, bool]:
        before = self._state["score"]
        self._state, _, done = self.engine.step(command)
        self._text = self._state.feedback.strip()
        self._index_admissible()
        self.won = bool(self._state["won"])
        max_score = self._state["max_score"] or 1
        self.score = float(self._state["score"]) / max_score
        return float(self._state["score"] - before), bool(done), False

    def _render(self) -> str:
        return self._text

    def parse_action(self, action: str) -> str | None:
        return self._actions.match(action)

    def _admissible(self) -> list[str]:
        return list(self._actions.names)

    def _compute_expert(self) -> str | None:
        policy = self._state["policy_commands"] if self._state is not None else None
        return policy[0] if policy and not self._state["won"] and not self._state["lost"] else None

    def close(self) -> None:
        """Close the game (idempotent)."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None
            self.game_path = None
        super().close()
