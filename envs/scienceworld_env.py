"""``agentrl/ScienceWorld-v0``: the ScienceWorld simulator's 30 tasks, stepped at the raw simulator's cost.

A reset plays one variation of a task from the package's own train / dev / test
variation splits: ``task=None`` cycles over every (task, variation) pair of the split,
a task name over that task's variations; ``options={"task_id": i}`` or the seed picks
the pair. ``simplification`` takes the package's presets (``easy`` = teleportAction,
openDoors, selfWateringFlowerPots, noElectricalAction; electrical tasks keep their
electrical actions) or a comma-separated list of them.

Speed: the package's ``env.step`` recomputes the look, the inventory and the list of
valid actions after every step (19-73 ms against a 2.7 ms simulator step). This env calls
the simulator directly and computes none of them: ``info["admissible_actions"]`` is
None unless ``list_actions=True`` (then the simulator's valid action-object
combinations are listed, at their cost). An input the simulator cannot parse ("No known
action matches that input.") changes nothing in the simulator and is reported as an
invalid action.

The simulator lists objects in the JVM's hash order, which depends on the process's
history; observations list them sorted (:func:`canonical_listing`), so a seed always
gives the same text. Reward is the change in the 0-100 score, ``won`` is a score of 100, and an episode ends
when the task is completed or the score goes negative (a failed task). The expert is
the simulator's gold path, followed while the agent follows it; it gives up (None) once
the simulator rejects one of its actions. One JVM per env,
started on construction and shut down by :meth:`close`. Needs the ``scienceworld``
extra and Java (17 works).

Gold paths that do not replay. The package (1.2.3) has no seed to set: ``load`` reseeds the JVM-wide
``scala.util.Random`` with the variation index, its gold agent plays a copy of the world and records its actions,
and ``load`` builds the world again for the agent. Two things made a replay differ from the gold agent's play:

* Objects are kept in hash sets ordered by JVM identity hashes, which are random per object, so two builds of one
  variation update and list objects in different orders, and which depends on what the JVM did before. The env
  starts its JVM with :data:`JAVA_OPTIONS` (every identity hash the same constant): sets then iterate in insertion
  order, the same for every build, so a replay's outcome should no longer depend on the JVM's history (with it,
  boil 22 and genetics-known-plant 91, which failed in a JVM without it, win).
* The gold agent draws from the same generator between its actions (``Random.shuffle`` of the flower pots and, every
  watering cycle, of the plants; its route search), which a replay does not, so later chance events (which pollen
  the bees carry, hence the offspring's traits in the genetics tasks) come out differently. Genetics gold paths name
  seeds by their traits (``move round orange pea seed to ceramic cup``), so on some variations a name stops
  resolving. Reproducing the draws would mean re-implementing the gold agent; the env does not.

One upstream gold-path bug is corrected (:func:`_corrected`): in ``test-conductivity`` the gold agent calls the wood
block's terminals ``block terminal 1``, which the simulator rejects (variations 825-899, a third of the test split;
with the correction 825 wins).

``envs/scienceworld_gold.json`` (made by ``tools/scienceworld_gold.py``) records, per task, the test variations whose
gold path does not win on replay and why; ``info["expert_replays"]`` says so for the current variation (True, False,
or None where not measured), ``gold_replays_only=True`` plays only those that win, and the expert logs a warning
naming the variation when it gives up. docs/textworlds.md has the figures per task.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.actions import normalize
from agentrl.envs.base import TextEnv

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
UNKNOWN_INPUT = "No known action matches that input."
TOPICS: dict[str, tuple[str, ...]] = {
    "matter": ("boil", "melt", "freeze", "change-the-state-of-matter-of"),
    "measurement": (
        "use-thermometer",
        "measure-melting-point-known-substance",
        "measure-melting-point-unknown-substance",
    ),
    "electricity": (
        "power-component",
        "power-component-renewable-vs-nonrenewable-energy",
        "test-conductivity",
        "test-conductivity-of-unknown-substances",
    ),
    "classification": ("find-living-thing", "find-non-living-thing", "find-plant", "find-animal"),
    "biology": ("grow-plant", "grow-fruit"),
    "chemistry": ("chemistry-mix", "chemistry-mix-paint-secondary-color", "chemistry-mix-paint-tertiary-color"),
    "lifespans": ("lifespan-longest-lived", "lifespan-shortest-lived", "lifespan-longest-lived-then-shortest-lived"),
    "life stages": ("identify-life-stages-1", "identify-life-stages-2"),
    "forces": (
        "inclined-plane-determine-angle",
        "inclined-plane-friction-named-surfaces",
        "inclined-plane-friction-unnamed-surfaces",
    ),
    "genetics": ("mendelian-genetics-known-plant", "mendelian-genetics-unknown-plant"),
}
"""The paper's ten topics and their tasks (30 in all)."""

