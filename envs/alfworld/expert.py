"""A privileged expert for ALFWorld tasks: the next command from the true PDDL state.

ALFWorld ships two experts: fast-downward re-planning from the current state (exact, but
a kitchen task can take seconds per step, and heating tasks tens of seconds) and a
hand-coded agent that explores by observation with unseeded random moves. This expert
reads the engine's facts instead (where every object is, what the agent holds, what is
open, hot, cool, clean or lit) and walks the task's fixed recipe:

    take a target → (heat | cool | clean it | go to the lamp and turn it on) → place it
    (twice for ``pick_two_obj_and_place``)

choosing, at each stage, the candidate that costs fewest steps (already here, then not
behind a closed door), ties broken by name. It recovers from any state an agent can
reach: a wrong object in hand is put down first, a target placed before it was heated
is taken out again. It is deterministic and costs microseconds a step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

_STATE_TOOL = {
    "pick_clean_then_place_in_recep": ("isclean", "clean", "sinkbasin"),
    "pick_heat_then_place_in_recep": ("ishot", "heat", "microwave"),
    "pick_cool_then_place_in_recep": ("iscool", "cool", "fridge"),
}


def _natural(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.*?)\s*(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, 0)


@dataclass
class _State:
    """The facts the expert reads, by raw (mangled) id."""

    at: str = ""
    held: list[str] = field(default_factory=list)
    inside: dict[str, str] = field(default_factory=dict)  # object -> receptacle
    location: dict[str, str] = field(default_factory=dict)  # receptacle -> location
    otype: dict[str, str] = field(default_factory=dict)
    rtype: dict[str, str] = field(default_factory=dict)
    openable: set[str] = field(default_factory=set)
    opened: set[str] = field(default_factory=set)
    flags: dict[str, set[str]] = field(default_factory=dict)  # ishot / iscool / isclean / istoggled -> objects
    holds: set[tuple[str, str]] = field(default_factory=set)  # (rtype, otype) pairs of canContain

    @classmethod
    def read(cls, facts: Iterable[Any]) -> _State:
        state = cls()
        for fact in facts:
            name, args = fact.name, [a.name for a in fact.arguments]
            if name == "atlocation":
                state.at = args[1]
            elif name == "holds":
                state.held.append(args[1])
            elif name == "inreceptacle":
                state.inside[args[0]] = args[1]
            elif name == "receptacleatlocation":
                state.location[args[0]] = args[1]
            elif name == "objecttype":
                state.otype[args[0]] = args[1].removesuffix("type")
            elif name == "receptacletype":
                state.rtype[args[0]] = args[1].removesuffix("type")
            elif name == "openable":
                state.openable.add(args[0])
            elif name == "opened":
                state.opened.add(args[0])
            elif name == "cancontain":
                state.holds.add((args[0].removesuffix("type"), args[1].removesuffix("type")))
            elif name in ("ishot", "iscool", "isclean", "istoggled"):
                state.flags.setdefault(name, set()).add(args[0])
        return state

    def closed(self, receptacle: str) -> bool:
        return receptacle in self.openable and receptacle not in self.opened

    def here(self, receptacle: str) -> bool:
        return self.location.get(receptacle) == self.at


class AlfworldExpert:
    """Next-command expert for one task, given in ALFRED's ``pddl_params`` terms.

    Args:
        task_type: One of the six ALFWorld task types.
        object_target: The object type to handle (``Apple``).
        parent_target: The receptacle type to place it in (``Fridge``); empty for looking tasks.
        toggle_target: The lamp type for ``look_at_obj_in_light`` (``DeskLamp``).
    """

    def __init__(self, task_type: str, object_target: str, parent_target: str = "", toggle_target: str = ""):
        self.task_type = task_type
        self.obj = object_target.lower()
        self.parent = parent_target.lower()
        self.toggle = toggle_target.lower()

    def act(self, facts: Iterable[Any], names: dict[str, str], admissible: Collection[str]) -> str | None:
        """The next command, or None when the task is done or no recipe step is admissible.

        Args:
            facts: The engine's raw facts (``state["_facts"]``).
            names: Raw id → shown name (``apple 1``).
            admissible: The commands the engine accepts now.
        """
        state = _State.read(facts)
        plan = self._plan(state, names)
        if plan is None:
            return None
        return plan if plan in admissible else None

    # ------------------------------------------------------------------ recipe
    def _plan(self, s: _State, names: dict[str, str]) -> str | None:
        def cost(receptacle: str) -> tuple[int, int, tuple[str, int]]:
            return (0 if s.here(receptacle) else 1, 1 if s.closed(receptacle) else 0, _natural(names[receptacle]))

        def reach(receptacle: str, then: str) -> str:
            if not s.here(receptacle):
                return f"go to {names[receptacle]}"
            if s.closed(receptacle):
                return f"open {names[receptacle]}"
            return then

        goal_receptacles = sorted((r for r, t in s.rtype.items() if t == self.parent), key=cost)
        targets = [o for o, t in s.otype.items() if t == self.obj]
        state_tool = _STATE_TOOL.get(self.task_type)
        flag = state_tool[0] if state_tool else ""

        destination = goal_receptacles[0] if goal_receptacles else None
        if self.task_type == "pick_two_obj_and_place":
            # both objects must end in one receptacle: the one already holding a target, if any
            occupied = [r for r in goal_receptacles if any(s.inside.get(o) == r for o in targets)]
            destination = occupied[0] if occupied else destination

        def done(o: str) -> bool:  # a target already where the goal wants it
            if self.task_type == "pick_two_obj_and_place":
                return s.inside.get(o) == destination
            return s.inside.get(o) in goal_receptacles and (not flag or o in s.flags.get(flag, set()))

        for held in s.held:
            if s.otype.get(held) != self.obj:
                return self._put_down(s, held, names, cost, reach)
            name = names[held]
            if self.task_type == "look_at_obj_in_light":
                lamps = [o for o, t in s.otype.items() if t == self.toggle and o in s.inside]
                if not lamps:
                    return None
                lamp = min(lamps, key=lambda o: cost(s.inside[o]))
                if lamp in s.flags.get("istoggled", set()) and s.here(s.inside[lamp]):
                    return None  # goal holds
                return reach(s.inside[lamp], f"use {names[lamp]}") if not s.closed(s.inside[lamp]) else None
            if state_tool and held not in s.flags.get(flag, set()):
                tools = sorted((r for r, t in s.rtype.items() if t == state_tool[2]), key=cost)
                if not tools:
                    return None
                tool = tools[0]
                if not s.here(tool):
                    return f"go to {names[tool]}"
                return f"{state_tool[1]} {name} with {names[tool]}"
            if destination is None:
                return None
            return reach(destination, f"move {name} to {names[destination]}")

        candidates = [o for o in targets if o in s.inside and not done(o)]
        if not candidates:
            return None
        chosen = min(candidates, key=lambda o: (*cost(s.inside[o]), _natural(names[o])))
        source = s.inside[chosen]
        return reach(source, f"take {names[chosen]} from {names[source]}")

    def _put_down(
        self,
        s: _State,
        held: str,
        names: dict[str, str],
        cost: Callable[[str], tuple[int, int, tuple[str, int]]],
        reach: Callable[[str, str], str],
    ) -> str | None:
        """Put a wrong object down in the cheapest receptacle that can hold it (not a goal one)."""
        kind = s.otype.get(held, "")
        places = [r for r, t in s.rtype.items() if (t, kind) in s.holds and t != self.parent]
        if not places:
            return None
        place = min(places, key=cost)
        return reach(place, f"move {names[held]} to {names[place]}")
