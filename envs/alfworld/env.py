"""``agentrl/ALFWorld-v0``: ALFWorld's text household tasks on TextWorld's PDDL engine.

The dynamics and text are the ``alfworld`` package's own: its PDDL domain, its grammar
(including ``move X to Y``, the put command since late 2024) and TextWorld's PDDL engine
with ALFWorld's demangler, exactly as ``AlfredTWEnv`` plays them (by default through
:class:`~agentrl.envs.alfworld.fast.FastPddlEnv`, which gives byte-identical text, commands
and rewards at a fraction of the cost; ``engine="reference"`` runs TextWorld's own
``PddlEnv``). The games are either

* **generated** (default): ``n_games`` tasks of a split, spread evenly over the chosen task
  types, written from the scene layouts the package ships and checked solvable
  (:mod:`~agentrl.envs.alfworld.tasks`), cached in ``~/.cache/agentrl/alfworld``. They are
  not the official 140/134 evaluation games, so scores are not comparable with published
  ALFWorld numbers; or
* **official**: with ``data_dir=`` pointing at ALFWorld's ``json_2.1.1`` folder (or any
  folder of ``game.tw-pddl`` + ``traj_data.json`` pairs), the games found there, filtered
  the way ``AlfredTWEnv`` filters them (solvable, no movable-receptacle or sliced tasks).

Reward is 1 when the goal holds (ALFWorld's score), which ends the episode; ``won`` says
the same. Actions are the engine's admissible commands; ``put X in/on Y`` (older ALFWorld
prompts) is read as ``move X to Y``. The expert is :class:`~agentrl.envs.alfworld.expert.AlfworldExpert`.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.actions import ActionTable, normalize
from agentrl.envs.alfworld import engine as engines
from agentrl.envs.alfworld import tasks
from agentrl.envs.alfworld.expert import AlfworldExpert
from agentrl.envs.base import TextEnv

logger = logging.getLogger(__name__)

#: Folder names of the official data for each split.
OFFICIAL_SPLITS = {"train": "train", "eval_seen": "valid_seen", "eval_unseen": "valid_unseen"}
_PUT = re.compile(r"put (.+?) (?:in|on|in/on|into|onto) (.+)")
_GOAL = re.compile(r"Your task is to: (.*)")


@dataclass(frozen=True)
class Game:
    """One playable game: its file and the task parameters the expert needs."""

    path: Path
    task_type: str
    params: dict[str, Any]


def official_games(data_dir: str | Path, split: str, task_types: tuple[str, ...]) -> list[Game]:
    """The official games under ``data_dir`` (its ``train`` / ``valid_seen`` / ``valid_unseen`` folder if present).

    Keeps what ``AlfredTWEnv.collect_game_files`` keeps: games marked solvable, of the
    requested task types, without movable-receptacle or sliced variants; sorted by path.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"ALFWorld data_dir {root} is not a folder (expected ALFWorld's json_2.1.1)")
    if (root / OFFICIAL_SPLITS[split]).is_dir():
        root = root / OFFICIAL_SPLITS[split]
    games = []
    for path in sorted(root.rglob("game.tw-pddl")):
        traj = path.with_name("traj_data.json")
        if "movable" in str(path.parent) or "Sliced" in str(path.parent) or not traj.exists():
            continue
        data = json.loads(traj.read_text())
        if data.get("task_type") not in task_types or data.get("pddl_params", {}).get("object_sliced"):
            continue
        if not json.loads(path.read_text()).get("solvable", False):
            continue
        games.append(Game(path, data["task_type"], data["pddl_params"]))
    if not games:
        raise FileNotFoundError(f"no solvable ALFWorld games of types {list(task_types)} under {root}")
    return games


def export_games(games: list[Game], out_dir: str | Path, split: str) -> list[Path]:
    """Copy games into the official layout (``<out>/<valid_seen|...>/<task>-<targets>-<scene>/trial_<i>/``).

    :func:`official_games` (``data_dir=``) and the package's own ``AlfredTWEnv`` read the result.
    """
    root = Path(out_dir).expanduser() / OFFICIAL_SPLITS[split]
    written = []
    for index, game in enumerate(games):
        traj = json.loads(game.path.with_name("traj_data.json").read_text())
        p = traj["pddl_params"]
        name = f"{game.task_type}-{p['object_target']}-None-{p['parent_target'] or p['toggle_target']}-"
        trial = root / f"{name}{traj['scene']['scene_num']}" / f"trial_agentrl_{index:05d}"
        trial.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(game.path, trial / "game.tw-pddl")
        shutil.copyfile(game.path.with_name("traj_data.json"), trial / "traj_data.json")
        written.append(trial / "game.tw-pddl")
    return written