_VARIATIONS: dict[str, dict[str, list[int]]] = {}

GOLD_REPLAYS = Path(__file__).with_name("scienceworld_gold.json")
"""Which gold paths win on replay, per task and variation (made by ``tools/scienceworld_gold.py``)."""

JAVA_OPTIONS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2")
"""Every object's identity hash is the same constant, so hash sets iterate in insertion order: the same build
gives the same order in every JVM, whatever ran in it before (the default hash is random per object)."""

_LAUNCH = threading.Lock()


@functools.cache
def _gold_replays() -> dict[str, Any]:
    if not GOLD_REPLAYS.exists():  # tools/scienceworld_gold.py has not written it yet: nothing is measured
        return {"split": None, "simplification": None, "tasks": {}}
    return dict(json.loads(GOLD_REPLAYS.read_text()))


def canonical_listing(text: str) -> str:
    """``text`` with every tab-indented listing of objects sorted, siblings by their text, children kept under
    their parent.

    The simulator lists a room's or container's contents in the JVM's hash order, which changes with the history
    of the process; sorting makes the same state read the same way (the set of lines is unchanged).
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("\t"):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].startswith("\t"):
            j += 1
        out.extend(_sorted_block(lines[i:j], 1))
        i = j
    return "\n".join(out)


def _sorted_block(lines: list[str], depth: int) -> list[str]:
    """Sort the items of a listing at ``depth`` tabs, each item with the deeper lines under it."""
    items: list[list[str]] = []
    for line in lines:
        indent = len(line) - len(line.lstrip("\t"))
        if indent <= depth or not items:
            items.append([line])
        else:
            items[-1].append(line)
    ordered = sorted(items, key=lambda item: item[0])
    return [line for item in ordered for line in [item[0], *_sorted_block(item[1:], depth + 1)]]


def _gold_entry(task: str, split: str, simplification: str) -> dict[str, Any] | None:
    """The data file's entry for ``task``, if it was measured with this split and simplification."""
    data = _gold_replays()
    if split != data["split"] or simplification != data["simplification"]:
        return None
    return data["tasks"].get(task)


def gold_replay(task: str, variation: int, split: str = "test", simplification: str = "easy") -> dict[str, Any] | None:
    """How the gold path of ``task``'s ``variation`` did when replayed (``tools/scienceworld_gold.py``).

    Returns:
        ``{"won": True}``, or ``{"won": False, "reason": ..., "step": ..., "action": ...}`` for a gold path that
        does not win (:func:`replay_gold` says what the fields mean), or None where it was not measured (the file
        covers one split and simplification, and the variations of each task it lists as ``measured``).
    """
    entry = _gold_entry(task, split, simplification)
    if entry is None or not entry["measured"][0] <= variation <= entry["measured"][1]:
        return None
    failure = entry["not_won"].get(str(variation))
    return {"won": True} if failure is None else {"won": False, **failure}


