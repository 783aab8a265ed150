"""GRASP-style energy collection: the grid world the code-as-policy env scores programs on.

An ``size`` x ``size`` grid (11 by default) holds energy units on some cells and,
in some variants, obstacles. The agent starts on the start cell with empty hands and
has ``max_steps`` actions (20): ``up``, ``down``, ``left``, ``right`` (a move into a
wall or obstacle wastes the step), ``take`` (pick up the energy on the cell, up to the
carrying ``capacity``) and ``drop`` (on the start cell: deliver what is carried;
elsewhere it wastes the step). A plan may stop early. The score is

    energy delivered - cost x steps taken

where steps taken is the length of the (cut to ``max_steps``) plan. The public GRASP
scorer multiplies the cost by the size of the move set instead of the steps taken;
this one charges per step, as the rules say.

Variants: the energy ``distribution`` (``uniform``, ``clustered``, ``sparse``), the
``start`` (``center``, ``corner``, ``random``), ``obstacles`` (``none``, ``walls``),
the carrying ``capacity`` (None: unlimited) and the step ``cost``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
ACTIONS = (*MOVES, "take", "drop")
DISTRIBUTIONS = ("uniform", "clustered", "sparse")
STARTS = ("center", "corner", "random")
OBSTACLES = ("none", "walls")


@dataclass(frozen=True)
class GraspVariant:
    """The family a GRASP instance is drawn from."""

    size: int = 11
    """Grid side."""
    distribution: str = "uniform"
    """How energy is spread: ``uniform`` (many small), ``clustered`` (two heaps), ``sparse`` (few large)."""
    start: str = "center"
    """Where the agent starts (and delivers): ``center``, ``corner`` or ``random``."""
    obstacles: str = "none"
    """``none`` or ``walls`` (short random wall segments)."""
    capacity: int | None = None
    """Most energy carried at once (None: unlimited)."""
    cost: float = 0.1
    """Score cost of each step taken."""
    max_steps: int = 20
    """Actions available per instance."""

    def __post_init__(self) -> None:
        if self.size < 5:
            raise ValueError(f"grid size must be at least 5, got {self.size}")
        for name, value, allowed in (
            ("distribution", self.distribution, DISTRIBUTIONS),
            ("start", self.start, STARTS),
            ("obstacles", self.obstacles, OBSTACLES),
        ):
            if value not in allowed:
                raise ValueError(f"unknown GRASP {name} {value!r}; choose one of {', '.join(allowed)}")
        if self.capacity is not None and self.capacity < 1:
            raise ValueError(f"capacity must be at least 1 or None, got {self.capacity}")
        if self.cost < 0 or self.max_steps < 1:
            raise ValueError("cost must be >= 0 and max_steps >= 1")


@dataclass
class GraspInstance:
    """One grid: what a policy program gets (as :meth:`state`) and what the simulator scores."""

    variant: GraspVariant
    start: tuple[int, int]
    energy: list[list[int]]
    obstacles: set[tuple[int, int]] = field(default_factory=set)

    def state(self) -> dict[str, Any]:
        """The JSON-able state handed to ``plan(state)``."""
        return {
            "size": self.variant.size,
            "start": list(self.start),
            "energy": [list(row) for row in self.energy],
            "obstacles": sorted([list(cell) for cell in self.obstacles]),
            "max_steps": self.variant.max_steps,
            "cost": self.variant.cost,
            "capacity": self.variant.capacity,
        }

    def ascii(self) -> str:
        """The grid as text: ``S`` start, ``#`` obstacle, digits energy, ``.`` empty."""
        rows = []
        for r, row in enumerate(self.energy):
            cells = []
            for c, value in enumerate(row):
                if (r, c) == self.start:
                    cells.append("S")
                elif (r, c) in self.obstacles:
                    cells.append("#")
                else:
                    cells.append(str(min(value, 9)) if value else ".")
            rows.append(" ".join(cells))
        return "\n".join(rows)


def generate(seed: int, variant: GraspVariant | None = None) -> GraspInstance:
    """A random instance of ``variant``, the same for the same seed."""
    variant = variant or GraspVariant()
    rng = np.random.default_rng(seed)
    n = variant.size
    if variant.start == "center":
        start = (n // 2, n // 2)
    elif variant.start == "corner":
        corners = [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)]
        start = corners[int(rng.integers(4))]
    else:
        start = (int(rng.integers(n)), int(rng.integers(n)))
    obstacles: set[tuple[int, int]] = set()
    if variant.obstacles == "walls":
        for _ in range(4):
            r, c = int(rng.integers(n)), int(rng.integers(n))
            horizontal = bool(rng.integers(2))
            for k in range(int(rng.integers(2, 5))):
                cell = (r, min(n - 1, c + k)) if horizontal else (min(n - 1, r + k), c)
                if cell != start:
                    obstacles.add(cell)
    free = [(r, c) for r in range(n) for c in range(n) if (r, c) != start and (r, c) not in obstacles]
    energy = [[0] * n for _ in range(n)]
    if variant.distribution == "uniform":
        for i in rng.choice(len(free), size=min(len(free), n * 2), replace=False):
            r, c = free[int(i)]
            energy[r][c] = int(rng.integers(1, 4))
    elif variant.distribution == "clustered":
        for _ in range(2):
            cr, cc = free[int(rng.integers(len(free)))]
            for _ in range(6):
                r = int(np.clip(cr + rng.integers(-1, 2), 0, n - 1))
                c = int(np.clip(cc + rng.integers(-1, 2), 0, n - 1))
                if (r, c) != start and (r, c) not in obstacles:
                    energy[r][c] = min(9, energy[r][c] + int(rng.integers(1, 4)))
    else:
        for i in rng.choice(len(free), size=min(len(free), 5), replace=False):
            r, c = free[int(i)]
            energy[r][c] = int(rng.integers(4, 10))
    return GraspInstance(variant, start, energy, obstacles)


@dataclass(frozen=True)
class SimResult:
    """How one plan did on one instance."""

    score: float
    delivered: int
    steps: int
    wasted: int
    """Steps that did nothing: unknown actions, bumps, empty takes, drops away from the start."""


def simulate(instance: GraspInstance, plan: list[Any]) -> SimResult:
    """Play ``plan`` (action names; anything else wastes a step) and score it."""
    variant = instance.variant
    n = variant.size
    energy = [list(row) for row in instance.energy]
    pos = instance.start
    carried = delivered = wasted = 0
    steps = plan[: variant.max_steps]
    for action in steps:
        name = action.strip().lower() if isinstance(action, str) else None
        if name in MOVES:
            dr, dc = MOVES[name]
            nxt = (pos[0] + dr, pos[1] + dc)
            if 0 <= nxt[0] < n and 0 <= nxt[1] < n and nxt not in instance.obstacles:
                pos = nxt
            else:
                wasted += 1
        elif name == "take":
            room = energy[pos[0]][pos[1]] if variant.capacity is None else variant.capacity - carried
            amount = min(energy[pos[0]][pos[1]], max(room, 0))
            if amount == 0:
                wasted += 1
            energy[pos[0]][pos[1]] -= amount
            carried += amount
        elif name == "drop" and pos == instance.start and carried:
            delivered += carried
            carried = 0
        else:
            wasted += 1
    score = delivered - variant.cost * len(steps)
    return SimResult(score=round(score, 6), delivered=delivered, steps=len(steps), wasted=wasted)
