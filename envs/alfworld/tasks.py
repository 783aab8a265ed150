"""ALFWorld tasks generated from the scene layouts and constants the ``alfworld`` package ships.

The official ALFWorld games (3,553 train / 140 seen / 134 unseen) are GitHub release
files that cannot be downloaded here, and their object placements come from ALFRED's
THOR scenes, which cannot be reproduced. This module writes new games of the same kind:

* a **scene** is one of ALFRED's 120 floor plans. Its static receptacles and the poses
  they are used from come from ``layouts/FloorPlan<N>-openable.json``; receptacle types
  the scene has (``FloorPlan<N>-objects.json``) but that file lacks (stove burners, coffee
  machines, toasters, ...) get a reachable pose drawn from ``FloorPlan<N>-layout.npy``;
* the **objects** are the scene's object types that some receptacle can hold
  (``constants.VAL_RECEPTACLE_OBJECTS``) plus its lamps, 1-3 of each, each put in a
  receptacle that can hold it;
* the **task** is one of the six ALFWorld task types with a target drawn from what the
  scene allows; its PDDL goal and its text come from the package's goal library;
* the **game** is ALFWorld's game-file JSON (``pddl_domain``, ``grammar``,
  ``pddl_problem``, ``solvable``) plus the ``traj_data`` the hand-coded expert reads.

Every game is checked solvable by a witness: the expert
(:class:`~agentrl.envs.alfworld.expert.AlfworldExpert`) plays it through TextWorld's PDDL
engine, which must report the goal reached within :data:`MAX_PLAN_STEPS` steps; those
steps are stored as the game's ``walkthrough``. A draw that fails is discarded and the next
draw of the same seeded stream is tried, so a task id always maps to the same game.
fast-downward (:func:`planner_plan`) is the independent check the tests run on a sample:
as a generator it is too slow, seconds to tens of seconds on a kitchen heating task.

Splits are by scene: ``train`` and ``eval_seen`` use ALFRED's training floor plans
(``constants.TRAIN_SCENE_NUMBERS``, different draws), ``eval_unseen`` uses the 24 held-out
floor plans (``constants.TEST_SCENE_NUMBERS``), which no train task ever uses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from agentrl.envs.cache import cache_dir

logger = logging.getLogger(__name__)

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
SPLITS = ("train", "eval_seen", "eval_unseen")
#: Bumped whenever generation changes, so cached games of an older generator are not reused.
GENERATOR_VERSION = 1
#: A generated game is kept only when the expert wins it in at most this many steps (the env's limit is 50).
MAX_PLAN_STEPS = 40
LAMPS = ("DeskLamp", "FloorLamp")
#: Receptacle types a lamp stands on or beside (it is reached by going to that receptacle).
_LAMP_HOLDERS = ("SideTable", "Desk", "Dresser", "Shelf", "ArmChair", "Sofa", "Bed", "CoffeeTable", "Ottoman")
#: The tool each state-changing task needs, and the receptacle type it lives in.
_TOOLS = {
    "pick_clean_then_place_in_recep": ("Cleanable", "SinkBasin"),
    "pick_heat_then_place_in_recep": ("Heatable", "Microwave"),
    "pick_cool_then_place_in_recep": ("Coolable", "Fridge"),
}
#: How many instances of a receptacle type a scene gets when its layout file lacks it.
_ADDED_COUNT = {"StoveBurner": 4}
_GRID = 0.25  # metres per navigation grid cell in ALFRED's layouts


def _alfworld() -> Any:
    try:
        import alfworld.gen.constants as constants
    except ImportError as err:
        raise ImportError("ALFWorld-v0 needs the alfworld package: pip install 'agentrl[alfworld]'") from err
    return constants


def _package_file(*parts: str) -> Path:
    return Path(str(resources.files("alfworld").joinpath(*parts)))


@cache
def game_logic() -> tuple[str, str]:
    """The package's PDDL domain and text grammar (``alfred.pddl``, ``alfred.twl2``)."""
    _alfworld()
    return (
        _package_file("data", "alfred.pddl").read_text(),
        _package_file("data", "alfred.twl2").read_text(),
    )


