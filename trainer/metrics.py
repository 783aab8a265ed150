"""Training logs: one JSON line per record, TensorBoard scalars, trackers, and a learning-curve PNG.

Each record is a flat dict with an ``iteration`` and a ``kind`` (``train`` or ``eval``).
On resume, records past the checkpoint are dropped from the JSONL file and TensorBoard
is told to purge them, so a killed run's log reads as if it had never stopped.
Experiment trackers (W&B, MLflow: :mod:`agentrl.trainer.trackers`) get every record too.

``status.json`` says whether the run is running (with its process id and host),
finished, interrupted (Ctrl-C) or failed, and how long it has trained over all its
sessions; ``agentrl runs`` reads it. A run killed outright still reads ``running``:
its process id tells the reader it is gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agentrl.trainer.trackers import Tracker, scalars

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
"""The run folder's status file (see the module docstring)."""


class MetricLogger:
    """Append records to ``metrics.jsonl`` (and TensorBoard, and trackers) under ``directory``.

    Args:
        directory: The run's folder.
        tensorboard: Also write TensorBoard event files (needs the ``tensorboard`` package).
        resume_from: The iteration a resumed run restarts at: later records are dropped (it redoes them).
        trackers: Experiment trackers (:func:`agentrl.trainer.trackers.open_trackers`); closed with the logger.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        tensorboard: bool = True,
        resume_from: int | None = None,
        trackers: Sequence[Tracker] = (),
    ):
        self.path = Path(directory) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        if resume_from is not None and self.path.exists():
            # Train record i comes from iteration i; eval record k is taken after k iterations.
            for r in read_metrics(self.path):
                keep = r["iteration"] < resume_from or (r["kind"] == "eval" and r["iteration"] == resume_from)
                (kept if keep else dropped).append(r)
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        elif resume_from is None:
            self.path.write_text("")
        self._writer: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("tensorboard is not installed (pip install tensorboard): writing JSONL logs only")
            else:
                self._writer = SummaryWriter(str(self.path.parent / "tensorboard"), purge_step=resume_from)
        self._trackers = list(trackers)
        # A tracker continuing its run got the dropped records from the killed session; the resumed run redoes
        # them exactly, so they are not sent twice. A tracker new to the run gets the history kept so far.
        self._sent = {(r["kind"], r["iteration"]) for r in dropped}
        for tracker in self._trackers:
            if not tracker.resumed:
                for record in kept:
                    tracker.log(scalars(record), int(record["iteration"]))
        try:
            previous = read_status(self.path.parent) if resume_from is not None else None
        except ValueError as err:
            logger.warning("%s is unreadable (%s): it is written anew", self.path.parent / STATUS_FILE, err)
            previous = None
        previous = previous if isinstance(previous, dict) else {}
        self._wall_before = float(previous.get("wall_seconds", 0.0))
        self._opened = time.monotonic()
        self._status: dict[str, Any] = {
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": previous.get("started", _now()),
            "updated": _now(),
            "sessions": int(previous.get("sessions", 0)) + 1,
            "wall_seconds": self._wall_before,
        }
        self._write_status()
        self._closed = False

    def log(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None:
            step = int(record["iteration"])
            for key, value in record.items():
                if key not in ("iteration", "kind") and isinstance(value, int | float) and not isinstance(value, bool):
                    self._writer.add_scalar(f"{record['kind']}/{key}", value, step)
            self._writer.flush()
        if self._trackers:
            values = scalars(record)
            for tracker in self._trackers:
                if not (tracker.resumed and (record["kind"], record["iteration"]) in self._sent):
                    tracker.log(values, int(record["iteration"]))
        self._write_status()

    def close(self, error: BaseException | None = None) -> None:
        """Close TensorBoard and the trackers; ``status.json`` says finished, or interrupted/failed by ``error``.

        Idempotent: the first call decides the status.
        """
        if self._closed:
            return
        self._closed = True
        if error is None:
            self._status["status"] = "finished"
        elif isinstance(error, KeyboardInterrupt):
            self._status["status"] = "interrupted"
        else:
            self._status["status"] = "failed"
            self._status["error"] = f"{type(error).__name__}: {error}"
        self._write_status()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for tracker in self._trackers:
            try:
                tracker.close(error)
            except Exception as err:  # one tracker failing to finish must not hide the others or the run's error
                logger.warning("closing the %s tracker failed: %s", type(tracker).__name__, err)

    def _write_status(self) -> None:
        self._status["updated"] = _now()
        self._status["wall_seconds"] = round(self._wall_before + time.monotonic() - self._opened, 3)
        path = self.path.parent / STATUS_FILE
        partial = path.with_name(path.name + ".partial")  # readers never see half a file
        partial.write_text(json.dumps(self._status, indent=2) + "\n", encoding="utf-8")
        partial.replace(path)


def read_status(directory: str | Path) -> dict[str, Any] | None:
    """A run folder's ``status.json`` (None when it has none).

    Raises:
        ValueError: The file is not JSON (``json.JSONDecodeError``).
    """
    path = Path(directory) / STATUS_FILE
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file.

    A last line cut off mid-write (no newline after it: the run was killed while logging) is skipped with a
    warning; a resumed run rewrites the file without it. Any other line that is not a JSON record is an error
    naming the file and line.
    """
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):  # no newline after it: a write cut off by a kill
                logger.warning("%s: skipping its last line, cut off mid-write (%d characters)", path, len(line))
                break
            raise ValueError(
                f"{path}, line {number}: not a JSON record ({err}); the file was edited or damaged. "
                "Remove or fix that line (each line is one record), or start a new run folder."
            ) from err
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
        out.append(record)
    return out


def plot_learning_curve(records: Iterable[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Draw rollout success/return per iteration and eval success with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(records)
    # Supervised iterations play no episodes: their records carry no rollout rates, and the x axis is iterations.
    key = "env_steps" if any(r["env_steps"] for r in records) else "iteration"
    train = [r for r in records if r["kind"] == "train" and "success" in r]
    evals = [r for r in records if r["kind"] == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        xs = [r[key] for r in train]
        ax.plot(xs, [r["success"] for r in train], label="rollout success", color="tab:blue", alpha=0.6)
        ax.plot(xs, [r["invalid_action_rate"] for r in train], label="invalid-action rate", color="tab:red", alpha=0.4)
    if evals:
        xs = [r[key] for r in evals]
        ys = [r["success"] for r in evals]
        low = [y - r["success_ci95"][0] for y, r in zip(ys, evals, strict=True)]
        high = [r["success_ci95"][1] - y for y, r in zip(ys, evals, strict=True)]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o-", color="tab:green", capsize=3, label="eval success (95% CI)")
    ax.set_xlabel(key.replace("_", " "))
    ax.set_ylabel("rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "learning curve")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
