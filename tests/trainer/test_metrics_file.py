"""metrics.jsonl survives a kill mid-write: the cut-off last line is skipped, and a resume rewrites the file."""

from __future__ import annotations

import json

import pytest

from agentrl.trainer.metrics import MetricLogger, read_metrics


def _record(kind: str, iteration: int) -> dict:
    return {"kind": kind, "iteration": iteration, "env_steps": 10 * iteration, "success": 0.5}


def test_a_last_line_cut_off_mid_write_is_skipped_and_a_resume_drops_it(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    whole = [_record("eval", 0), _record("train", 0), _record("train", 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in whole) + json.dumps(_record("train", 2))[:17])
    with caplog.at_level("WARNING"):
        assert read_metrics(path) == whole
    assert "cut off mid-write" in caplog.text
    logger = MetricLogger(tmp_path, tensorboard=False, resume_from=2)
    logger.log(_record("train", 2))
    logger.close()
    assert [r["iteration"] for r in read_metrics(path)] == [0, 0, 1, 2]
    assert path.read_text().endswith("\n")


def test_a_damaged_line_inside_the_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(_record("eval", 0)) + "\n{oops\n" + json.dumps(_record("train", 0)) + "\n")
    with pytest.raises(ValueError, match=r"line 2: not a JSON record"):
        read_metrics(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_metrics(path)
