"""``agentrl runs``: list the training runs in the terminal, and compare some side by side.

    agentrl runs                                  # every run folder under runs/
    agentrl runs runs/train/GuessNumber-v0-grpo-tiny-s0 other/root   # these runs, or the runs under these folders
    agentrl runs --compare RUN_A RUN_B            # their figures and their config differences, side by side
    agentrl runs --json                           # the same as JSON

A run folder is what ``agentrl train`` writes (``train.output_dir``, by default
``runs/train/<env>-<algo>-<model>-s<seed>``); only its files are read: ``config.json``,
``metrics.jsonl``, ``status.json`` and ``results.json``. A run whose files are missing or
corrupt is listed with a note saying which file and why; the others are unaffected.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentrl.trainer.metrics import STATUS_FILE

DEFAULT_ROOT = "runs"
"""Where ``agentrl runs`` looks without arguments (``agentrl train`` writes under ``runs/train``)."""

_RUN_FILES = ("config.json", "metrics.jsonl", STATUS_FILE, "results.json")
"""A folder holding any of these is a run folder."""
_MAX_DEPTH = 4
"""How deep below a root folder run folders are looked for."""
_SKIP = {"tensorboard", "wandb", "mlartifacts", "mlruns", "rollouts", "evals", "__pycache__"}
"""Folders inside a run that hold no runs."""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "runs",
        help="list the training runs (agentrl runs --compare A B: side by side)",
        description="List the run folders that `agentrl train` wrote (status, algorithm, env, model, iterations, "
        "eval success and score, wall time), or compare some side by side.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=f"run folders, or folders to look for runs under (default: {DEFAULT_ROOT}/); "
        "with --compare, runs given by folder or by name",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="compare the runs given (two or more): their figures and every setting that differs",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


# --------------------------------------------------------------------------- finding and reading runs
def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds any of the files ``agentrl train`` writes."""
    return path.is_dir() and any((path / name).is_file() for name in _RUN_FILES)


def find_runs(roots: Sequence[str | Path]) -> list[Path]:
    """The run folders among ``roots`` and below them (at most a few levels down), each once, sorted.

    Raises:
        ValueError: A root that does not exist.
    """
    found: dict[Path, None] = {}
    for root in roots:
        path = Path(root)
        if not path.is_dir():
            raise ValueError(f"{root}: no such folder (give run folders, or folders holding them)")
        for run in _walk(path, 0):
            found.setdefault(run, None)
    return sorted(found)


def _walk(path: Path, depth: int) -> Iterator[Path]:
    if is_run_folder(path):
        yield path
        return
    if depth >= _MAX_DEPTH:
        return
    try:
        children = sorted(p for p in path.iterdir() if p.is_dir())
    except OSError:
        return
    for child in children:
        if not child.name.startswith(".") and child.name not in _SKIP:
            yield from _walk(child, depth + 1)


def _read_json(path: Path, notes: list[str]) -> Any:
    """A JSON file, or None with a note when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        notes.append(f"no {path.name}")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        notes.append(f"{path.name} is unreadable ({_short(err)})")
    return None


def read_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a ``metrics.jsonl`` and notes on what is not a record (never raises; no file: no notes).

    A last line without its newline that is no JSON is one still being written (or cut off by a kill): it gets
    its own note, as the trainer's resume skips it.
    """
    notes: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as err:
        return [], [f"{path.name} is unreadable ({_short(err)})"]
    lines = text.split("\n")
    records, bad = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):  # no newline after it
                notes.append(f"{path.name}: its last line is being written or was cut off ({len(line)} characters)")
            else:
                bad.append(number)
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("kind"), str)  # train, eval, and kinds this reader has no use for
            and isinstance(record.get("iteration"), int)
        ):
            records.append(record)
        else:
            bad.append(number)
    if bad:
        shown = ", ".join(map(str, bad[:3])) + (", ..." if len(bad) > 3 else "")
        notes.append(f"{path.name} line{'s' if len(bad) > 1 else ''} {shown} not a record (skipped)")
    return records, notes


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _get(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, Mapping):
            return None
        tree = tree.get(part)
    return tree


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _status(status: Any, results: Any) -> tuple[str, str]:
    """(status, a note): from ``status.json``, else from whether ``results.json`` exists."""
    if not isinstance(status, dict):
        return ("finished", "") if isinstance(results, dict) else ("unknown", "")
    state = str(status.get("status", "unknown"))
    if state == "failed":
        return state, str(status.get("error", ""))
    if state != "running":
        return state, ""
    host, pid = status.get("host"), status.get("pid")
    if host != socket.gethostname():
        return "running", f"on {host}, last update {status.get('updated', '?')}"
    if isinstance(pid, int) and not _alive(pid):
        return "interrupted", "killed: its process is gone (run the same command to resume)"
    return "running", ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return False
    return True


