"""What ``agentrl view`` shows: training runs, evaluations, datasets and bare trajectory files, found on disk.

A *source* is one thing the run list shows, with the trajectory files it holds:

* ``train`` — a run folder of ``agentrl train`` (``config.json``, ``metrics.jsonl``,
  ``status.json``, ``results.json``); its trajectory files are ``rollouts/iter-N.jsonl``
  (with ``train.save_trajectories=true``; each a training batch, with the advantages the
  update used), each evaluation's episodes (``evals/iter-N-PHASE.jsonl``) and the warm-up's
  demonstrations (``warmup-data/shard-N.jsonl``).
* ``eval`` — an evaluation of ``agentrl eval``: ``NAME.json`` (results, ``"complete":
  false`` while it runs) and ``NAME.trajectories.jsonl``.
* ``dataset`` — a folder of ``agentrl collect`` (``manifest.json`` and ``shard-N.jsonl``).
* ``file`` — any other trajectory JSONL file given by path.

Everything is read from the files as they are now, so a refresh picks up a run's new
iterations, and nothing depends on the machine that wrote them. A file that is missing,
unreadable or cut short is reported in the source's ``notes``, never raised.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrl.cli.runs import describe, is_run_folder

_MAX_DEPTH = 4
"""How deep below a folder given to ``agentrl view`` sources are looked for."""
_SKIP = {"tensorboard", "wandb", "mlartifacts", "mlruns", "__pycache__", "images", "checkpoints"}
"""Folders that hold no sources."""
EVAL_SUFFIX = ".trajectories.jsonl"
"""An evaluation's trajectory file ends so (``EvalRecord``); its results file is ``NAME.json``."""


def short_id(path: str | Path) -> str:
    """A stable id for a path (its absolute form's digest), used in the viewer's URLs."""
    return hashlib.sha1(str(Path(path).resolve()).encode(), usedforsecurity=False).hexdigest()[:12]


@dataclass
class TrajectoryFile:
    """One trajectory JSONL file of a source."""

    path: Path
    label: str
    """What the list calls it (``rollouts, iteration 3``, ``shard 0``, ``episodes``)."""
    kind: str
    """``batch`` (a training batch: advantages may be recorded), ``eval``, ``dataset`` or ``file``."""

    @property
    def id(self) -> str:
        return short_id(self.path)


@dataclass
class Source:
    """A run, an evaluation, a dataset or a file, as the run list shows it."""

    path: Path
    kind: str
    """``train``, ``eval``, ``dataset`` or ``file``."""
    name: str
    files: list[TrajectoryFile] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    """Headline figures and settings (status, env, algo, model, iterations, success)."""
    config: Any = None
    """The run's settings (``config.json``, the dataset's manifest, the evaluation's settings)."""
    model: dict[str, Any] | None = None
    """The model whose token ids the trajectories hold (``name`` and the like), when known."""
    notes: list[str] = field(default_factory=list)
    """What could not be read, and why."""

    @property
    def id(self) -> str:
        return short_id(self.path)


def find_sources(paths: Sequence[str | Path]) -> list[Source]:
    """The sources at and below ``paths`` (folders or trajectory files), each once, in a stable order.

    Raises:
        ValueError: A path that does not exist.
    """
    found: dict[str, Source] = {}
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise ValueError(
                f"{given}: no such file or folder (give run folders, eval folders, datasets or JSONL files)"
            )
        root = path if path.is_dir() else path.parent
        for source in _walk(path, root, 0):
            found.setdefault(source.id, source)
    return list(found.values())


def _walk(path: Path, root: Path, depth: int) -> Iterator[Source]:
    if path.is_file():
        if path.name.endswith(EVAL_SUFFIX):
            yield eval_source(path, root)
        elif path.suffix == ".jsonl":
            yield file_source(path, root)
        return
    if (path / "manifest.json").is_file():
        yield dataset_source(path, root)
        return
    if is_run_folder(path):
        yield train_source(path, root)
        return
    for evaluation in sorted(path.glob(f"*{EVAL_SUFFIX}")):
        yield eval_source(evaluation, root)
    if depth >= _MAX_DEPTH:
        return
    try:
        children = sorted(p for p in path.iterdir() if p.is_dir())
    except OSError:
        return
    for child in children:
        if not child.name.startswith(".") and child.name not in _SKIP:
            yield from _walk(child, root, depth + 1)


def _name(path: Path, root: Path) -> str:
    try:
        name = str(path.relative_to(root))
    except ValueError:
        name = str(path)
    return path.resolve().name if name == "." else name


