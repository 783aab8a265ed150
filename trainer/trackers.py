"""Experiment trackers: Weights & Biases and MLflow, next to ``metrics.jsonl`` and TensorBoard.

``train.trackers=[wandb,mlflow]`` sends a run's config once and every record of
:class:`~agentrl.trainer.metrics.MetricLogger` to each tracker named, as
``<kind>/<name>`` scalars at step ``iteration`` (the names TensorBoard gets). Both
packages are optional extras (``pip install 'agentrl[wandb]'``, ``'agentrl[mlflow]'``),
imported only when a tracker opens.

A tracker's run id is kept in the run folder (``trackers.json``), so a resumed agentrl
run goes on logging into the same W&B or MLflow run. Closing a tracker ends its run as
finished, or as failed (interrupted: Ctrl-C) when training stopped on an exception.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

TRACKERS_FILE = "trackers.json"
"""The file of a run folder that keeps each tracker's run id (for resuming)."""

_EXTRAS = {"wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow")}
"""Tracker name -> (the module it imports, the agentrl extra that installs it)."""


@dataclass
class WandbConfig:
    """Weights & Biases settings (used with ``train.trackers=[wandb]``)."""

    project: str = "agentrl"
    """W&B project."""
    entity: str = ""
    """W&B team or user ('': your default entity)."""
    name: str = ""
    """Display name of the W&B run ('': the run folder's name)."""
    group: str = ""
    """Group runs together in the W&B UI ('': none)."""
    tags: list[str] = field(default_factory=list)
    """Tags of the W&B run."""
    mode: str = ""
    """online, offline (files under <run folder>/wandb, uploaded later with `wandb sync`) or disabled ('':
    $WANDB_MODE, else online)."""


@dataclass
class MLflowConfig:
    """MLflow settings (used with ``train.trackers=[mlflow]``)."""

    tracking_uri: str = ""
    """Where MLflow stores runs: a server (http://host:5000), sqlite:///path.db, or a file: URI (MLflow 3: with
    MLFLOW_ALLOW_FILE_STORE=true) ('': $MLFLOW_TRACKING_URI, else sqlite:///<run folder>/mlflow.db)."""
    experiment: str = "agentrl"
    """MLflow experiment (created if missing)."""
    run_name: str = ""
    """Name of the MLflow run ('': the run folder's name)."""


