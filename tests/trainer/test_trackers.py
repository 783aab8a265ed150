"""Experiment trackers (``train.trackers``): W&B offline and MLflow on local stores, read back after logging.

Needs the extras ``agentrl[wandb]`` and ``agentrl[mlflow]`` (``dev`` brings both); CI sets
``AGENTRL_REQUIRE_TRACKERS=1`` so that a missing one fails instead of skipping.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from agentrl.trainer.metrics import MetricLogger, read_status
from agentrl.trainer.trackers import (
    TRACKERS_FILE,
    MLflowConfig,
    WandbConfig,
    check_trackers,
    open_trackers,
)

CONFIG = {"algo": {"name": "grpo", "pg": {"lr": 0.003}}, "train": {"iterations": 3, "trackers": ["wandb"]}}


def records(iterations: range) -> list[dict[str, Any]]:
    """What the loop logs: an eval before training, then a train record and an eval per iteration."""
    out: list[dict[str, Any]] = [{"kind": "eval", "iteration": 0, "success": 0.0, "success_ci95": [0, 0.5]}]
    for i in iterations:
        out.append({"kind": "train", "iteration": i, "policy_loss": 0.5 - i / 10, "episodes": 4, "flag": True})
        out.append({"kind": "eval", "iteration": i + 1, "success": (i + 1) / 4, "split": "test"})
    return out


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"needs {module}: pip install 'agentrl[{module}]'"
        if os.environ.get("AGENTRL_REQUIRE_TRACKERS") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    need("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):  # nothing written to ~
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)


# ----------------------------------------------------------------------------------------------- W&B
def wandb_records(run_file: Path) -> list[Any]:
    """The protobuf records of an offline run's ``run-ID.wandb`` file.

    The file is W&B's LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version),
    then 32 KiB blocks of chunks, each with a 7-byte header (CRC-32, length, type:
    1 full, 2 first, 3 middle, 4 last).
    """
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    ident, magic, _ = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B" and magic == 0xBEE1, f"{run_file} is not a W&B log"
    out, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if (kind == 0 and length == 0) or pos + 7 + length > len(data):  # the end, or a chunk still being written
            break
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def wandb_run(folder: Path, run_id: str, timeout: float = 30) -> dict[str, Any]:
    """Every offline session of ``run_id`` under ``folder/wandb``: its history by step, config and exit code.

    ``run.finish()`` can return before W&B's service has written the end of the log: wait (up to ``timeout``
    seconds) until every session's log holds its exit record.
    """
    # One folder per session: offline-run-<time>-<id>, with -1, -2, ... added when the time is taken.
    runs = sorted(p for p in (folder / "wandb").glob("offline-run-*") if (p / f"run-{run_id}.wandb").is_file())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(
        any(r.WhichOneof("record_type") == "exit" for r in wandb_records(run / f"run-{run_id}.wandb")) for run in runs
    ):
        time.sleep(0.1)
    history: dict[int, dict[str, Any]] = {}
    config: dict[str, Any] = {}
    exit_codes = []
    for run in runs:
        for record in wandb_records(run / f"run-{run_id}.wandb"):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                row = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in record.history.item}
                history.setdefault(record.history.step.num, {}).update(
                    {k: v for k, v in row.items() if not k.startswith("_")}
                )
            elif kind == "run":
                assert record.run.run_id == run_id
                config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
            elif kind == "config":
                config.update({i.key: json.loads(i.value_json) for i in record.config.update})
            elif kind == "exit":
                exit_codes.append(record.exit.exit_code)
    return {"sessions": len(runs), "history": history, "config": config, "exit_codes": exit_codes}


def test_wandb_offline_run_gets_the_config_once_and_every_record_at_its_iteration(tmp_path, offline_wandb):
    log = MetricLogger(tmp_path, tensorboard=False, trackers=open_trackers(["wandb"], tmp_path, CONFIG))
    for record in records(range(2)):
        log.log(record)
    log.close()

    run_id = json.loads((tmp_path / TRACKERS_FILE).read_text())["wandb"]["id"]
    run = wandb_run(tmp_path, run_id)
    assert run["sessions"] == 1 and run["exit_codes"] == [0]
    assert run["config"]["algo"] == {"name": "grpo", "pg": {"lr": 0.003}}
    assert run["history"] == {
        0: {"eval/success": 0.0, "train/policy_loss": 0.5, "train/episodes": 4.0},
        1: {"eval/success": 0.25, "train/policy_loss": 0.4, "train/episodes": 4.0},
        2: {"eval/success": 0.5},
    }  # lists, strings and flags are not scalars


def test_wandb_resumes_the_same_run_and_is_not_sent_the_redone_records_twice(tmp_path, offline_wandb):
    first = MetricLogger(tmp_path, tensorboard=False, trackers=open_trackers(["wandb"], tmp_path, CONFIG))
    for record in records(range(3)):
        first.log(record)
    first.close()  # as if killed after iteration 2 with the checkpoint after iteration 1
    run_id = json.loads((tmp_path / TRACKERS_FILE).read_text())["wandb"]["id"]

    trackers = open_trackers(["wandb"], tmp_path, CONFIG, resume=True)
    assert trackers[0].resumed
    again = MetricLogger(tmp_path, tensorboard=False, resume_from=1, trackers=trackers)
    for record in records(range(4))[3:]:  # the resumed run redoes iteration 1 on, then goes on to 3
        again.log(record)
    again.close()

    assert json.loads((tmp_path / TRACKERS_FILE).read_text())["wandb"]["id"] == run_id
    run = wandb_run(tmp_path, run_id)
    assert run["sessions"] == 2
    assert sorted(run["history"]) == [0, 1, 2, 3, 4]
    # The records past the checkpoint came once, from the first session; the new ones from the second.
    assert run["history"][2] == {"eval/success": 0.5, "train/policy_loss": 0.3, "train/episodes": 4.0}
    assert run["history"][3] == {"eval/success": 0.75, "train/policy_loss": pytest.approx(0.2), "train/episodes": 4.0}
    assert run["history"][4] == {"eval/success": 1.0}


def test_wandb_run_of_an_interrupted_training_ends_with_a_nonzero_exit(tmp_path, offline_wandb):
    log = MetricLogger(tmp_path, tensorboard=False, trackers=open_trackers(["wandb"], tmp_path, CONFIG))
    log.log(records(range(1))[0])
    log.close(KeyboardInterrupt())
    log.close()  # the loop's finally: a no-op
    run_id = json.loads((tmp_path / TRACKERS_FILE).read_text())["wandb"]["id"]
    assert wandb_run(tmp_path, run_id)["exit_codes"] == [130]
    assert read_status(tmp_path)["status"] == "interrupted"


def test_wandb_settings_reach_the_run(tmp_path, offline_wandb):
    settings = WandbConfig(project="proj", name="my-run", group="g", tags=["a", "b"], mode="offline")
    (tracker,) = open_trackers(["wandb"], tmp_path, CONFIG, wandb=settings)
    run = tracker.run  # type: ignore[attr-defined]
    assert (run.project, run.name, run.group, list(run.tags)) == ("proj", "my-run", "g", ["a", "b"])
    tracker.close()
    with pytest.raises(ValueError, match="online, offline or disabled"):
        open_trackers(["wandb"], tmp_path, CONFIG, wandb=WandbConfig(mode="sometimes"))


# ----------------------------------------------------------------------------------------------- MLflow
def mlflow_run(folder: Path) -> tuple[Any, Any]:
    from mlflow.tracking import MlflowClient

    ids = json.loads((folder / TRACKERS_FILE).read_text())["mlflow"]
    client = MlflowClient(tracking_uri=ids["tracking_uri"])
    return client, client.get_run(ids["run_id"])


def history(client: Any, run: Any, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))


@pytest.mark.parametrize("store", ["default", "file"])
def test_mlflow_run_gets_params_metrics_by_step_and_resumes(tmp_path, monkeypatch, store):
    need("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = MLflowConfig(experiment="tests")
    if store == "file":
        # MLflow 3 keeps its file store only on request; the default is an SQLite file in the run folder.
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        settings.tracking_uri = (tmp_path / "mlruns").as_uri()
    run_dir = tmp_path / "run"
    log = MetricLogger(run_dir, tensorboard=False, trackers=open_trackers(["mlflow"], run_dir, CONFIG, mlflow=settings))
    for record in records(range(3)):
        log.log(record)
    log.close(KeyboardInterrupt())  # killed after iteration 2, checkpoint after 1

    client, run = mlflow_run(run_dir)
    if store == "default":
        assert (run_dir / "mlflow.db").is_file() and not Path("mlruns").exists()
    assert run.info.status == "KILLED" and run.info.run_name == "run"
    assert run.data.params == {"algo.name": "grpo", "algo.pg.lr": "0.003", "train.iterations": "3",
                               "train.trackers": '["wandb"]'}  # fmt: skip
    assert history(client, run, "eval/success") == [(0, 0.0), (1, 0.25), (2, 0.5), (3, 0.75)]

    more = {**CONFIG, "train": {**CONFIG["train"], "iterations": 4}}
    trackers = open_trackers(["mlflow"], run_dir, more, mlflow=settings, resume=True)
    log = MetricLogger(run_dir, tensorboard=False, resume_from=1, trackers=trackers)
    for record in records(range(4))[3:]:
        log.log(record)
    log.close()

    client, again = mlflow_run(run_dir)
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert again.data.params["train.iterations"] == "3"  # an MLflow parameter cannot change
    assert history(client, again, "train/policy_loss") == [(0, 0.5), (1, 0.4), (2, 0.3), (3, pytest.approx(0.2))]
    assert [s for s, _ in history(client, again, "eval/success")] == [0, 1, 2, 3, 4]  # each step once


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An SQLite store with MLflow's tables (creating them takes seconds: done once, then copied)."""
    need("mlflow")
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def test_a_tracker_added_on_resume_gets_the_history_so_far(tmp_path, empty_mlflow_db):
    store = tmp_path / "store.db"
    shutil.copy(empty_mlflow_db, store)
    log = MetricLogger(tmp_path, tensorboard=False)
    for record in records(range(2)):
        log.log(record)
    log.close()
    settings = MLflowConfig(tracking_uri=f"sqlite:///{store}")
    trackers = open_trackers(["mlflow"], tmp_path, CONFIG, mlflow=settings, resume=True)
    assert not trackers[0].resumed
    log = MetricLogger(tmp_path, tensorboard=False, resume_from=2, trackers=trackers)
    log.log(records(range(3))[5])
    log.close()
    client, run = mlflow_run(tmp_path)
    assert history(client, run, "train/policy_loss") == [(0, 0.5), (1, 0.4), (2, 0.3)]


