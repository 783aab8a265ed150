"""The episode index: offsets and columns, incremental refresh, rewrites, malformed and partial lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentrl.agents.types import save_jsonl
from agentrl.viewer.index import TrajectoryIndex


@pytest.fixture
def write(make_trajectory):
    def _write(path: Path, seeds: range) -> None:
        save_jsonl([make_trajectory(s, won=s % 2 == 0) for s in seeds], path)

    return _write


def test_columns_and_filters(tmp_path: Path, index: TrajectoryIndex, make_trajectory):
    path = tmp_path / "a.jsonl"
    save_jsonl([make_trajectory(s, won=s % 2 == 0, invalid=s == 3) for s in range(6)], path)
    state = index.refresh(path)
    assert (state.lines, state.complete, state.partial_bytes) == (6, True, 0)
    rows, total = index.episodes(path)
    assert total == 6 and [r["seed"] for r in rows] == list(range(6))
    assert rows[0]["won"] and rows[0]["turns"] == 3 and rows[0]["return"] == 1.0 and rows[0]["task_type"] == "place"
    assert [r["seed"] for r in index.episodes(path, kind="won")[0]] == [0, 2, 4]
    assert [r["seed"] for r in index.episodes(path, kind="lost")[0]] == [1, 3, 5]
    assert [r["seed"] for r in index.episodes(path, kind="invalid")[0]] == [3]
    assert [r["seed"] for r in index.episodes(path, task_type="pick")[0]] == [1, 3, 5]
    assert [r["seed"] for r in index.episodes(path, offset=4, limit=10)[0]] == [4, 5]
    assert {t["task_type"]: t["won"] for t in index.task_types(path)} == {"pick": 0, "place": 3}
    episode = index.read(path, 5)  # lines count from 1
    assert episode["status"] == "ok" and episode["trajectory"]["seed"] == 4


def test_a_growing_file_is_read_on_and_a_rewritten_one_anew(
    tmp_path: Path, index: TrajectoryIndex, write, make_trajectory
):
    path = tmp_path / "grow.jsonl"
    write(path, range(3))
    assert index.refresh(path).lines == 3
    with path.open("a") as handle:  # an evaluation appending an episode, and half of the next one
        handle.write(json.dumps(make_trajectory(3, won=False).to_dict()) + "\n" + '{"seed": 4, "tu')
    state = index.refresh(path)
    assert (state.lines, state.partial_bytes) == (4, len('{"seed": 4, "tu'))
    assert index.read(path, 4)["trajectory"]["seed"] == 3
    save_jsonl([make_trajectory(s, won=True) for s in (9, 8)], path)  # rewritten shorter: re-indexed
    state = index.refresh(path)
    assert state.lines == 2 and [r["seed"] for r in index.episodes(path)[0]] == [9, 8]


def test_same_length_rewrite_is_reindexed(tmp_path: Path, index: TrajectoryIndex, write):
    path = tmp_path / "same.jsonl"
    write(path, range(10, 13))
    index.refresh(path)
    write(path, range(13, 16))  # same sizes, other seeds
    index.refresh(path)
    assert [r["seed"] for r in index.episodes(path)[0]] == [13, 14, 15]


def test_malformed_lines_are_rows_that_say_what_is_wrong(tmp_path: Path, index: TrajectoryIndex, make_trajectory):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(make_trajectory(0, won=True).to_dict())
    path.write_text(f"{good}\nnot json\n[1, 2]\n" + '{"turns": [{"reward": "x"}]}\n' + good + "\n")
    index.refresh(path)
    rows, total = index.episodes(path, kind="malformed")
    assert total == 3 and [r["line"] for r in rows] == [2, 3, 4]
    assert "list" in rows[1]["error"] and "reward" in rows[2]["error"]
    assert index.episodes(path, kind="won")[1] == 2
    bad = index.read(path, 2)
    assert bad["status"] == "malformed" and bad["raw"].startswith("not json")


def test_a_budget_indexes_a_large_file_in_steps(tmp_path: Path, index: TrajectoryIndex, monkeypatch, write):
    import agentrl.viewer.index as module

    monkeypatch.setattr(module, "COMMIT_EVERY", 10)
    path = tmp_path / "big.jsonl"
    write(path, range(95))
    first = index.refresh(path, budget_s=0.0)  # one commit, then the budget is spent
    assert not first.complete and first.lines == 10
    assert index.episodes(path)[1] == 10
    assert index.refresh(path).lines == 95


def test_screenshots_are_written_beside_the_file(tmp_path: Path, index: TrajectoryIndex, make_trajectory, png):
    path = tmp_path / "shots" / "iter-00000.jsonl"
    save_jsonl([make_trajectory(0, won=True, image=png), make_trajectory(1, won=True, image=png)], path)
    line = json.loads(path.read_text().splitlines()[0])
    name = line["turns"][0]["info"]["image_file"]
    assert "image" not in line["turns"][0]["info"] and (path.parent / name).read_bytes() == png
    assert len(list((path.parent / "images").iterdir())) == 1  # one page, stored once
    index.refresh(path)
    assert index.episodes(path)[0][0]["images"] == 3


def test_a_missing_file_is_reported_not_raised(tmp_path: Path, index: TrajectoryIndex):
    state = index.refresh(tmp_path / "gone.jsonl")
    assert state.missing and index.episodes(tmp_path / "gone.jsonl") == ([], 0)


def test_eight_processes_opening_a_new_index_together_all_open_it(open_together):
    # Switching a new index to WAL while another process reads it answered "database is locked" at once (no busy
    # timeout for a journal-mode change): two or so of 40 rounds of 8 openers failed.
    open_together(TrajectoryIndex)