class Tracker(Protocol):
    """What :class:`~agentrl.trainer.metrics.MetricLogger` asks of an experiment tracker."""

    resumed: bool
    """True when the tracker continues a run it logged to before (its id was in ``trackers.json``)."""

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Record scalars (``train/loss``) at ``step``."""

    def close(self, error: BaseException | None = None) -> None:
        """End the run: finished, or failed/interrupted when ``error`` stopped training. Idempotent."""


def check_trackers(names: Sequence[str]) -> None:
    """Fail early on an unknown tracker name or a tracker whose package is missing.

    Raises:
        ValueError: Naming the valid trackers, or the extra to install.
    """
    for name in names:
        if name not in _EXTRAS:
            raise ValueError(f"train.trackers: unknown tracker {name!r}; pick from: {', '.join(_EXTRAS)}")
        module, extra = _EXTRAS[name]
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"train.trackers=[{name}] needs {module}: pip install 'agentrl[{extra}]'")


def open_trackers(
    names: Sequence[str],
    directory: str | Path,
    config: Mapping[str, Any],
    *,
    wandb: WandbConfig | None = None,
    mlflow: MLflowConfig | None = None,
    resume: bool = False,
) -> list[Tracker]:
    """Open the trackers ``names`` for the run in ``directory``.

    Args:
        names: Tracker names (``wandb``, ``mlflow``).
        directory: The run folder (W&B's offline files and the default MLflow store go there).
        config: The run's config (nested dicts), logged once.
        wandb: W&B settings.
        mlflow: MLflow settings.
        resume: Continue the trackers' runs recorded in the folder's ``trackers.json``, if any.
    """
    check_trackers(names)
    opened: list[Tracker] = []
    try:
        for name in dict.fromkeys(names):  # each tracker once, in the order given
            if name == "wandb":
                opened.append(WandbTracker(directory, config, wandb or WandbConfig(), resume=resume))
            else:
                opened.append(MLflowTracker(directory, config, mlflow or MLflowConfig(), resume=resume))
    except BaseException as err:
        for tracker in opened:
            tracker.close(err)
        raise
    return opened


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a metrics record as ``<kind>/<name>`` (lists, strings and flags are left out)."""
    return {
        f"{record['kind']}/{key}": float(value)
        for key, value in record.items()
        if key not in ("iteration", "kind") and isinstance(value, int | float) and not isinstance(value, bool)
    }


def flatten(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.name, value)`` for every leaf of a nested config."""
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from flatten(value, name)
        else:
            yield name, value


def _ids(directory: Path) -> dict[str, Any]:
    path = directory / TRACKERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        logger.warning("%s is unreadable (%s): the trackers start new runs", path, err)
        return {}
    return data if isinstance(data, dict) else {}


def _entry(directory: Path, name: str) -> dict[str, Any]:
    entry = _ids(directory).get(name)
    return entry if isinstance(entry, dict) else {}


def _save_id(directory: Path, name: str, entry: dict[str, Any]) -> None:
    ids = _ids(directory)
    ids[name] = entry
    directory.mkdir(parents=True, exist_ok=True)
    (directory / TRACKERS_FILE).write_text(json.dumps(ids, indent=2) + "\n", encoding="utf-8")


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as JSON types (enums, paths and the like as text)."""
    result: dict[str, Any] = json.loads(json.dumps(config, default=str))
    return result


class WandbTracker:
    """A W&B run (``wandb.init`` with ``dir`` = the run folder); see :class:`WandbConfig`."""

    def __init__(self, directory: str | Path, config: Mapping[str, Any], settings: WandbConfig, *, resume: bool):
        try:
            import wandb
        except ImportError as err:
            raise ImportError("the wandb tracker needs wandb: pip install 'agentrl[wandb]'") from err
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if settings.mode not in ("", "online", "offline", "disabled"):
            raise ValueError(f"train.wandb.mode must be online, offline or disabled, got {settings.mode!r}")
        stored = _entry(directory, "wandb").get("id") if resume else None
        self.resumed = bool(stored)
        mode: Any = settings.mode or None  # None: wandb reads $WANDB_MODE
        try:
            self._run: Any = wandb.init(
                project=settings.project,
                entity=settings.entity or None,
                name=settings.name or directory.resolve().name,
                group=settings.group or None,
                tags=list(settings.tags) or None,
                mode=mode,
                dir=str(directory),
                id=stored or None,
                resume="allow" if stored else None,
                config=_plain(config),
                # A resumed run may have changed settings (more iterations): the config is the latest.
                allow_val_change=True,
            )
        except wandb.errors.Error as err:
            raise ValueError(f"train.trackers=[wandb]: W&B did not start: {err} (or train.wandb.mode=offline)") from err
        _save_id(directory, "wandb", {"id": self._run.id, "project": settings.project, "entity": settings.entity})
        self._closed = False

    @property
    def run(self) -> Any:
        """The ``wandb.Run``."""
        return self._run

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if metrics and not self._closed:
            self._run.log(dict(metrics), step=step)

    def close(self, error: BaseException | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        if error is None:
            self._run.finish()
        else:
            self._run.finish(exit_code=130 if isinstance(error, KeyboardInterrupt) else 1)


class MLflowTracker:
    """An MLflow run, through ``MlflowClient`` (no global active run); see :class:`MLflowConfig`."""

    _PARAM_CHARS = 500  # the longest parameter value every MLflow version stores

    def __init__(self, directory: str | Path, config: Mapping[str, Any], settings: MLflowConfig, *, resume: bool):
        try:
            from mlflow.entities import Param, RunStatus
            from mlflow.tracking import MlflowClient
        except ImportError as err:
            raise ImportError("the mlflow tracker needs mlflow: pip install 'agentrl[mlflow]'") from err
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        default_store = not (settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
        if default_store and importlib.util.find_spec("sqlalchemy") is None:
            raise ImportError(
                "the mlflow tracker's default store (SQLite) needs SQLAlchemy: pip install 'agentrl[mlflow]'"
            )
        uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or _sqlite_uri(directory / "mlflow.db")
        self.client = MlflowClient(tracking_uri=uri)
        self.tracking_uri = uri
        stored = _entry(directory, "mlflow") if resume else {}
        self.resumed = bool(stored.get("run_id")) and stored.get("tracking_uri") == uri
        if self.resumed:
            self.run_id = str(stored["run_id"])
            self.client.update_run(self.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            known = self.client.get_run(self.run_id).data.params
        else:
            experiment = self.client.get_experiment_by_name(settings.experiment)
            if experiment is not None:
                experiment_id = experiment.experiment_id
            else:
                # The default store keeps its artifacts in the run folder too, not in the working directory.
                location = (directory.resolve() / "mlartifacts").as_uri() if default_store else None
                experiment_id = self.client.create_experiment(settings.experiment, artifact_location=location)
            run = self.client.create_run(experiment_id, run_name=settings.run_name or directory.resolve().name)
            self.run_id = run.info.run_id
            known = {}
        params = []
        for name, value in flatten(config):
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
            text = text[: self._PARAM_CHARS]
            if name not in known:
                params.append(Param(name, text))
            elif known[name] != text:
                # MLflow parameters cannot change: a resumed run keeps the first session's value.
                logger.warning("MLflow run %s keeps %s=%s (now %s)", self.run_id, name, known[name], text)
        for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters per call
            self.client.log_batch(self.run_id, params=params[start : start + 100])
        _save_id(directory, "mlflow", {"run_id": self.run_id, "tracking_uri": uri, "experiment": settings.experiment})
        self._closed = False

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if not metrics or self._closed:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def close(self, error: BaseException | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        if error is None:
            status = "FINISHED"
        else:
            status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        self.client.set_terminated(self.run_id, status=status)


def _sqlite_uri(path: Path) -> str:
    # sqlite:/// plus an absolute path gives four slashes, as SQLAlchemy wants.
    return f"sqlite:///{path.resolve()}"