def _check_measured(unmeasured: list[str], split: str, simplification: str) -> None:
    """Raise for tasks with no recorded replays: ``gold_replays_only`` cannot tell their good variations."""
    if unmeasured:
        raise ValueError(
            f"gold_replays_only: no gold-path replays are recorded for {', '.join(unmeasured)} on split {split!r}, "
            f"simplification {simplification!r} (see {GOLD_REPLAYS.name} for what is); measure them with "
            "tools/scienceworld_gold.py or drop gold_replays_only"
        )


def _corrected(task: str, action: str) -> str:
    """A gold action as the simulator accepts it.

    In ``test-conductivity`` the package's gold agent names the object to test by its shortest referent and appends
    ``terminal 1``/``terminal 2``; for the wood block (variations 825-899, all in the test split) that gives
    ``connect block terminal 1 to ...``, which the simulator rejects: a terminal answers to its parent's name only
    (``wood block terminal 1``). Without the name none of those 75 won; with it all of them do.
    """
    if task == "test-conductivity" and action.startswith("connect block terminal"):
        return "connect wood block terminal" + action[len("connect block terminal") :]
    return action


def _start_simulator() -> Any:
    """The package's simulator in a JVM of its own, started with :data:`JAVA_OPTIONS`."""
    try:
        import scienceworld.scienceworld as package
    except ImportError as err:
        raise ImportError("ScienceWorld-v0 needs scienceworld (and Java): pip install 'agentrl[scienceworld]'") from err
    # The package starts its JVM with py4j's launch_gateway and no way to pass options to Java: hand them in
    # for the duration of this one start (the lock keeps a concurrent start in another thread from seeing it).
    with _LAUNCH:
        launch = package.launch_gateway
        package.launch_gateway = functools.partial(launch, javaopts=list(JAVA_OPTIONS))
        try:
            return package.ScienceWorldEnv("", envStepLimit=10**9)  # agentrl's TimeLimit ends episodes
        except Exception as err:  # a Java that refuses the options still runs the simulator
            logger.warning(
                "Java refused %s (%s); ScienceWorld runs without them, so which gold paths replay depends on what "
                "the JVM did before",
                " ".join(JAVA_OPTIONS),
                err,
            )
        finally:
            package.launch_gateway = launch
    return package.ScienceWorldEnv("", envStepLimit=10**9)