# ----------------------------------------------------------------------------------------------- settings
def test_unknown_or_missing_trackers_fail_naming_the_fix(monkeypatch):
    with pytest.raises(ValueError, match="pick from: wandb, mlflow"):
        check_trackers(["neptune"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ValueError, match=r"pip install 'agentrl\[wandb\]'"):
        check_trackers(["wandb"])


def test_train_refuses_a_bad_tracker_before_loading_anything(tmp_path, capsys):
    from agentrl.cli import main

    assert main(["train", "model=tiny", "train.trackers=[tensorboardx]", f"train.output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "unknown tracker 'tensorboardx'" in err and "wandb, mlflow" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_status_file_follows_the_run_over_sessions(tmp_path):
    log = MetricLogger(tmp_path, tensorboard=False)
    status = read_status(tmp_path)
    assert status["status"] == "running" and status["pid"] == os.getpid() and status["sessions"] == 1
    log.log(records(range(1))[1])
    log.close(RuntimeError("out of memory"))
    status = read_status(tmp_path)
    assert status["status"] == "failed" and status["error"] == "RuntimeError: out of memory"
    log = MetricLogger(tmp_path, tensorboard=False, resume_from=0)
    log.close()
    resumed = read_status(tmp_path)
    assert resumed["status"] == "finished" and resumed["sessions"] == 2
    assert resumed["started"] == status["started"] and resumed["wall_seconds"] >= status["wall_seconds"]


@pytest.mark.slow
def test_training_with_both_trackers_resumes_into_the_same_runs(tmp_path, offline_wandb, monkeypatch):
    """``agentrl train train.trackers=[wandb,mlflow]``, then the same command with one more iteration."""
    need("mlflow")
    from agentrl.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small = ["env=guess", "model=tiny", "train.tasks_per_iteration=2", "rollout.group_size=2", "rollout.max_turns=2",
             "agent.sampling.max_new_tokens=2", "eval.episodes=2", "train.eval_every=1", "train.tensorboard=false",
             "train.trackers=[wandb,mlflow]", f"train.output_dir={tmp_path}"]  # fmt: skip
    assert main(["train", *small, "train.iterations=1"]) == 0
    first = json.loads((tmp_path / TRACKERS_FILE).read_text())
    assert main(["train", *small, "train.iterations=2"]) == 0
    assert json.loads((tmp_path / TRACKERS_FILE).read_text()) == first

    run = wandb_run(tmp_path, first["wandb"]["id"])
    assert run["sessions"] == 2 and run["exit_codes"] == [0, 0]
    assert run["config"]["algo"]["name"] == "grpo" and run["config"]["train"]["iterations"] == 2
    assert {step for step, row in run["history"].items() if "train/policy_loss" in row} == {0, 1}
    assert {step for step, row in run["history"].items() if "eval/success" in row} == {0, 1, 2}

    client, mlrun = mlflow_run(tmp_path)
    assert mlrun.info.status == "FINISHED" and mlrun.data.params["algo.name"] == "grpo"
    assert [s for s, _ in history(client, mlrun, "eval/success")] == [0, 1, 2]
    assert [s for s, _ in history(client, mlrun, "train/policy_loss")] == [0, 1]
    assert read_status(tmp_path)["sessions"] == 2


def test_ctrl_c_during_training_ends_the_tracker_run_as_killed(tmp_path, empty_mlflow_db):
    """The loop closes the logger with the exception that stopped it, then lets it propagate."""
    from agentrl.cli.train import load_train_config
    from agentrl.factory import make_from_config
    from agentrl.trainer.loop import Hooks, train

    class CtrlC(Hooks):
        def record(self, record: dict[str, Any]) -> None:
            if record["kind"] == "train":
                raise KeyboardInterrupt

    store = tmp_path / "store.db"
    shutil.copy(empty_mlflow_db, store)
    overrides = ["env=guess", "model=tiny", "train.iterations=2", "train.tasks_per_iteration=1",
                 "rollout.group_size=2", "rollout.max_turns=2", "agent.sampling.max_new_tokens=2", "eval.episodes=1",
                 "train.tensorboard=false", "train.trackers=[mlflow]", f"train.mlflow.tracking_uri=sqlite:///{store}",
                 f"train.output_dir={tmp_path / 'run'}"]  # fmt: skip
    cfg = load_train_config(overrides)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, functools.partial(make_from_config, cfg.env), CtrlC())
    assert read_status(tmp_path / "run")["status"] == "interrupted"
    client, run = mlflow_run(tmp_path / "run")
    assert run.info.status == "KILLED"
    assert [s for s, _ in history(client, run, "train/policy_loss")] == [0]  # logged before the hook saw it