def describe(path: str | Path, root: str | Path | None = None) -> dict[str, Any]:
    """One run's summary from its files: what ran, how far it got, how it did and how it ended.

    Never raises on a missing or corrupt file: ``notes`` says what could not be read.

    Args:
        path: The run folder.
        root: Shown names are relative to it (default: the folder's own name).
    """
    path = Path(path)
    notes: list[str] = []
    config = _read_json(path / "config.json", notes)
    if config is not None and not isinstance(config, dict):
        notes.append("config.json is not an object")
        config = None
    records, metric_notes = read_records(path / "metrics.jsonl")
    notes += metric_notes if (path / "metrics.jsonl").exists() else ["no metrics.jsonl"]
    status_file = _read_json(path / STATUS_FILE, []) if (path / STATUS_FILE).exists() else None
    if (path / STATUS_FILE).exists() and not isinstance(status_file, dict):
        notes.append(f"{STATUS_FILE} is unreadable")
    results = _read_json(path / "results.json", []) if (path / "results.json").exists() else None
    if (path / "results.json").exists() and not isinstance(results, dict):
        notes.append("results.json is unreadable")
        results = None
    status, why = _status(status_file, results)
    if why:
        notes.append(why)

    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    total = _get(config, "train.iterations")
    done = max((r["iteration"] for r in train), default=-1) + 1
    if isinstance(results, dict) and isinstance(results.get("iterations"), int):
        done = max(done, results["iterations"])
    wall = _number(status_file.get("wall_seconds")) if isinstance(status_file, dict) else None
    if wall is None and train:  # no status.json (an older run): the iterations' own time
        wall = sum(_number(r.get("seconds")) or 0.0 for r in train)

    def eval_figures(key: str) -> dict[str, Any]:
        numbers = [(r["iteration"], _number(r.get(key))) for r in evals]
        values = [(i, v) for i, v in numbers if v is not None]
        if not values:
            return {"first": None, "last": None, "best": None, "best_iteration": None}
        best = max(values, key=lambda item: item[1])
        return {"first": values[0][1], "last": values[-1][1], "best": best[1], "best_iteration": best[0]}

    last_train = train[-1] if train else {}
    try:
        name = str(path.relative_to(root)) if root is not None else path.name
    except ValueError:
        name = str(path)
    return {
        "run": name if name != "." else path.resolve().name,
        "path": str(path),
        "status": status,
        "algo": _get(config, "algo.name"),
        "env": _get(config, "env.id"),
        "model": _get(config, "model.name"),
        "iterations_done": done,
        "iterations_total": total if isinstance(total, int) else None,
        "env_steps": max((r.get("env_steps", 0) for r in records if isinstance(r.get("env_steps"), int)), default=0),
        "eval_success": eval_figures("success"),
        "eval_score": eval_figures("score"),
        "evaluations": len(evals),
        "last_train": {k: v for k, v in last_train.items() if k not in ("kind",) and _number(v) is not None},
        "wall_seconds": wall,
        "updated": status_file.get("updated") if isinstance(status_file, dict) else None,
        "notes": notes,
        "config": config,
    }