class ScienceWorldEnv(TextEnv[str]):
    """Play ScienceWorld tasks.

    Args:
        task: A task name (see :data:`TOPICS`), or None for every task.
        split: Variations to draw from: ``train``, ``dev`` or ``test`` (the package's splits).
        simplification: ``""``, ``"easy"`` or a comma-separated list of simplifications.
        list_actions: List the valid actions in ``info["admissible_actions"]`` (costly).
        expert: Load the gold path and put its next action in ``info["expert_action"]``.
        gold_replays_only: Play only the variations whose gold path was measured to win on replay
            (:func:`gold_replay`; the shipped measurements cover part of the test split, simplification ``easy``;
            unmeasured variations are left out, a task with none measured is an error).
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    max_action_length = 300
    instructions: ClassVar[str] = (
        "You are doing a science task in a text world. Reply with one action, such as: look around, "
        "teleport to kitchen, open door to hallway, go to hallway, pick up thermometer, move thermometer to "
        "inventory, focus on substance, use thermometer on water, activate stove, pour water into pot, wait, "
        "inventory, task. Focus on an object only when the task asks for it: focusing on the wrong one fails the task."
    )

    def __init__(
        self,
        task: str | None = None,
        split: str = "train",
        simplification: str = "easy",
        list_actions: bool = False,
        *,
        expert: bool = True,
        gold_replays_only: bool = False,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        if split not in SPLITS:
            raise ValueError(f"unknown ScienceWorld split {split!r}; choose one of {', '.join(SPLITS)}")
        all_tasks = [t for tasks in TOPICS.values() for t in tasks]
        if task is not None and task not in all_tasks:
            raise ValueError(f"unknown ScienceWorld task {task!r}; choose one of {', '.join(all_tasks)}")
        tasks = [task] if task is not None else all_tasks
        if gold_replays_only:  # before starting a JVM
            _check_measured([t for t in tasks if _gold_entry(t, split, simplification) is None], split, simplification)
        self._closed = False
        self.sim = _start_simulator()
        self.engine = self.sim.server  # the raw simulator: what benchmarks/env_step.py times
        self.split = split
        self.simplification = simplification
        self.list_actions = list_actions
        self.pairs = [(t, v) for t in tasks for v in self._variations(t)]
        if gold_replays_only:
            replays = {pair: gold_replay(*pair, split, simplification) for pair in self.pairs}
            unmeasured = sum(replay is None for replay in replays.values())
            if unmeasured:
                logger.warning("gold_replays_only: %d variations were not replayed and are left out", unmeasured)
            self.pairs = [pair for pair, replay in replays.items() if replay is not None and replay["won"]]
        self.task_name = ""
        self.variation = 0
        self._text = ""
        self._score = 0
        self._pending: tuple[str, str] | None = None
        self._gold: list[str] = []
        self._gold_at: int | None = 0

    def _variations(self, task: str) -> list[int]:
        known = _VARIATIONS.get(task)
        if known is None:
            self.sim.load(task, 0, "")
            known = _VARIATIONS[task] = {
                "train": list(self.sim.get_variations_train()),
                "dev": list(self.sim.get_variations_dev()),
                "test": list(self.sim.get_variations_test()),
            }
        return known[self.split]

    def _simplification_for(self, task: str) -> str:
        electrical = "power-component" in task or "conductivity" in task
        if self.simplification == "easy" and electrical:
            return "teleportAction,openDoors,selfWateringFlowerPots"
        return self.simplification

    def instructions_text(self) -> str:
        """The instructions, without teleporting when the simplifications do not allow it."""
        if self.simplification == "easy" or "teleportAction" in self.simplification:
            return self.instructions
        return self.instructions.replace("teleport to kitchen, ", "")

    # ------------------------------------------------------------------ hooks
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        self.task_name, self.variation = self.pairs[int(options.get("task_id", seed)) % len(self.pairs)]
        # load builds the world (after its gold agent played a copy of it): no reset after it, which loads again
        self.sim.load(self.task_name, self.variation, self._simplification_for(self.task_name), self.expert)
        self._score = 0
        self.task = str(self.engine.freeActionTaskDesc())
        self._text = f"{self.task}\n\n{canonical_listing(str(self.engine.step('look around')))}"
        gold = self.sim.get_gold_action_sequence() if self.expert else []
        self._gold = [_corrected(self.task_name, str(action)) for action in gold]
        self._gold_at = 0

    def parse_action(self, action: str) -> str | None:
        # The simulator is the parser: an input it rejects changes nothing in it, so stepping is the check.
        command = " ".join(action.split())
        if not command or not command.isprintable() or len(command) > self.max_action_length:
            return None
        observation = str(self.engine.step(command))
        if observation.strip() == UNKNOWN_INPUT:
            if self._expert_action is not None and command == self._expert_action:
                # The gold path does not replay here (see the module docstring): the expert gives up, and says so.
                self._give_up(f"the simulator rejects gold action {self._gold_at} ({command!r})")
            return None
        self._pending = (command, observation)
        return command

    def _engine_step(self, command: str) -> tuple[SupportsFloat, bool, bool]:
        pending, self._pending = self._pending, None
        raw = pending[1] if pending is not None and pending[0] == command else str(self.engine.step(command))
        self._text = canonical_listing(raw)
        score = round(100 * float(self.engine.getScore()))
        reward, self._score = score - self._score, score
        self.score = float(score)
        self.won = score >= 100
        if self._gold_at is not None:
            following = self._gold_at < len(self._gold) and normalize(command) == normalize(self._gold[self._gold_at])
            self._gold_at = self._gold_at + 1 if following else None
        return float(reward), bool(self.engine.getCompleted()) or score < 0, False

    def _render(self) -> str:
        return self._text

    def _admissible(self) -> list[str] | None:
        if not self.list_actions or self._closed:
            return None
        return [str(a) for a in self.sim.get_valid_action_object_combinations()]

    def _compute_expert(self) -> str | None:
        if self._gold_at is not None and self._gold_at >= len(self._gold) and not self.won:
            self._give_up("the gold path ended without winning")
        if self._gold_at is None or self._gold_at >= len(self._gold):
            return None
        return self._gold[self._gold_at]

    def _give_up(self, why: str) -> None:
        """Stop the expert with a warning naming the variation, and whether it was known not to replay."""
        known = self.expert_replays
        logger.warning(
            "ScienceWorld %s variation %d: %s; the expert gives up (%s)",
            self.task_name,
            self.variation,
            why,
            f"{GOLD_REPLAYS.name} records this variation as not replaying"
            if known is False
            else "not recorded as failing in " + GOLD_REPLAYS.name,
        )
        self._gold_at = self._expert_action = None

    @property
    def expert_replays(self) -> bool | None:
        """Whether the current variation's gold path was measured to win on replay (None: not measured)."""
        replay = gold_replay(self.task_name, self.variation, self.split, self.simplification)
        return None if replay is None else bool(replay["won"])

    def _info(self, invalid: bool) -> dict[str, Any]:
        info = super()._info(invalid)
        info["expert_replays"] = self.expert_replays  # False: this variation's expert is known not to win
        return info

    def invalid_feedback(self, action: object) -> str:
        head = action[:60] if isinstance(action, str) else type(action).__name__
        return f"Invalid action: {head!r}. {UNKNOWN_INPUT} Try 'look around', 'inventory' or 'task'."

    def close(self) -> None:
        """Shut the JVM down (idempotent)."""
        if not self._closed:
            self._closed = True
            java = self.sim._gateway.java_process
            self.sim.close()
            try:
                java.wait(timeout=10)
            except Exception:  # a JVM that ignores the shutdown request is killed
                java.kill()
                java.wait(timeout=10)
        super().close()


