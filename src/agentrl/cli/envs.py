"""``agentrl envs``: the table of registered envs."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("envs", help="list the registered envs", description="List the registered envs.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, _extra: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from agentrl.envs import registered
    from agentrl.factory import env_config, short_names

    names: dict[str, list[str]] = {}
    for name in short_names():
        names.setdefault(env_config(name).id, []).append(name)
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "short_names": names.get(e.id, []),
            "kind": "multi-agent" if e.multi_agent else "single-agent",
            "description": e.description,
        }
        for e in registered()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="agentrl envs", title_justify="left")
    for column in ("id", "short name", "kind", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["id"], ", ".join(row["short_names"]), row["kind"], row["description"])
    console = Console()
    console.print(table)
    console.print("Play one: agentrl play NAME --seed 0   (NAME: a short name or an id)")
    return 0
