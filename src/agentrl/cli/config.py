"""Composing the CLI's configs with Hydra (structured schemas + ``configs/`` files)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from agentrl.agents.llm_agent import AgentConfig
from agentrl.agents.scripted import ScriptedAgentConfig
from agentrl.cli import validate
from agentrl.factory import short_name_of, short_names

T = TypeVar("T")


def store(name: str, node: type, group: str | None = None) -> None:
    """Register a dataclass schema under ``name`` (in ``group``) for config files to extend."""
    ConfigStore.instance().store(name=name, node=node, group=group)


# The `agent` group of train and eval: a model (llm) or a scripted player (expert, random).
store("llm_agent_schema", AgentConfig, group="agent")
store("scripted_agent_schema", ScriptedAgentConfig, group="agent")


def add_config_flags(parser: argparse.ArgumentParser, help_schema: Callable[[], str] | None = None) -> None:
    """``--print-config``, ``--plugin`` and ``--config-dir`` (and ``--help`` listing every setting) for the
    commands whose settings are Hydra overrides.

    Args:
        parser: The subcommand's parser (built with ``add_help=False`` when ``help_schema`` is given).
        help_schema: Renders the settings' documentation; called only when ``--help`` is asked for.
    """
    if help_schema is not None:
        render = help_schema

        class _Help(argparse.Action):
            def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
                parser.print_help()
                print("\n" + render())
                parser.exit()

        parser.add_argument("-h", "--help", nargs=0, action=_Help, help="show this help and every setting, then exit")
    parser.add_argument(
        "--print-config", action="store_true", help="print the composed config (YAML) and exit without running"
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it may register algorithms or envs of its own); repeatable",
    )
    parser.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also look for config files in DIR (e.g. DIR/algo/NAME.yaml for algo=NAME); repeatable",
    )


def load_plugins(modules: Sequence[str]) -> None:
    """Import the ``--plugin`` modules (they register algorithms or envs on import)."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ValueError(f"--plugin {name}: cannot import it ({err}); is it on PYTHONPATH?") from err


def print_config(cfg: Any) -> None:
    """Print a composed config as YAML (``--print-config``)."""
    sys.stdout.write(OmegaConf.to_yaml(OmegaConf.structured(cfg)))


def add_server_flags(parser: Any, default_port: int) -> None:
    """``--host`` and ``--port``, for the commands that serve over HTTP."""
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help=f"TCP port (default {default_port})")


def server_overrides(args: Any) -> list[str]:
    """The ``server.host``/``server.port`` overrides that ``--host``/``--port`` stand for."""
    flags = [f"server.host={args.host}"] if args.host else []
    return flags + ([f"server.port={args.port}"] if args.port is not None else [])


def env_overrides(env: str) -> list[str]:
    """Overrides selecting ``env``: its short-name config (also for the id a shipped config names), or a bare id with
    no kwargs."""
    if env in short_names():
        return [f"env={env}"]
    if name := short_name_of(env):
        return [f"env={name}"]
    return ["env=_by_id", f"env.id={_quote(env)}"]


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def expand_shorthands(overrides: Sequence[str], groups: set[str], config_dirs: Sequence[str] = ()) -> list[str]:
    """Rewrite the group selections that name no config file but something the group stands for.

    * ``env=ID`` -> ``env=NAME`` when the shipped config ``NAME`` is the one that names ``ID`` (the same arguments,
      agent defaults and recipe as the short name); any other registered or gymnasium id, or ``module:Class`` ->
      ``env=_by_id env.id=ID``;
    * ``env.id=ID`` with no ``env=`` -> ``env=_by_id`` first (else the default env's kwargs would go to ID);
    * ``model=ORG/NAME`` or ``model=PATH`` (an existing folder) -> ``model.name=...``.

    A name that is none of these is an error listing the options (see :func:`validate.unknown_option`).
    """
    import gymnasium

    from agentrl.envs import registration

    out: list[str] = []
    parsed = validate.parse(overrides)
    for line, o in zip(overrides, parsed, strict=True):
        value = o.value() if not (o.is_delete() or o.is_sweep_override()) else None
        if not (validate.is_group_selection(o, groups) and isinstance(value, str)):
            out.append(line)
            continue
        group = o.key_or_group
        if value in validate.group_options(group, config_dirs) or value.startswith("_"):
            out.append(line)
        elif group == "env":
            ids = [e.id for e in registration.registered()]
            if name := short_name_of(value):
                out.append(f"env={name}")
            elif value in ids or ":" in value or value in gymnasium.registry:
                out += ["env=_by_id", f"env.id={_quote(value)}"]
            else:
                raise validate.unknown_option("env", value, config_dirs, extra=ids)
        elif group == "model" and ("/" in value or Path(value).expanduser().is_dir()):
            out.append(f"model.name={_quote(value)}")
        else:
            raise validate.unknown_option(group, value, config_dirs)
    picks_env = any(o.key_or_group == "env" and not o.is_delete() for o in parsed)
    if "env" in groups and not picks_env and any(o.key_or_group == "env.id" and not o.is_delete() for o in parsed):
        out.insert(0, "env=_by_id")
    return out


def load(config_name: str, overrides: Sequence[str], schema: type[T], *, config_dirs: Sequence[str] = ()) -> T:
    """Compose ``configs/<config_name>.yaml`` with ``overrides`` into a ``schema`` object, checked.

    ``config_dirs`` are searched for config files too (after the packaged ones), so a
    user's ``DIR/algo/NAME.yaml`` is ``algo=NAME``. Before composing, ``env=ID`` and
    ``model=ORG/NAME`` are expanded (:func:`expand_shorthands`) and every override is
    checked (:func:`validate.check_overrides`: group options, setting names, types);
    after, every value with a range or choices (:func:`validate.check_values`).

    Raises:
        ValueError: naming the bad override or setting and what is valid.
    """
    for folder in config_dirs:
        if not Path(folder).is_dir():
            raise ValueError(f"--config-dir {folder}: no such folder")
    groups = validate.config_groups(schema, config_dirs)
    overrides = expand_shorthands(overrides, groups, config_dirs)
    parsed = validate.parse(overrides)
    search = []
    if config_dirs:
        paths = ",".join(f"file://{Path(folder).resolve()}" for folder in config_dirs)
        search.append(f"hydra.searchpath=[{paths}]")
    selections = [line for line, o in zip(overrides, parsed, strict=True) if validate.is_group_selection(o, groups)]
    try:
        with initialize_config_module(config_module="agentrl.configs", version_base=None):
            base: Any = compose(config_name=config_name, overrides=[*selections, *search])
            validate.check_overrides(base, parsed, groups, config_dirs)
            cfg: Any = compose(config_name=config_name, overrides=[*overrides, *search])
        result: T = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    except (HydraException, OmegaConfBaseException) as err:
        raise ValueError(f"bad config or override ({' '.join(overrides)}): {validate.hydra_message(err)}") from err
    validate.check_values(result)
    return result