def resolve(names: Sequence[str]) -> list[Path]:
    """The run folders ``names`` stand for: a run folder's path, or a run's name under ``runs/``.

    Raises:
        ValueError: A name that is no run folder, or that names several.
    """
    known: list[Path] | None = None
    out = []
    for name in names:
        path = Path(name)
        if is_run_folder(path):
            out.append(path)
            continue
        if known is None:
            known = find_runs([DEFAULT_ROOT]) if Path(DEFAULT_ROOT).is_dir() else []
        matches = [p for p in known if p.name == name or str(p.relative_to(DEFAULT_ROOT)) == name]
        if len(matches) == 1:
            out.append(matches[0])
        elif matches:
            raise ValueError(f"{name} names several runs: {', '.join(map(str, matches))}; give the folder")
        else:
            raise ValueError(f"{name}: no run folder of that path or name (agentrl runs lists them)")
    return out


# --------------------------------------------------------------------------- the command
def run(args: argparse.Namespace, _extra: list[str]) -> int:
    if args.compare:
        if len(args.paths) < 2:
            raise ValueError("--compare needs two or more runs (folders, or names that agentrl runs shows)")
        return compare([describe(p) for p in resolve(args.paths)], as_json=args.json)
    roots = args.paths or [DEFAULT_ROOT]
    if not args.paths and not Path(DEFAULT_ROOT).is_dir():
        rows: list[dict[str, Any]] = []
    else:
        rows = [describe(p, _root_of(p, roots)) for p in find_runs(roots)]
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "config"} for r in rows], indent=2))
        return 0
    if not rows:
        where = ", ".join(roots)
        print(f"no run folders under {where} (agentrl train writes one per run, by default under runs/train)")
        return 0
    _print_table(rows)
    return 0


def _root_of(path: Path, roots: Sequence[str]) -> Path | None:
    for root in roots:
        folder = Path(root)
        if folder != path and folder in path.parents:
            return folder
    return None


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    # A narrow terminal (a pipe is 80 columns) folds the names and puts the best figures under the last ones.
    sep = " " if console.width >= 110 else "\n"
    table = Table(
        title="agentrl runs (eval success and score: last, best in brackets)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("run", overflow="fold", min_width=12)
    table.add_column("status", no_wrap=True)
    table.add_column("algo", overflow="fold", min_width=4)
    table.add_column("env", overflow="fold", min_width=8)
    table.add_column("model", overflow="fold", min_width=5)
    for column in ("iters", "success", "score", "time"):
        table.add_column(column, justify="right", no_wrap=True)
    colours = {"finished": "green", "running": "cyan", "interrupted": "yellow", "failed": "red"}
    for r in rows:
        table.add_row(
            r["run"],
            Text(r["status"], style=colours.get(r["status"], "")),
            _text(r["algo"]),
            _text(r["env"]).removeprefix("agentrl/"),
            _text(r["model"]),
            f"{r['iterations_done']}/{_text(r['iterations_total'])}",
            _last_best(r["eval_success"], sep),
            _last_best(r["eval_score"], sep),
            duration(r["wall_seconds"]),
        )
    console.print(table)
    for r in rows:
        for note in r["notes"]:
            console.print(f"{r['run']}: {note}", highlight=False, markup=False)
    console.print("Compare some: agentrl runs --compare RUN RUN ...", highlight=False)


def _text(value: Any) -> str:
    return "?" if value is None else str(value)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.4g}"


def _last_best(figures: Mapping[str, Any], sep: str = " ") -> str:
    if figures["last"] is None:
        return "-"
    return f"{figures['last']:.2f}{sep}({figures['best']:.2f})"


def duration(seconds: float | None) -> str:
    """``3h04m``, ``4m12s``, ``12s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted name -> value for every leaf of a nested config."""
    if not isinstance(tree, Mapping) or (prefix and not tree):
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


