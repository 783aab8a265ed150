"""``agentrl algos``: the table of training algorithms, and one algorithm's settings.

    agentrl algos                 # one line each: name, summary, config class, what it needs
    agentrl algos grpo            # its settings (as algo.* overrides of agentrl train) and its YAML file
    agentrl algos --plugin mypkg.algo --config-dir my_configs   # with an algorithm of your own

The rows come from :func:`agentrl.trainer.algorithm.algorithm_table`; the settings from
the config dataclass's field docs (:func:`agentrl.cli.help.settings_help`), with the values
that ``configs/algo/NAME.yaml`` sets.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.resources
import inspect
import json
import logging
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from agentrl.cli.help import clean_doc, settings_help

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "algos",
        help="list the training algorithms (agentrl algos NAME: one's settings)",
        description="List the training algorithms of `agentrl train algo=NAME`, or show one algorithm's "
        "settings and config file.",
    )
    parser.add_argument("name", nargs="?", default=None, help="an algorithm: show its settings and YAML file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it registers algorithms of its own); repeatable",
    )
    parser.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also look for DIR/algo/NAME.yaml (as agentrl train --config-dir does); repeatable",
    )
    parser.set_defaults(run=run)


def yaml_path(name: str, config_dirs: Sequence[str] = ()) -> Traversable | None:
    """The config file of ``algo=name``: the packaged one, else the first in ``config_dirs``; None if none."""
    packaged = importlib.resources.files("agentrl.configs") / "algo" / f"{name}.yaml"
    if packaged.is_file():
        return packaged
    return next((p for p in (Path(d) / "algo" / f"{name}.yaml" for d in config_dirs) if p.is_file()), None)


def yaml_comment(path: Traversable) -> str:
    """The first comment line of a config file (the command that uses it), without the ``#``."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            return line.lstrip().lstrip("#").strip()
    return ""


def composed(name: str, config_dirs: Sequence[str] = ()) -> Any:
    """The algorithm config that ``algo=name`` composes from its YAML file; None without one.

    Raises:
        ValueError: The file does not compose (a bad field or value), naming the file.
    """
    path = yaml_path(name, config_dirs)
    if path is None:
        return None
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    # Only the algo group is composed: no primary config, so the env and model files play no part.
    overrides = [f"+algo={name}"]
    if config_dirs:
        paths = ",".join(f"file://{Path(d).resolve()}" for d in config_dirs)
        overrides.append(f"hydra.searchpath=[{paths}]")
    try:
        with initialize_config_module(config_module="agentrl.configs", version_base=None):
            cfg: Any = compose(overrides=overrides)
        return OmegaConf.to_object(cfg.algo)
    except (HydraException, OmegaConfBaseException) as err:
        raise ValueError(f"{path} does not compose: {err}; fix that file") from err


def needs_text(needs: Any) -> str:
    """The needs that are set, in words (``value head, reference``), or ``nothing extra``."""
    names = [f.name.replace("_", " ") for f in dataclasses.fields(needs) if getattr(needs, f.name)]
    return ", ".join(names) or "nothing extra"


def describe(spec: Any, config_dirs: Sequence[str] = ()) -> dict[str, Any]:
    """One row of ``agentrl algos``: name, summary, config, module, needs and the YAML file."""
    default = spec.config()
    needs = default.needs()
    row: dict[str, Any] = {
        "name": spec.name,
        "summary": spec.summary,
        "config": spec.config.__name__,
        "module": spec.module,
        "needs": [f.name for f in dataclasses.fields(needs) if getattr(needs, f.name)],
        "needs_text": needs_text(needs),
        "yaml": str(yaml_path(spec.name, config_dirs) or "") or None,
    }
    try:
        cfg = composed(spec.name, config_dirs)
    except ValueError as err:
        logger.warning("%s", err)
        row["error"] = str(err)
        return row
    if cfg is not None and cfg.needs() != needs:
        # The YAML's settings change what the loop builds (e.g. a KL coefficient adds a reference policy).
        row["needs"] = [f.name for f in dataclasses.fields(cfg.needs()) if getattr(cfg.needs(), f.name)]
        row["needs_text"] = f"{needs_text(cfg.needs())} (with its YAML; needs() depends on settings)"
    return row


def run(args: argparse.Namespace, _extra: list[str]) -> int:
    from agentrl.cli.config import load_plugins
    from agentrl.trainer.algorithm import algorithm_table

    for folder in args.config_dir:
        if not Path(folder).is_dir():
            raise ValueError(f"--config-dir {folder}: no such folder")
    load_plugins(args.plugin)
    table = algorithm_table()
    if args.name is not None:
        spec = table.get(args.name)
        if spec is None:
            raise ValueError(
                f"no algorithm {args.name!r}; pick one of: {', '.join(table)} "
                "(a plugin's algorithm: add --plugin MODULE)"
            )
        return show(spec, config_dirs=args.config_dir, as_json=args.json)
    rows = [describe(spec, args.config_dir) for spec in table.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=0)
    print("algorithms (agentrl train algo=NAME; agentrl algos NAME shows one's settings):")
    for r in rows:
        extra = f"; error: {r['error']}" if "error" in r else ("" if r["yaml"] else "; no configs/algo YAML")
        print(f"  {r['name']:<{width}}  {r['summary']}  [{r['config']}, {r['module']}; needs {r['needs_text']}{extra}]")
    return 0


def show(spec: Any, *, config_dirs: Sequence[str] = (), as_json: bool = False) -> int:
    """Print one algorithm: summary, config, needs, YAML file and every setting."""
    row = describe(spec, config_dirs)
    if "error" in row:
        raise ValueError(row["error"])
    cfg = composed(spec.name, config_dirs)
    if as_json:
        row["settings"] = dataclasses.asdict(cfg if cfg is not None else spec.config())
        print(json.dumps(row, indent=2, default=str))
        return 0
    print(f"{spec.name}: {spec.summary}")
    print(f"  config: {spec.config.__name__} ({spec.module})")
    needs_doc = inspect.getdoc(spec.config.needs)
    print(f"  needs: {row['needs_text']}" + (f" ({clean_doc(needs_doc)})" if needs_doc else ""))
    path = yaml_path(spec.name, config_dirs)
    if path is not None:
        print(f"  yaml: {path}")
        comment = yaml_comment(path)
        if comment:
            print(f"    # {comment}")
    else:
        print(
            f"  yaml: none found; algo={spec.name} needs algo/{spec.name}.yaml in agentrl's configs or a --config-dir"
        )
    print()
    if cfg is not None:
        title = f"settings of algo={spec.name}, as its YAML sets them"
        print(settings_help(cfg, title=title, prefix="algo"), end="")
    else:
        print(settings_help(spec.config, title=f"settings of algo={spec.name}", prefix="algo"), end="")
    return 0
