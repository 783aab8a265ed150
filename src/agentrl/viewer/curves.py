"""Learning curves of runs, on shared axes, with 95% bands over seeds.

Runs whose settings differ only in their seed (``train.seed``) and folder form a *group*;
a group's curve is the mean over its runs at each iteration, with a 95% Student-t
interval over the seeds. A run alone is its own group: its evaluation success gets the
Wilson 95% interval over the evaluation's episodes that ``metrics.jsonl`` records, its
other curves no band.

``metrics.jsonl`` is read leniently: a run still training, or killed mid-write, leaves a
last line without its newline (skipped, noted as being written); any other line that is
no record is skipped with a note naming it.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentrl.cli.runs import flatten


@dataclass(frozen=True)
class Metric:
    """A curve the comparison draws."""

    key: str
    """Its id in the viewer's URLs."""
    title: str
    kind: str
    """The records it is read from: ``train`` (each iteration's rollouts and update) or ``eval``."""
    field: str
    """The record's field."""


METRICS: tuple[Metric, ...] = (
    Metric("eval_success", "eval success", "eval", "success"),
    Metric("success", "rollout success", "train", "success"),
    Metric("return", "rollout return", "train", "return"),
    Metric("invalid_action_rate", "invalid-action rate", "train", "invalid_action_rate"),
    Metric("entropy", "entropy", "train", "entropy"),
    Metric("kl", "KL to the reference", "train", "kl"),
    Metric("tokens_per_s", "rollout tokens/s", "train", "rollout_tokens_per_s"),
    Metric("eval_return", "eval return", "eval", "return"),
    Metric("eval_expert_agreement", "eval agreement with the expert", "eval", "expert_agreement"),
)
"""The curves of the comparison, in the order shown."""

_SEED_KEYS = ("train.seed", "train.output_dir", "train.resume")
"""Settings that do not tell runs apart for grouping: seeds form a group's band."""

# Student-t 97.5% quantiles by degrees of freedom (a 95% interval for a few seeds); 1.96 beyond.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def run_series(records: Sequence[Mapping[str, Any]], metric: Metric, x: str = "iteration") -> list[dict[str, Any]]:
    """One run's points of ``metric``: ``{"x", "y"}`` (eval success also ``lo``/``hi``: its Wilson interval)."""
    points: dict[float, dict[str, Any]] = {}
    for record in records:
        if record.get("kind") != metric.kind:
            continue
        y, at = _number(record.get(metric.field)), _number(record.get(x))
        if y is None or at is None:
            continue
        point: dict[str, Any] = {"x": at, "y": y}
        band = record.get(f"{metric.field}_ci95")
        if isinstance(band, list) and len(band) == 2 and all(_number(v) is not None for v in band):
            point["lo"], point["hi"] = float(band[0]), float(band[1])
        points[at] = point  # a phase evaluated twice at one iteration (start, warm-up): the later one
    return [points[k] for k in sorted(points)]


def group_key(config: Any) -> str:
    """What runs of one group share: every setting but the seed and the folder."""
    if not isinstance(config, dict):
        return ""
    flat = {k: v for k, v in flatten(config).items() if k not in _SEED_KEYS}
    return json.dumps(flat, sort_keys=True, default=str)


def group_label(names: Sequence[str]) -> str:
    """``webshop-grpo-s*`` for ``webshop-grpo-s0`` and ``webshop-grpo-s1``; the name for one run."""
    if len(names) == 1:
        return names[0]
    stripped = {re.sub(r"s\d+$", "s*", n) for n in names}
    return stripped.pop() if len(stripped) == 1 else f"{names[0]} (+{len(names) - 1} seeds)"


def mean_band(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean and its 95% Student-t interval over ``values`` (no interval for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = _T975.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def compare(runs: Sequence[Mapping[str, Any]], x: str = "iteration") -> dict[str, Any]:
    """The comparison of ``runs`` (each ``{"id", "name", "config", "records"}``): groups over seeds, and per metric
    each group's curve with its band.

    Returns ``{"x", "groups": [{"label", "runs", "seeds"}], "metrics": [{"key", "title", "curves": [{"group",
    "points": [{"x", "y", "lo", "hi", "n"}], "band"}]}]}``; ``band`` says what the band is.
    """
    if x not in ("iteration", "env_steps"):
        raise ValueError(f"x must be iteration or env_steps, got {x!r}")
    order: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        # A run without readable settings is a group of its own.
        key = group_key(run.get("config")) or f"run:{run['id']}"
        order.setdefault(key, []).append(run)
    groups = [
        {"label": group_label([r["name"] for r in members]), "runs": [r["id"] for r in members], "seeds": len(members)}
        for members in order.values()
    ]
    metrics = []
    for metric in METRICS:
        curves = []
        for index, members in enumerate(order.values()):
            series = [run_series(r["records"], metric, x) for r in members]
            if not any(series):
                continue
            if len(members) == 1:
                wilson = metric.kind == "eval" and metric.field == "success"
                points = [{**p, "n": 1} if wilson else {"x": p["x"], "y": p["y"], "n": 1} for p in series[0]]
                band = "Wilson 95% interval over the evaluation's episodes" if any("lo" in p for p in points) else ""
            else:
                by_x: dict[float, list[float]] = {}
                for s in series:
                    for p in s:
                        by_x.setdefault(p["x"], []).append(p["y"])
                points = []
                for at in sorted(by_x):
                    mean, lo, hi = mean_band(by_x[at])
                    point: dict[str, Any] = {"x": at, "y": mean, "n": len(by_x[at])}
                    if lo is not None:
                        point["lo"], point["hi"] = lo, hi
                    points.append(point)
                band = f"95% interval over {len(members)} seeds"
            curves.append({"group": index, "points": points, "band": band})
        metrics.append({"key": metric.key, "title": metric.title, "curves": curves})
    return {"x": x, "groups": groups, "metrics": metrics}