class AlfworldEnv(TextEnv[str]):
    """ALFWorld tasks: generated from the package's scenes, or the official games from ``data_dir``.

    Args:
        split: ``train``, ``eval_seen`` (train scenes, other tasks) or ``eval_unseen``
            (held-out scenes).
        task_types: Task types to play (default: all six, see :data:`tasks.TASK_TYPES`).
        n_games: Size of the generated pool; a reset plays game ``task_id`` (or ``seed``)
            modulo the pool size. Ignored with ``data_dir``.
        base_seed: Seed of the generated pool (another seed gives another pool).
        data_dir: Play the official games found here instead of generated ones.
        engine: ``"fast"`` (default): :class:`~agentrl.envs.alfworld.fast.FastPddlEnv`, which
            caches parsed grammar and translated problems (a game played before resets
            without translating again); ``"reference"``: TextWorld's own ``PddlEnv``, exactly
            as ``AlfredTWEnv`` plays. Both give byte-identical text, commands and rewards.
        expert: Put the expert's next command in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You are a household agent in a text world. Reply with one command, such as: go to X, open X, close X, "
        "take X from Y, move X to Y, heat X with Y, cool X with Y, clean X with Y, use X, examine X, look, inventory. "
        "Use the names the text shows (cabinet 1, apple 2). You can hold one object at a time."
    )

    def __init__(
        self,
        split: str = "train",
        task_types: list[str] | tuple[str, ...] | None = None,
        n_games: int = 120,
        base_seed: int = 0,
        data_dir: str | None = None,
        *,
        engine: str = "fast",
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        if split not in tasks.SPLITS:
            raise ValueError(f"unknown ALFWorld split {split!r}; choose one of {', '.join(tasks.SPLITS)}")
        self.task_types = tuple(task_types or tasks.TASK_TYPES)
        unknown = [t for t in self.task_types if t not in tasks.TASK_TYPES]
        if unknown:
            raise ValueError(f"unknown ALFWorld task types {unknown}; choose from {', '.join(tasks.TASK_TYPES)}")
        if n_games < 1:
            raise ValueError(f"n_games must be >= 1, got {n_games}")
        self.split = split
        self.base_seed = base_seed
        self.data_dir = data_dir
        self._official = official_games(data_dir, split, self.task_types) if data_dir else None
        self.n_games = len(self._official) if self._official is not None else n_games
        self._raw = engines.acquire(engine)
        self.engine: Any = engines.demangled(self._raw)
        self.game: Game | None = None
        self._state: Any = None
        self._actions: ActionTable[str] = ActionTable({})
        self._names: dict[str, str] = {}
        self._expert_policy: AlfworldExpert | None = None

    def game_at(self, index: int) -> Game:
        """Game ``index`` of the pool (generated on first use)."""
        index %= self.n_games
        if self._official is not None:
            return self._official[index]
        task_type = self.task_types[index % len(self.task_types)]
        path = tasks.generate_game(self.split, task_type, index // len(self.task_types), self.base_seed)
        params = json.loads(path.with_name("traj_data.json").read_text())["pddl_params"]
        return Game(path, task_type, params)

    # ------------------------------------------------------------------ hooks
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        if self.engine is None:
            raise RuntimeError("this ALFWorld env is closed")
        game = self.game_at(int(options.get("task_id", seed)))
        if self.game is None or game.path != self.game.path:
            self.engine.load(str(game.path))
            self.game = game
        self._state = self.engine.reset()
        self._names = engines.names(self._state)
        goal = _GOAL.search(self._state.feedback)
        self.task = goal.group(1).strip() if goal else ""
        params = game.params
        self._expert_policy = AlfworldExpert(
            game.task_type, params["object_target"], params.get("parent_target", ""), params.get("toggle_target", "")
        )
        self._index_admissible()

    def _index_admissible(self) -> None:
        self._actions = ActionTable({c: c for c in self._state["admissible_commands"] or []})

    def _engine_step(self, command: str) -> tuple[SupportsFloat, bool, bool]:
        self._state, _, _ = self.engine.step(command)
        self._index_admissible()
        self.won = bool(self._state["won"])
        self.score = 1.0 if self.won else 0.0
        return self.score, self.won, False

    def _render(self) -> str:
        return str(self._state.feedback).strip()

    def parse_action(self, action: str) -> str | None:
        command = self._actions.match(action)
        if command is None and len(action) <= 200 and (put := _PUT.fullmatch(normalize(action))):
            command = self._actions.match(f"move {put.group(1)} to {put.group(2)}")
        return command

    def _admissible(self) -> list[str]:
        return list(self._actions.names)

    def _compute_expert(self) -> str | None:
        if self._state is None or self._expert_policy is None or self.won:
            return None
        return self._expert_policy.act(self._state["_facts"], self._names, self._actions.names)

    def close(self) -> None:
        """Hand the engine back to the process's pool (idempotent)."""
        if self.engine is not None:
            engines.release(self._raw)
            self.engine = None
            self.game = None
        super().close()