def _read_json(path: Path, notes: list[str]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        notes.append(f"no {path.name}")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        notes.append(f"{path.name} is unreadable ({str(err).splitlines()[0][:80]})")
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _iteration(path: Path) -> int:
    match = re.search(r"(\d+)", path.stem)
    return int(match.group(1)) if match else -1


def train_source(path: Path, root: Path) -> Source:
    """A training run folder, its figures (as ``agentrl runs`` reads them) and its trajectory files."""
    run = describe(path)
    config = run.pop("config")
    files = [
        TrajectoryFile(p, f"rollouts, iteration {_iteration(p)}", "batch")
        for p in sorted((path / "rollouts").glob("iter-*.jsonl"), key=_iteration)
    ]
    files += [  # evals/iter-N-PHASE.jsonl: each evaluation's episodes
        TrajectoryFile(p, f"evaluation, iteration {_iteration(p)} ({p.stem.split('-', 2)[-1]})", "eval")
        for p in sorted((path / "evals").glob("iter-*.jsonl"))
    ]
    files += [
        TrajectoryFile(p, f"warm-up demonstrations, {p.stem.replace('-', ' ')}", "dataset")
        for p in sorted((path / "warmup-data").glob("shard-*.jsonl"))
    ]
    files += [TrajectoryFile(p, p.name.removesuffix(EVAL_SUFFIX), "eval") for p in sorted(path.glob(f"*{EVAL_SUFFIX}"))]
    model = config.get("model") if isinstance(config, dict) and isinstance(config.get("model"), dict) else None
    keys = ("status", "algo", "env", "model", "iterations_done", "iterations_total", "env_steps")
    summary: dict[str, Any] = {key: run[key] for key in keys if key in run}
    summary["wall_seconds"] = run.get("wall_seconds")
    summary["eval_success"] = run.get("eval_success")
    summary["eval_score"] = run.get("eval_score")
    summary["updated"] = run.get("updated")
    notes = list(run.get("notes", []))  # metrics.jsonl's as the curves read it (a cut-off last line included)
    return Source(path, "train", _name(path, root), files, summary, config, model, notes)


def eval_source(trajectories: Path, root: Path) -> Source:
    """An evaluation: ``NAME.json`` (results so far) beside ``NAME.trajectories.jsonl``."""
    notes: list[str] = []
    stem = trajectories.name.removesuffix(EVAL_SUFFIX)
    results_path = trajectories.with_name(stem + ".json")
    results = _read_json(results_path, notes) if results_path.exists() else None
    if results_path.exists() and not isinstance(results, dict):
        results = None
    if not results_path.exists():
        notes.append(f"no {results_path.name} (figures come from the episodes)")
    results = results if isinstance(results, dict) else {}
    settings = results.get("settings") if isinstance(results.get("settings"), dict) else None
    success = results.get("success") if isinstance(results.get("success"), dict) else {}
    env = _dict(results.get("env"))
    model = _dict(settings).get("model") if isinstance(_dict(settings).get("model"), dict) else None
    complete = results.get("complete")
    summary = {
        "status": "finished" if complete is not False and results else ("running" if results else "unknown"),
        "env": env.get("id"),
        "split": env.get("split"),
        "model": _dict(model).get("name"),
        "episodes": results.get("episodes"),
        "eval_success": {"last": success.get("mean"), "ci95": success.get("ci95")} if success else None,
    }
    source = Source(trajectories.parent / stem, "eval", _name(trajectories.parent / stem, root), notes=notes)
    source.files = [TrajectoryFile(trajectories, "episodes", "eval")]
    source.summary, source.config, source.model = summary, settings or results or None, model
    return source


def dataset_source(path: Path, root: Path) -> Source:
    """A dataset of ``agentrl collect`` (its manifest; the shards it lists, and any written since)."""
    notes: list[str] = []
    manifest = _read_json(path / "manifest.json", notes)
    if not isinstance(manifest, dict):
        notes.append("manifest.json is not a dataset manifest")
        manifest = {}
    assert isinstance(manifest, dict)
    listed = [s.get("file") for s in manifest.get("shards", []) if isinstance(s, dict)]
    shards = sorted({*(p.name for p in path.glob("shard-*.jsonl")), *(f for f in listed if isinstance(f, str))})
    files = []
    for name in shards:
        if not (path / name).is_file():
            notes.append(f"{name} is missing (the manifest lists it)")
            continue
        label = name.removesuffix(".jsonl").replace("-", " ")
        files.append(
            TrajectoryFile(path / name, label if name in listed else f"{label} (not in the manifest)", "dataset")
        )
    env, agent = _dict(manifest.get("env")), _dict(manifest.get("agent"))
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else None
    summary = {
        "status": "dataset",
        "env": env.get("id"),
        "split": env.get("split"),
        "agent": agent.get("kind"),
        "model": _dict(model).get("name"),
        "episodes": manifest.get("episodes"),
        "turns": manifest.get("turns"),
    }
    return Source(path, "dataset", _name(path, root), files, summary, manifest or None, model, notes)


def file_source(path: Path, root: Path) -> Source:
    """A trajectory JSONL file on its own."""
    return Source(path, "file", _name(path, root), [TrajectoryFile(path, "episodes", "file")], {"status": "file"})
