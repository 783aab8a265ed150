"""The viewer's JSON API over a real server: runs, sources, curves, episodes, tokens, screenshots, damage."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from agentrl.viewer import TrajectoryIndex, Viewer, serve_in_thread
from agentrl.viewer.curves import compare, mean_band


@pytest.fixture
def server(runs: Path, index: TrajectoryIndex):
    viewer = Viewer([runs], index)
    server, url = serve_in_thread(viewer)
    yield url
    server.shutdown()
    server.server_close()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def by_name(url: str) -> dict[str, Any]:
    return {s["name"]: s for s in get(url + "api/runs")["sources"]}


def test_binds_to_localhost_only(server: str):
    assert server.startswith("http://127.0.0.1:")


def test_run_list(server: str):
    sources = by_name(server)
    assert set(sources) == {"train/toy-grpo-s0", "train/toy-grpo-s1", "train/broken", "eval/Toy-v0-expert-0123abcd"}
    run = sources["train/toy-grpo-s0"]
    assert run["kind"] == "train" and run["summary"]["status"] == "finished" and run["summary"]["algo"] == "grpo"
    assert run["summary"]["eval_success"]["last"] == 0.5 and run["files"][0]["label"] == "rollouts, iteration 0"
    assert [(f["label"], f["kind"]) for f in run["files"][1:]] == [("evaluation, iteration 3 (train)", "eval")]
    assert sources["eval/Toy-v0-expert-0123abcd"]["summary"]["eval_success"]["last"] == 0.5


def test_a_damaged_run_is_listed_with_notes(server: str):
    broken = by_name(server)["train/broken"]
    assert any("metrics.jsonl: its last line is being written or was cut off" in note for note in broken["notes"])
    page = get(server + f"api/episodes?file={broken['files'][0]['id']}")
    assert page["state"]["partial_bytes"] > 0 and page["total"] == 7
    assert [r["line"] for r in page["rows"] if r["status"] != "ok"] == [3]
    bad = get(server + f"api/episode?file={broken['files'][0]['id']}&line=3")
    assert bad["status"] == "malformed" and bad["raw"].startswith("this is not JSON")


def test_comparison_groups_seeds_with_a_band(server: str):
    sources = by_name(server)
    ids = ",".join(sources[n]["id"] for n in ("train/toy-grpo-s0", "train/toy-grpo-s1"))
    data = get(server + f"api/compare?ids={ids}")
    assert data["groups"] == [{"label": "train/toy-grpo-s*", "runs": ids.split(","), "seeds": 2}]
    success = next(m for m in data["metrics"] if m["key"] == "success")
    points = success["curves"][0]["points"]
    assert [p["y"] for p in points] == [0.0, 0.375, 0.625] and points[1]["n"] == 2
    assert points[1]["lo"] < 0.375 < points[1]["hi"] and "2 seeds" in success["curves"][0]["band"]
    assert {m["key"] for m in data["metrics"] if m["curves"]} >= {"entropy", "kl", "tokens_per_s", "eval_success"}
    agreement = next(m for m in data["metrics"] if m["key"] == "eval_expert_agreement")["curves"][0]["points"]
    assert [p["y"] for p in agreement] == [0.5, 0.6875, 0.8125]


def test_one_run_gets_the_wilson_band_of_its_evaluations():
    records = [{"kind": "eval", "iteration": 0, "success": 0.5, "success_ci95": [0.2, 0.8]}]
    data = compare([{"id": "a", "name": "a", "config": {"x": 1}, "records": records}])
    point = next(m for m in data["metrics"] if m["key"] == "eval_success")["curves"][0]["points"][0]
    assert (point["lo"], point["hi"]) == (0.2, 0.8)
    mean, lo, _ = mean_band([0.0, 1.0])
    assert mean == 0.5 and lo == pytest.approx(0.5 - 12.706 * 0.7071067811865476 / 2**0.5)


def test_episode_pages_filters_and_task_types(server: str):
    run = by_name(server)["train/toy-grpo-s0"]
    file = run["files"][0]["id"]
    page = get(server + f"api/episodes?file={file}&filter=won")
    assert page["total"] == 2 and [r["seed"] for r in page["rows"]] == [0, 3]
    page = get(server + f"api/episodes?file={file}&type=pick&limit=2&offset=1")
    assert page["total"] == 3 and [r["seed"] for r in page["rows"]] == [3, 5]
    assert sorted(page["task_types"]) == ["pick", "place"]
    episode = get(server + f"api/episode?file={file}&line=1")
    assert episode["status"] == "ok" and episode["trajectory"]["turns"][0]["advantages"] == [0.5, 0.5, -0.25, 0.0]


def test_eval_results_per_task_type_with_intervals(server: str):
    evaluation = by_name(server)["eval/Toy-v0-expert-0123abcd"]
    detail = get(server + f"api/source?id={evaluation['id']}")
    types = {t["task_type"]: t for t in detail["task_types"]}
    assert types["place"]["won"] == 2 and types["place"]["episodes"] == 2 and types["place"]["success_ci95"][0] > 0.3
    assert types["pick"]["won"] == 0 and types["pick"]["success_ci95"] == [0.0, pytest.approx(0.658, abs=1e-3)]


def test_tokens_carry_logprobs_and_advantages(server: str):
    file = by_name(server)["train/toy-grpo-s0"]["files"][0]["id"]
    data = get(server + f"api/tokens?file={file}&line=1&turn=0")
    assert [t["logprob"] for t in data["tokens"]] == [-0.1, -2.5, -0.01, -5.0]
    assert [t["advantage"] for t in data["tokens"]] == [0.5, 0.5, -0.25, 0.0] and data["has_advantages"]


def test_screenshots_are_served_and_nothing_else(server: str, png: bytes):
    evaluation = by_name(server)["eval/Toy-v0-expert-0123abcd"]
    file = evaluation["files"][0]["id"]
    turn = get(server + f"api/episode?file={file}&line=1")["trajectory"]["turns"][0]
    with urllib.request.urlopen(server + f"api/image?file={file}&name={turn['info']['image_file']}") as response:
        assert response.read() == png and response.headers["Content-Type"] == "image/png"
    for name in ("../../train/toy-grpo-s0/config.json", "/etc/passwd", "Toy-v0-expert-0123abcd.json"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server + f"api/image?file={file}&name={name}")
        assert err.value.code == 403


def test_errors_say_what_to_do(server: str):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server + "api/episodes?file=nope")
    assert err.value.code == 404 and "reload the run list" in json.loads(err.value.read())["error"]
    file = by_name(server)["train/toy-grpo-s0"]["files"][0]["id"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server + f"api/episodes?file={file}&filter=nonsense")
    assert err.value.code == 400 and "choose one of" in json.loads(err.value.read())["error"]


def test_a_new_iteration_shows_on_refresh(server: str, runs: Path, make_trajectory):
    from agentrl.agents.types import save_jsonl

    run = by_name(server)["train/toy-grpo-s0"]
    save_jsonl([make_trajectory(9, won=True)], runs / "train" / "toy-grpo-s0" / "rollouts" / "iter-00001.jsonl")
    with (runs / "train" / "toy-grpo-s0" / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps({"kind": "train", "iteration": 3, "env_steps": 40, "success": 1.0}) + "\n")
    again = by_name(server)["train/toy-grpo-s0"]
    assert len(again["files"]) == len(run["files"]) + 1 and again["summary"]["iterations_done"] == 4


def test_the_page_and_its_assets_come_from_the_viewer(server: str):
    with urllib.request.urlopen(server) as response:
        html = response.read().decode()
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "/static/app.js" in html and "http" not in html.replace("http-equiv", "")
    for asset in ("static/app.js", "static/app.css"):
        with urllib.request.urlopen(server + asset) as response:
            assert "https://" not in response.read().decode()


def test_a_dataset_reads_like_any_trajectory_file(tmp_path: Path, index: TrajectoryIndex, make_trajectory, png: bytes):
    from agentrl.agents.dataset import DatasetWriter

    writer = DatasetWriter(tmp_path / "data", env={"id": "agentrl/Toy-v0", "split": "train"}, agent={"kind": "expert"})
    writer.manifest.model = {"name": "tiny"}
    writer.extend([make_trajectory(s, won=True, image=png) for s in range(3)])
    writer.close()
    viewer = Viewer([tmp_path / "data"], index)
    [source] = viewer.sources()
    assert source.kind == "dataset" and source.summary["episodes"] == 3 and source.summary["agent"] == "expert"
    detail = viewer.api_source({"id": source.id})
    assert {t["task_type"]: t["won"] for t in detail["task_types"]} == {"pick": 1, "place": 2}
    page = viewer.api_episodes({"file": source.files[0].id})
    assert page["total"] == 3 and page["rows"][0]["images"] == 3
    name = viewer.api_episode({"file": source.files[0].id, "line": "1"})["trajectory"]["turns"][0]["info"]["image_file"]
    assert viewer.image({"file": source.files[0].id, "name": name})[0] == png


def test_the_command_refuses_a_missing_path(capsys):
    from agentrl.cli import main

    assert main(["view", "no/such/run"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