Rows = list[tuple[str, list[str]]]
"""Table rows: a name and one cell per run."""

SECTIONS = {"figures": "figures", "last_train": "last train record", "settings": "settings that differ"}
"""The sections of ``--compare``: key (in JSON) -> title."""


def compare_rows(runs: Sequence[Mapping[str, Any]]) -> dict[str, Rows]:
    """The sections of ``--compare`` (see :data:`SECTIONS`); settings are only those that differ."""
    figures: Rows = [
        ("status", [r["status"] for r in runs]),
        ("algo", [_text(r["algo"]) for r in runs]),
        ("env", [_text(r["env"]) for r in runs]),
        ("model", [_text(r["model"]) for r in runs]),
        ("iterations", [f"{r['iterations_done']}/{_text(r['iterations_total'])}" for r in runs]),
        ("env steps", [str(r["env_steps"]) for r in runs]),
        ("wall time", [duration(r["wall_seconds"]) for r in runs]),
        ("evaluations", [str(r["evaluations"]) for r in runs]),
    ]
    for key in ("success", "score"):
        for which in ("first", "last", "best"):
            cells = []
            for r in runs:
                f = r[f"eval_{key}"]
                at = f" @{f['best_iteration']}" if which == "best" and f["best"] is not None else ""
                cells.append(("-" if f[which] is None else f"{f[which]:.3f}") + at)
            figures.append((f"eval {key} ({which})", cells))
    train_keys = sorted({k for r in runs for k in r["last_train"]})
    last_train: Rows = [(key, [_fmt(_number(r["last_train"].get(key))) for r in runs]) for key in train_keys]
    configs = [flatten(r["config"]) if isinstance(r["config"], dict) else {} for r in runs]
    names = sorted({name for c in configs for name in c} - {"train.output_dir"})  # the folders: the columns
    missing = object()
    settings: Rows = []
    for name in names:
        values = [c.get(name, missing) for c in configs]
        if any(v != values[0] for v in values[1:]):
            settings.append((name, ["(none)" if v is missing else json.dumps(v, default=str) for v in values]))
    return {"figures": figures, "last_train": last_train, "settings": settings}


def compare(runs: Sequence[dict[str, Any]], *, as_json: bool = False) -> int:
    """Print the runs' figures, last train records and differing settings side by side."""
    if as_json:
        # The figures as numbers (each run's summary) and the settings that differ, as their values (null: unset).
        configs = [flatten(r["config"]) if isinstance(r["config"], dict) else {} for r in runs]
        differ = {name for name, _ in compare_rows(runs)["settings"]}
        out = {
            "runs": [{k: v for k, v in r.items() if k != "config"} for r in runs],
            "settings": {name: [c.get(name) for c in configs] for name in sorted(differ)},
        }
        print(json.dumps(out, indent=2))
        return 0
    sections = compare_rows(runs)
    from rich.console import Console
    from rich.table import Table

    console = Console()
    headers = _unique_headers([r["path"] for r in runs])
    for key, rows in sections.items():
        if not rows:
            note = " (besides train.output_dir)" if key == "settings" else ""
            console.print(f"{SECTIONS[key]}: none{note}", highlight=False)
            continue
        table = Table(title=SECTIONS[key], title_justify="left")
        table.add_column("", overflow="fold")
        for header in headers:
            table.add_column(header, overflow="fold")
        for name, cells in rows:
            table.add_row(name, *cells)
        console.print(table)
    for r in runs:
        for note in r["notes"]:
            console.print(f"{r['path']}: {note}", highlight=False, markup=False)
    return 0


def _unique_headers(paths: Sequence[str]) -> list[str]:
    """The shortest trailing parts of the paths that tell the runs apart."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        heads = ["/".join(p[-depth:]) for p in parts]
        if len(set(heads)) == len(heads):
            return heads
    return list(paths)
