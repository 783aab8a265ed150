"""Imports point one way: a part imports only the parts below it (docs/design.md, Layering).

The parts, bottom to top, and what each may import of agentrl besides itself:

* ``envs`` (``envs/``): nothing else;
* ``sandboxes``: envs;
* ``agents``: envs;
* ``memory``: agents, envs;
* ``trainer``: memory, agents, sandboxes, envs;
* the roof (``src/agentrl/``: the CLI, ``factory.py``, ``testing.py``, the top-level
  package with its lazy ``agentrl.make``, and the ``configs/`` the CLI composes):
  everything.

So nothing below the roof imports ``agentrl.cli``, ``agentrl.factory``,
``agentrl.testing`` or the top-level package itself (``import agentrl``, ``from agentrl
import make`` and ``from agentrl import __version__`` all run the roof).

The checker parses every ``.py`` file with :mod:`ast` and sees every import wherever it
stands (module level, inside functions, under ``if TYPE_CHECKING:``): ``import
agentrl.x.y``, ``from agentrl.x import y``, ``from agentrl import x``, relative imports
(resolved against the module's package) and ``importlib.import_module("agentrl.x")``
with a literal name. A violation is reported as ``file:line``, the import and the rule.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "agentrl"
ROOF = "roof"
PARTS = ("envs", "sandboxes", "agents", "memory", "trainer")
"""The subpackages below the roof; each is a top-level folder of the repo (``src/agentrl/<part>`` links to it)."""
ALLOWED: dict[str, frozenset[str]] = {
    "envs": frozenset({"envs"}),
    "sandboxes": frozenset({"sandboxes", "envs"}),
    "agents": frozenset({"agents", "envs"}),
    "memory": frozenset({"memory", "agents", "envs"}),
    "trainer": frozenset({"trainer", "memory", "agents", "sandboxes", "envs"}),
    ROOF: frozenset({ROOF, *PARTS}),
}
"""Which parts each part may import (itself included)."""


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    module: str
    """The agentrl module imported (``agentrl.trainer.loop``)."""
    part: str
    target: str

    def __str__(self) -> str:
        allowed = sorted(ALLOWED[self.part] - {self.part})
        rule = f"{self.part} may import {', '.join(allowed) if allowed else 'nothing else of agentrl'}"
        try:
            where = self.path.relative_to(ROOT)
        except ValueError:
            where = self.path
        return f"{where}:{self.line}: imports {self.module} ({self.target}); {rule}"


def part_of_module(module: str) -> str | None:
    """The part an ``agentrl`` module belongs to (None: not agentrl's)."""
    names = module.split(".")
    if names[0] != PACKAGE:
        return None
    if len(names) > 1 and names[1] in PARTS:
        return names[1]
    return ROOF  # agentrl itself, agentrl.cli, agentrl.factory, agentrl.testing, agentrl.configs, ...


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` in ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(package):
        raise ValueError(f"relative import beyond the top-level package in {module}")
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import in ``tree``, at any depth, as absolute module names.

    ``from X import y`` yields ``X.y`` when X is the top-level ``agentrl`` (``y`` may be a
    subpackage or one of the roof's attributes) and ``X`` otherwise.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            if base == PACKAGE:
                for alias in node.names:
                    yield node.lineno, f"{PACKAGE}.{alias.name}" if alias.name in PARTS else PACKAGE
            else:
                yield node.lineno, base
        elif isinstance(node, ast.Call) and _is_import_module(node.func):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module"
    )


def check_file(path: Path, module: str, part: str) -> list[Violation]:
    """The upward imports of one file of ``part`` whose module name is ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for line, imported in imported_modules(tree, module, path.name == "__init__.py"):
        target = part_of_module(imported)
        if target is not None and target not in ALLOWED[part]:
            found.append(Violation(path, line, imported, part, target))
    return found


def module_name(path: Path, package_dir: Path, package: str) -> str:
    """The module name of ``path`` inside the package whose folder is ``package_dir``."""
    rel = path.relative_to(package_dir).with_suffix("")
    names = [package, *rel.parts]
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def _python_files(folder: Path, *, skip_links: bool = False) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        # The roof's links to the parts are checked as the parts they are.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d != "__pycache__" and not d.startswith(".") and not (skip_links and (here / d).is_symlink())
        )
        yield from (here / name for name in sorted(filenames) if name.endswith(".py"))


def package_files(root: Path = ROOT) -> Iterator[tuple[Path, str, str]]:
    """``(path, module, part)`` for every Python file of the ``agentrl`` package in the checkout at ``root``."""
    for part in PARTS:
        folder = root / part
        for path in _python_files(folder):
            yield path, module_name(path, folder, f"{PACKAGE}.{part}"), part
    configs = root / "configs"
    for path in _python_files(configs):
        yield path, module_name(path, configs, f"{PACKAGE}.configs"), ROOF
    src = root / "src" / PACKAGE
    for path in _python_files(src, skip_links=True):
        yield path, module_name(path, src, PACKAGE), ROOF


def check_tree(root: Path = ROOT) -> list[Violation]:
    """Every upward import in the checkout at ``root``."""
    return [v for path, module, part in package_files(root) for v in check_file(path, module, part)]


# ---------------------------------------------------------------------------- the repository


def test_every_part_is_found() -> None:
    files = list(package_files())
    parts = {part for _, _, part in files}
    assert parts >= {*PARTS, ROOF} - {"memory"}, parts
    modules = {module for _, module, _ in files}
    assert {"agentrl.envs.base", "agentrl.trainer.loop", "agentrl.cli", "agentrl.factory", "agentrl"} <= modules


def test_imports_point_one_way() -> None:
    violations = check_tree()
    assert not violations, "upward imports:\n" + "\n".join(map(str, violations))


# ---------------------------------------------------------------------------- the checker itself


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_checker_reports_a_planted_upward_import(tmp_path: Path) -> None:
    """A copy of the layout with an env that imports the trainer fails the check, naming file, line and rule."""
    _write(tmp_path / "envs" / "__init__.py", '"""Envs."""\n')
    _write(tmp_path / "envs" / "fine.py", "from agentrl.envs.info import TASK\nfrom . import base\n")
    planted = _write(
        tmp_path / "envs" / "planted.py",
        '"""An env that imports upward."""\n\nimport agentrl.envs.info\nimport agentrl.trainer.loop\n',
    )
    violations = check_tree(tmp_path)
    assert [(v.path, v.line, v.module, v.part, v.target) for v in violations] == [
        (planted, 4, "agentrl.trainer.loop", "envs", "trainer")
    ]
    assert str(violations[0]).endswith(
        "planted.py:4: imports agentrl.trainer.loop (trainer); envs may import nothing else of agentrl"
    )


@pytest.mark.parametrize(
    ("part", "source", "module"),
    [
        ("envs", "from agentrl.agents import types\n", "agentrl.agents"),
        ("envs", "from agentrl import trainer\n", "agentrl.trainer"),
        ("envs", "from agentrl import __version__\n", "agentrl"),
        ("envs", "from agentrl import make\n", "agentrl"),
        ("envs", "import agentrl\n", "agentrl"),
        ("agents", "def f():\n    from agentrl.cli.config import load\n", "agentrl.cli.config"),
        (
            "agents",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import agentrl.memory\n",
            "agentrl.memory",
        ),
        ("sandboxes", "from ...agents.types import Turn\n", "agentrl.agents.types"),
        ("sandboxes", "from ... import trainer\n", "agentrl.trainer"),
        ("memory", "import agentrl.trainer.loop as loop\n", "agentrl.trainer.loop"),
        ("memory", "from agentrl.sandboxes import base\n", "agentrl.sandboxes"),
        ("trainer", "from agentrl.factory import make_from_config\n", "agentrl.factory"),
        ("trainer", "from agentrl.testing import check_text_env\n", "agentrl.testing"),
        ("trainer", "import importlib\nimportlib.import_module('agentrl.cli')\n", "agentrl.cli"),
    ],
)
def test_checker_sees_every_form_of_import(tmp_path: Path, part: str, source: str, module: str) -> None:
    path = _write(tmp_path / part / "sub" / "mod.py", source)
    [violation] = check_tree(tmp_path)
    assert (violation.path, violation.module, violation.part) == (path, module, part)


@pytest.mark.parametrize(
    ("part", "source"),
    [
        ("envs", "from agentrl.envs import base\nfrom . import spaces\nfrom .sub import x\n"),
        ("sandboxes", "from agentrl.envs.base import TextEnv\n"),
        ("agents", "from agentrl import envs\nfrom ...envs import info\nfrom .. import types\n"),
        ("memory", "from agentrl.agents.base import Agent\nimport agentrl.envs.info\n"),
        ("trainer", "from agentrl import memory, agents, sandboxes, envs\n"),
        ("trainer", "import numpy\nfrom collections import abc\n"),
    ],
)
def test_checker_allows_downward_imports(tmp_path: Path, part: str, source: str) -> None:
    _write(tmp_path / part / "sub" / "mod.py", source)
    assert check_tree(tmp_path) == []


def test_the_roof_may_import_everything(tmp_path: Path) -> None:
    source = "from agentrl.trainer.loop import Trainer\nfrom agentrl.cli import main\nimport agentrl.factory\n"
    _write(tmp_path / "src" / "agentrl" / "cli" / "train.py", source)
    _write(
        tmp_path / "src" / "agentrl" / "factory.py", "from agentrl.envs import registration\nfrom . import testing\n"
    )
    assert check_tree(tmp_path) == []


def test_relative_imports_resolve_against_the_package(tmp_path: Path) -> None:
    init = _write(tmp_path / "envs" / "pkg" / "__init__.py", "from ... import trainer\n")
    mod = _write(tmp_path / "envs" / "pkg" / "mod.py", "from ...trainer import loop\nfrom .. import base\n")
    assert sorted((v.path.name, v.module) for v in check_tree(tmp_path)) == [
        (init.name, "agentrl.trainer"),
        (mod.name, "agentrl.trainer"),
    ]
