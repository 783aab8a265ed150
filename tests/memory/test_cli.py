"""``memory=on`` in ``agentrl eval`` and ``agentrl train``, and ``agentrl memory`` on the bank they write."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agentrl.cli import main
from agentrl.memory import CaseBank


def _bank(path) -> CaseBank:
    meta = CaseBank.read_meta(path)
    return CaseBank(path, encoder=meta["encoder"], dim=int(meta["dim"]), create=False)


def test_eval_with_memory_writes_a_case_per_episode_and_the_memory_commands_work(tmp_path, capsys):
    bank_path = tmp_path / "cases.sqlite"
    common = ["env=frozenlake", "agent=random", "memory=on", "memory.encoder=hash", f"memory.path={bank_path}"]
    assert main(["eval", *common, "eval.episodes=3", f"eval.output_dir={tmp_path / 'out'}"]) == 0
    out = capsys.readouterr().out
    assert "now holds 3 cases" in out
    results = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert results["agent_stats"]["memory_stats"]["written"] == 3
    with _bank(bank_path) as bank:
        assert sorted(c.seed for c, _ in bank.iter_cases()) == results["seeds"]

    assert main(["memory", "stats", "--path", str(bank_path)]) == 0
    out = capsys.readouterr().out
    assert "3 cases" in out and "encoder hash" in out and "integrity ok" in out
    assert main(["memory", "search", "reach the goal", "-k", "2", "--path", str(bank_path)]) == 0
    assert capsys.readouterr().out.count("agentrl/FrozenLake-v0") == 2
    export = tmp_path / "cases.jsonl"
    assert main(["memory", "export", str(export), "--path", str(bank_path)]) == 0
    assert len(export.read_text().splitlines()) == 3
    copy = tmp_path / "copy.sqlite"
    assert main(["memory", "import", str(export), "--path", str(copy), "--encoder", "hash"]) == 0
    with _bank(bank_path) as a, _bank(copy) as b:
        ours = [(c.task, c.won, c.summary) for c, _ in a.iter_cases()]
        assert [(c.task, c.won, c.summary) for c, _ in b.iter_cases()] == ours
        assert all(
            np.allclose(va, vb, atol=1e-6) for (_, va), (_, vb) in zip(a.iter_cases(), b.iter_cases(), strict=True)
        )
    assert main(["memory", "prune", "--keep-last", "1", "--path", str(copy)]) == 0
    assert "2 cases deleted" in capsys.readouterr().out


def test_a_foreign_file_ends_in_one_line_naming_it(tmp_path, capsys):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"garbage" * 100)
    assert main(["memory", "stats", "--path", str(junk)]) == 2
    assert str(junk) in capsys.readouterr().err
    code = main(["eval", "env=frozenlake", "agent=random", "memory=on", "memory.encoder=hash",
                 f"memory.path={junk}", "eval.episodes=1", f"eval.output_dir={tmp_path}"])  # fmt: skip
    assert code == 2 and str(junk) in capsys.readouterr().err
    assert junk.read_bytes() == b"garbage" * 100


def test_help_and_print_config_show_the_memory_settings(capsys):
    assert main(["eval", "--print-config", "env=frozenlake", "memory=on", "memory.retriever.kind=learned"]) == 0
    out = capsys.readouterr().out
    assert "enabled: true" in out and "kind: learned" in out
    with pytest.raises(SystemExit) as done:
        main(["eval", "--help"])
    assert done.value.code == 0
    assert "memory.retriever.alpha" in capsys.readouterr().out


@pytest.mark.slow
def test_train_with_memory_writes_cases_from_training_episodes_only(tmp_path):
    bank_path = tmp_path / "cases.sqlite"
    code = main(
        [
            "train",
            "model=tiny",
            "env=guess",
            "algo=grpo",
            "train.iterations=2",
            "train.tasks_per_iteration=2",
            "rollout.group_size=2",
            "rollout.max_turns=2",
            "eval.episodes=2",
            "train.eval_every=1",
            "train.tensorboard=false",
            f"train.output_dir={tmp_path / 'run'}",
            "memory=on",
            "memory.encoder=hash",
            "memory.retriever.kind=learned",
            f"memory.path={bank_path}",
        ]
    )
    assert code == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    with _bank(bank_path) as bank:
        seeds = {c.seed for c, _ in bank.iter_cases()}
        assert len(bank) == 2 * 2 * 2  # iterations x tasks x group: every training episode, no evaluation one
    assert not seeds & set(results["eval_seeds"])
    assert bank_path.with_name("cases.sqlite.retriever.pt").exists()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["memory/bank_size"] for r in train] == [4.0, 8.0]
    assert train[1]["memory/cases_shown"] > 0  # the second iteration's prompts hold the first's cases