def mangle(text: str) -> str:
    """ALFRED's PDDL-safe spelling: THOR ids (``Apple|+00.10|...`` → ``Apple_bar__plus_00_dot_10...``)
    and the goal library's ``#``, which stands for PDDL's ``-``."""
    table = {"-": "_minus_", "#": "-", "|": "_bar_", "+": "_plus_", ".": "_dot_", ",": "_comma_"}
    return "".join(table.get(ch, ch) for ch in text)


@dataclass(frozen=True)
class Receptacle:
    """A static receptacle of a scene: its THOR-style id, type and the pose it is used from."""

    id: str
    type: str
    location: str


@dataclass(frozen=True)
class Scene:
    """What a floor plan offers: receptacles (with poses), object types, free floor points."""

    number: int
    receptacles: tuple[Receptacle, ...]
    object_types: tuple[str, ...]
    floor: tuple[tuple[int, int], ...]

    @property
    def receptacle_types(self) -> set[str]:
        return {r.type for r in self.receptacles}


def _location(grid_x: int, grid_z: int, rotation: int, horizon: int) -> str:
    return f"loc|{grid_x}|{grid_z}|{rotation}|{horizon}"


def _receptacle_type(thor_id: str) -> str:
    parts = thor_id.split("|")
    return parts[-1] if parts[-1].isalpha() and len(parts) > 1 else parts[0]


@cache
def load_scene(number: int) -> Scene:
    """Read floor plan ``number`` from the package's layout files (deterministic)."""
    import numpy as np

    constants = _alfworld()
    folder = _package_file("gen", "layouts")
    name = f"FloorPlan{number}"
    poses: dict[str, list[float]] = json.loads((folder / f"{name}-openable.json").read_text())
    present = json.loads((folder / f"{name}-objects.json").read_text())
    floor_m = np.load(folder / f"{name}-layout.npy")
    floor = tuple(sorted({(round(x / _GRID), round(z / _GRID)) for x, z in floor_m.tolist()}))
    holders = {k for k in constants.VAL_RECEPTACLE_OBJECTS if k not in constants.MOVABLE_RECEPTACLES_SET}
    receptacles = []
    for thor_id, (x, z, rotation, horizon) in sorted(poses.items()):
        rtype = _receptacle_type(thor_id)
        if rtype in holders:
            loc = _location(round(x / _GRID), round(z / _GRID), round(rotation / 90) % 4, int(horizon))
            receptacles.append(Receptacle(thor_id, rtype, loc))
    # Receptacle types the scene has but its pose file lacks: place them on reachable floor
    # points, drawn from a stream seeded by the scene so a scene always reads the same.
    rng = random.Random(f"scene-{number}")
    have = {r.type for r in receptacles}
    for rtype in sorted(set(present) & holders - have):
        for _ in range(_ADDED_COUNT.get(rtype, 1)):
            gx, gz = rng.choice(floor)
            height = rng.uniform(0.3, 1.2)
            thor_id = f"{rtype}|{gx * _GRID:+06.2f}|{height:+06.2f}|{gz * _GRID:+06.2f}"
            receptacles.append(Receptacle(thor_id, rtype, _location(gx, gz, rng.randrange(4), 30)))
    placeable = set().union(*(set(v) for k, v in constants.VAL_RECEPTACLE_OBJECTS.items() if k in have | set(present)))
    object_types = tuple(
        sorted(t for t in present if (t in placeable and t not in holders and "Sliced" not in t) or t in LAMPS)
    )
    return Scene(number, tuple(receptacles), object_types, floor)


def scenes_of(split: str) -> tuple[int, ...]:
    """Floor plans a split draws from: ALFRED's train scenes, or its held-out ones for ``eval_unseen``."""
    constants = _alfworld()
    if split not in SPLITS:
        raise ValueError(f"unknown ALFWorld split {split!r}; choose one of {', '.join(SPLITS)}")
    return tuple(constants.TEST_SCENE_NUMBERS if split == "eval_unseen" else constants.TRAIN_SCENE_NUMBERS)