def replay_gold(env: ScienceWorldEnv, index: int) -> dict[str, Any]:
    """Play the gold path of ``env.pairs[index]`` as the expert does; what happened (``tools/scienceworld_gold.py``).

    Returns:
        ``task``, ``variation``, ``gold_steps``, ``won``, ``score``, ``steps`` (gold actions played), ``seconds``
        and, for a gold path that does not win, ``reason``: ``rejected`` (the simulator does not accept gold action
        ``step``, ``action``), ``failed`` (the score went negative after gold action ``step``), ``incomplete``
        (every gold action played, score under 100) or ``no_gold_path`` (the package's gold agent gave none).
    """
    start = time.perf_counter()
    _, info = env.reset(options={"task_id": index})
    gold = list(env._gold)
    record: dict[str, Any] = {"task": env.task_name, "variation": env.variation, "gold_steps": len(gold)}
    steps, terminated, invalid = 0, False, False
    while info["expert_action"] is not None and not terminated and not invalid:
        _, _, terminated, _, info = env.step(info["expert_action"])
        invalid = info["invalid_action"]
        steps += 0 if invalid else 1
    record.update(won=bool(info["won"]), score=info["score"], steps=steps)
    if not info["won"]:
        if not gold:
            record.update(reason="no_gold_path")
        elif info["score"] < 0:
            record.update(reason="failed", step=steps - 1, action=gold[steps - 1])
        elif steps < len(gold):
            record.update(reason="rejected", step=steps, action=gold[steps])
        else:
            record.update(reason="incomplete")
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record
