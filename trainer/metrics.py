"""Training logs: one JSON line per record, TensorBoard scalars, and a learning-curve PNG.

Each record is a flat dict with an ``iteration`` and a ``kind`` (``train`` or ``eval``).
On resume, records past the checkpoint are dropped from the JSONL file and TensorBoard
is told to purge them, so a killed run's log reads as if it had never stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class MetricLogger:
    """Append records to ``metrics.jsonl`` (and TensorBoard) under ``directory``.

    Args:
        directory: The run's folder.
        tensorboard: Also write TensorBoard event files (needs the ``tensorboard`` package).
        resume_from: The iteration a resumed run restarts at: later records are dropped (it redoes them).
    """

    def __init__(self, directory: str | Path, *, tensorboard: bool = True, resume_from: int | None = None):
        self.path = Path(directory) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_from is not None and self.path.exists():
            # Train record i comes from iteration i; eval record k is taken after k iterations.
            kept = [
                r
                for r in read_metrics(self.path)
                if r["iteration"] < resume_from or (r["kind"] == "eval" and r["iteration"] == resume_from)
            ]
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

    def log(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None:
            step = int(record["iteration"])
            for key, value in record.items():
                if key not in ("iteration", "kind") and isinstance(value, int | float) and not isinstance(value, bool):
                    self._writer.add_scalar(f"{record['kind']}/{key}", value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
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