@dataclass
class TaskSpec:
    """One task: type, scene and targets, in ALFRED's ``pddl_params`` vocabulary."""

    task_type: str
    scene: int
    object_target: str
    parent_target: str = ""
    toggle_target: str = ""
    placements: dict[str, str] = field(default_factory=dict)  # object id -> receptacle id
    agent_location: str = ""
    text: str = ""

    @property
    def pddl_params(self) -> dict[str, Any]:
        return {
            "object_target": self.object_target,
            "parent_target": self.parent_target,
            "toggle_target": self.toggle_target,
            "mrecep_target": "",
            "object_sliced": False,
        }


def _can_hold(rtype: str, otype: str) -> bool:
    return otype in _alfworld().VAL_RECEPTACLE_OBJECTS.get(rtype, ())


def _draw_targets(rng: random.Random, task_type: str, scene: Scene) -> tuple[str, str, str] | None:
    """(object, parent, toggle) types for ``task_type`` in ``scene``, or None when it offers none."""
    constants = _alfworld()
    objects = [t for t in scene.object_types if t not in LAMPS]
    receptacle_types = sorted(scene.receptacle_types)
    if task_type == "look_at_obj_in_light":
        lamps = [t for t in scene.object_types if t in LAMPS]
        if not lamps or not objects:
            return None
        return rng.choice(objects), "", rng.choice(lamps)
    tool = _TOOLS.get(task_type)
    if tool is not None:
        ability, tool_type = tool
        if tool_type not in receptacle_types:
            return None
        objects = [t for t in objects if t in constants.VAL_ACTION_OBJECTS[ability]]
    pairs = [(o, r) for o in objects for r in receptacle_types if _can_hold(r, o) and (tool is None or r != tool[1])]
    if not pairs:
        return None
    obj, parent = rng.choice(pairs)
    return obj, parent, ""


def _place_objects(rng: random.Random, spec: TaskSpec, scene: Scene) -> dict[str, str] | None:
    """Put 1-3 instances of every object type in receptacles that can hold them, keeping the goal unmet."""
    placements: dict[str, str] = {}
    used: set[str] = set()
    for otype in scene.object_types:
        if otype in LAMPS:
            holders = [r for r in scene.receptacles if r.type in _LAMP_HOLDERS]
            count = 1
        else:
            holders = [r for r in scene.receptacles if _can_hold(r.type, otype)]
            count = rng.choices((1, 2, 3), weights=(0.55, 0.3, 0.15))[0]
        if otype == spec.object_target:
            # The goal must not hold at the start: no target starts in a goal receptacle (nor
            # in the fridge for a cooling task, where ALFRED counts it as cool already).
            holders = [r for r in holders if r.type != spec.parent_target]
            if spec.task_type == "pick_cool_then_place_in_recep":
                holders = [r for r in holders if r.type != "Fridge"]
            if spec.task_type == "pick_two_obj_and_place":
                count = max(count, 2)
        if not holders:
            if otype in (spec.object_target, spec.toggle_target):
                return None
            continue
        for _ in range(count):
            receptacle = rng.choice(holders)
            parts = receptacle.id.split("|")
            while True:
                x, y, z = (float(p) + rng.uniform(-0.4, 0.4) for p in parts[1:4])
                object_id = f"{otype}|{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"
                if object_id not in used:
                    break
            used.add(object_id)
            placements[object_id] = receptacle.id
    return placements


def draw_task(rng: random.Random, task_type: str, scenes: tuple[int, ...]) -> TaskSpec:
    """Draw a task of ``task_type`` on one of ``scenes`` (not yet checked solvable)."""
    import alfworld.gen.goal_library as goal_library

    while True:
        scene = load_scene(rng.choice(scenes))
        targets = _draw_targets(rng, task_type, scene)
        if targets is None:
            continue
        obj, parent, toggle = targets
        spec = TaskSpec(task_type, scene.number, obj, parent, toggle)
        placements = _place_objects(rng, spec, scene)
        if placements is None:
            continue
        spec.placements = placements
        taken = {r.location for r in scene.receptacles}
        free = [p for p in scene.floor if all(not loc.startswith(f"loc|{p[0]}|{p[1]}|") for loc in taken)]
        gx, gz = rng.choice(free or list(scene.floor))
        spec.agent_location = _location(gx, gz, rng.randrange(4), 30)
        template = rng.choice(goal_library.gdict[task_type]["templates"])
        spec.text = template.format(obj=obj.lower(), recep=parent.lower(), toggle=toggle.lower(), mrecep="")
        return spec


def pddl_problem(spec: TaskSpec, name: str) -> str:
    """The PDDL problem of ``spec`` in ALFRED's conventions (mangled THOR ids, ``loc|x|z|rot|horizon``)."""
    import alfworld.gen.goal_library as goal_library

    constants = _alfworld()
    scene = load_scene(spec.scene)
    receptacles = {r.id: r for r in scene.receptacles}
    objects = dict(sorted(spec.placements.items()))
    otype_of = {o: o.split("|")[0] for o in objects}
    rtypes = sorted({r.type for r in scene.receptacles})
    otypes = sorted(set(otype_of.values()) | {spec.object_target} | ({spec.toggle_target} - {""}))
    locations = sorted({r.location for r in scene.receptacles} | {spec.agent_location})
    actions = constants.VAL_ACTION_OBJECTS
    init = ["(= (total-cost) 0)", f"(atLocation agent1 {spec.agent_location})"]
    init += [f"(receptacleType {r.id} {r.type}Type)" for r in scene.receptacles]
    init += [f"(receptacleAtLocation {r.id} {r.location})" for r in scene.receptacles]
    init += [f"(openable {r.id})" for r in scene.receptacles if r.type in constants.OPENABLE_CLASS_SET]
    init += [f"(canContain {rt}Type {ot}Type)" for rt in rtypes for ot in otypes if _can_hold(rt, ot)]
    for obj, receptacle_id in objects.items():
        otype = otype_of[obj]
        init.append(f"(objectType {obj} {otype}Type)")
        init.append(f"(inReceptacle {obj} {receptacle_id})")
        init.append(f"(objectAtLocation {obj} {receptacles[receptacle_id].location})")
        if otype in LAMPS:
            init.append(f"(toggleable {obj})")
            continue
        init.append(f"(pickupable {obj})")
        if otype in constants.MOVABLE_RECEPTACLES_SET:
            init.append(f"(isReceptacleObject {obj})")
        for ability, predicate in (("Cleanable", "cleanable"), ("Heatable", "heatable"), ("Coolable", "coolable")):
            if otype in actions[ability]:
                init.append(f"({predicate} {obj})")
        if otype in actions["Sliceable"]:
            init.append(f"(sliceable {obj})")
        if receptacles[receptacle_id].type == "Fridge":
            init.append(f"(isCool {obj})")  # ALFRED counts what starts in the fridge as cool
    declarations = ["agent1 # agent"]
    declarations += [f"{t}Type # otype" for t in otypes]
    declarations += [f"{t}Type # rtype" for t in rtypes]
    declarations += [f"{o} # object" for o in objects]
    declarations += [f"{r.id} # receptacle" for r in scene.receptacles]
    declarations += [f"{loc} # location" for loc in locations]
    goal = goal_library.gdict[spec.task_type]["pddl"].format(
        obj=spec.object_target, recep=spec.parent_target, toggle=spec.toggle_target, mrecep=""
    )
    body = "\n".join(
        [
            f"(define (problem {name})",
            "(:domain alfred)",
            "(:objects",
            *declarations,
            ")",
            "(:init",
            *init,
            ")",
            goal.strip(),
        ]
    )
    return mangle(body)


def game_json(spec: TaskSpec, name: str) -> dict[str, Any]:
    """ALFWorld's game-file JSON for ``spec`` (``solvable`` still unchecked)."""
    domain, grammar = game_logic()
    return {
        "pddl_domain": domain,
        "grammar": grammar.replace("UNKNOWN GOAL", spec.text),
        "pddl_problem": pddl_problem(spec, name),
        "solvable": False,
    }


def traj_data(spec: TaskSpec) -> dict[str, Any]:
    """The ``traj_data.json`` the package's hand-coded expert reads beside a game file."""
    return {
        "task_type": spec.task_type,
        "scene": {"floor_plan": f"FloorPlan{spec.scene}", "scene_num": spec.scene},
        "pddl_params": spec.pddl_params,
        "turk_annotations": {"anns": [{"task_desc": spec.text}]},
        "agentrl": {"generator_version": GENERATOR_VERSION, "placements": spec.placements},
    }


def expert_walkthrough(game: dict[str, Any], spec: TaskSpec, max_steps: int = MAX_PLAN_STEPS) -> list[str] | None:
    """The expert's commands from the start of ``game`` to its goal, run through the real engine.

    A witness of solvability: the commands are replayed by TextWorld's PDDL engine, which
    must report the goal reached within ``max_steps``. None when it does not.
    """
    from agentrl.envs.alfworld import engine
    from agentrl.envs.alfworld.expert import AlfworldExpert

    expert = AlfworldExpert(spec.task_type, spec.object_target, spec.parent_target, spec.toggle_target)
    raw = engine.acquire()
    try:
        env = engine.demangled(raw)
        env.load(game)
        state = env.reset()
        shown = engine.names(state)
        commands: list[str] = []
        while not state["won"] and len(commands) < max_steps:
            command = expert.act(state["_facts"], shown, state["admissible_commands"])
            if command is None:
                return None
            state, _, _ = env.step(command)
            commands.append(command)
        return commands if state["won"] else None
    finally:
        engine.release(raw)


def planner_plan(game: dict[str, Any]) -> list[str] | None:
    """fast-downward's plan for ``game`` as commands, if it replays to the goal.

    Seconds to tens of seconds, and each call loads its own copy of fast-downward's
    library (which stays loaded): a check to run on a sample, not in a loop.
    """
    import textworld
    from textworld.envs.pddl import PddlEnv

    from agentrl.envs.alfworld import engine

    env = engine.demangled(PddlEnv(textworld.EnvInfos(policy_commands=True, won=True)))
    env.load(game)
    state = env.reset()
    plan = list(state["policy_commands"] or [])
    for command in plan:
        state, _, _ = env.step(command)
    return plan if plan and state["won"] else None


def task_stream_seed(split: str, task_type: str, index: int, base_seed: int) -> str:
    """The seed of the random stream that draws game ``index`` (a string: stable across Python runs)."""
    return f"alfworld-v{GENERATOR_VERSION}-{split}-{task_type}-{base_seed}-{index}"


def generate_game(split: str, task_type: str, index: int, base_seed: int = 0) -> Path:
    """Game ``index`` of ``task_type`` in ``split``: generated, checked solvable and cached (atomic across processes).

    Returns the path of its ``game.tw-pddl``; ``traj_data.json`` lies beside it, as in the
    official data, so the package's own tools can read a generated game.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown ALFWorld task type {task_type!r}; choose one of {', '.join(TASK_TYPES)}")
    scenes = scenes_of(split)
    folder = cache_dir("alfworld") / f"v{GENERATOR_VERSION}" / f"{split}-{base_seed}" / f"{task_type}-{index}"
    path = folder / "game.tw-pddl"
    if path.exists():
        return path
    rng = random.Random(task_stream_seed(split, task_type, index, base_seed))
    for attempt in range(50):
        spec = draw_task(rng, task_type, scenes)
        digest = hashlib.sha1(json.dumps(spec.placements, sort_keys=True).encode()).hexdigest()[:8]
        game = game_json(spec, f"agentrl_{task_type}_{split}_{index}_{digest}")
        walkthrough = expert_walkthrough(game, spec)
        if walkthrough is None:
            logger.debug("ALFWorld draw %d of %s/%s/%d: no short solution; redrawing", attempt, split, task_type, index)
            continue
        game["solvable"] = True
        game["walkthrough"] = walkthrough
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            (Path(tmp) / "traj_data.json").write_text(json.dumps(traj_data(spec), indent=1))
            (Path(tmp) / "game.tw-pddl").write_text(json.dumps(game))
            os.replace(Path(tmp) / "traj_data.json", folder / "traj_data.json")
            os.replace(Path(tmp) / "game.tw-pddl", path)  # last: its presence means the game is complete
        logger.info("generated ALFWorld game %s", path)
        return path
    raise RuntimeError(f"no solvable {task_type} task found for {split} index {index} in 50 draws")
