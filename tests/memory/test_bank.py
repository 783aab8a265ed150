"""The case bank: write/read invariants, concurrent writers, a killed writer, and files that are not a bank."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from agentrl.memory.bank import SCHEMA_VERSION, Case, CaseBank, CaseBankError, read_jsonl
from agentrl.memory.embedding import Embedder

DIM = 384


def _bank(path: Path) -> CaseBank:
    return CaseBank(path, encoder="hash", dim=DIM)


def _case(i: int, env: str = "env-a", won: bool = True, source: str = "") -> Case:
    return Case(task=f"task number {i}", env_id=env, won=won, reward=float(won), summary=f"did {i}", source=source)


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_written_cases_read_back_exactly_and_the_nearest_comes_first(tmp_path):
    bank = _bank(tmp_path / "b.sqlite")
    vectors = _vectors(20)
    cases = [_case(i, won=i % 3 == 0) for i in range(20)]
    ids = bank.add(cases, vectors)
    assert ids == sorted(ids) and len(set(ids)) == 20 and len(bank) == 20
    back = bank.get(ids)
    for before, after in zip(cases, back, strict=True):
        assert after == before  # every field, id included
    for i in (0, 7, 19):
        (top, similarity), *_ = bank.search(vectors[i], 3)
        assert top.id == ids[i] and similarity == pytest.approx(1.0, abs=1e-5)
    assert len(bank.search(vectors[0], 100)) == 20  # k past the bank: every case, once
    assert bank.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert bank.meta()["schema_version"] == str(SCHEMA_VERSION)


def test_equal_similarities_put_the_newest_case_first_even_across_the_top_k_boundary(tmp_path):
    from agentrl.memory.bank import top_k

    scores = np.array([0.9, 0.2, 0.9, 0.5, 0.9, 0.9, 0.1])
    assert top_k(scores, 2).tolist() == [5, 4]  # four tie for the top: the two newest, newest first
    assert top_k(scores, 5).tolist() == [5, 4, 2, 0, 3]
    assert top_k(scores, 99).tolist() == [5, 4, 2, 0, 3, 1, 6]
    assert top_k(scores, 0).tolist() == []
    bank = _bank(tmp_path / "b.sqlite")  # the same task played three times: its latest outcome first
    vector = _vectors(1)
    ids = bank.add([_case(0, won=False), _case(0, won=False), _case(0, won=True)], np.repeat(vector, 3, axis=0))
    (top, _), *_ = bank.search(vector[0], 1)
    assert top.id == ids[2] and top.won


def test_search_keeps_to_its_env_and_kind_and_sees_other_connections_writes(tmp_path):
    path = tmp_path / "b.sqlite"
    reader, writer = _bank(path), _bank(path)
    vectors = _vectors(4)
    writer.add([_case(0, "env-a"), _case(1, "env-b")], vectors[:2])
    sub = Case(task="sub", env_id="env-a", won=True, kind="subtask", parent=1)
    writer.add([sub], vectors[2:3])
    assert [c.env_id for c, _ in reader.search(vectors[1], 5, env_id="env-a")] == ["env-a"]
    assert [c.kind for c, _ in reader.search(vectors[2], 5, env_id="env-a", kind="subtask")] == ["subtask"]
    writer.add([_case(3, "env-a")], vectors[3:4])  # after the reader cached its matrix
    assert reader.search(vectors[3], 1, env_id="env-a")[0][0].task == "task number 3"
    assert writer.prune(env_id="env-a", keep_last=1) == 2  # case 0 and the subtask go; env-b is untouched
    assert len(writer) == 2
    assert {c.task for c, _ in reader.search(vectors[0], 5, env_id="env-a")} == {"task number 3"}


def test_prune_rules(tmp_path):
    bank = _bank(tmp_path / "b.sqlite")
    bank.add([_case(i, won=i % 2 == 0) for i in range(10)], _vectors(10))
    assert bank.prune(failures=True) == 5
    assert all(c.won for c, _ in bank.iter_cases())
    assert bank.prune(older_than=time.time() + 1) == 5 and len(bank) == 0
    with pytest.raises(ValueError, match="prune needs a rule"):
        bank.prune(env_id="env-a")


def test_export_and_import_round_trip(tmp_path):
    bank = _bank(tmp_path / "b.sqlite")
    embed = Embedder("hash")
    cases = [_case(i) for i in range(5)]
    bank.add(cases, embed([c.task for c in cases]))
    assert bank.export_jsonl(tmp_path / "cases.jsonl") == 5
    rows = list(read_jsonl(tmp_path / "cases.jsonl"))
    assert [c for c, _, _ in rows] == cases
    assert all(encoder == "hash" and len(v) == DIM for _, v, encoder in rows)
    (tmp_path / "bad.jsonl").write_text('{"task": "x", "env_id": "e", "won": true, "colour": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not a case"):
        list(read_jsonl(tmp_path / "bad.jsonl"))


def _writer(path: str, worker: int, count: int) -> None:
    bank = CaseBank(path, encoder="hash", dim=DIM)
    rng = np.random.default_rng(worker)
    for i in range(count):
        v = rng.standard_normal((1, DIM)).astype(np.float32)
        bank.add(
            [Case(task=f"w{worker}-{i}", env_id="env", won=bool(i % 2), source=f"w{worker}")], v / np.linalg.norm(v)
        )
    bank.close()


def test_eight_processes_writing_a_thousand_cases_each_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")  # created concurrently too: no process makes it first
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_writer, args=(path, w, 1000)) for w in range(8)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=600)
        assert p.exitcode == 0
    bank = _bank(Path(path))
    tasks = [c.task for c, _ in bank.iter_cases()]
    assert len(tasks) == 8000 and set(tasks) == {f"w{w}-{i}" for w in range(8) for i in range(1000)}
    assert bank.integrity_check() == "ok"
    for w in range(8):  # each writer's cases are in its own order
        mine = [int(t.split("-")[1]) for t in tasks if t.startswith(f"w{w}-")]
        assert mine == sorted(mine)


def _open_bank(path: str) -> None:
    CaseBank(path, encoder="hash", dim=DIM).close()


def test_eight_processes_opening_a_new_bank_together_all_open_it(tmp_path, open_together):
    # Opening checks the file is a bank and creates it; a process that read the header before another created the
    # bank and its tables after took it for another program's database, and switching to WAL while others read
    # answered "database is locked" at once: both failed one process in ten rounds or so.
    open_together(_open_bank)
    assert _bank(tmp_path / "new-0.sqlite").meta()["encoder"] == "hash"


def _killed_writer(path: str, log: str) -> None:
    bank = CaseBank(path, encoder="hash", dim=DIM)
    v = np.ones((1, DIM), np.float32) / np.sqrt(DIM)
    with open(log, "a") as out:
        for i in range(10**6):
            [case_id] = bank.add([Case(task=f"k{i}", env_id="env", won=True)], v)
            out.write(f"{case_id}\n")  # only after the commit returned
            out.flush()


def test_a_writer_killed_mid_write_loses_nothing_it_committed(tmp_path):
    path, log = str(tmp_path / "b.sqlite"), tmp_path / "committed.txt"
    proc = multiprocessing.get_context("fork").Process(target=_killed_writer, args=(path, str(log)))
    proc.start()
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().split()) < 200):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    committed = {int(x) for x in log.read_text().split()}
    assert len(committed) >= 200
    bank = _bank(Path(path))
    stored = {c.id for c, _ in bank.iter_cases()}
    assert committed <= stored
    assert bank.integrity_check() == "ok"


def test_a_file_that_is_not_sqlite_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database at all " * 200)
    before = path.read_bytes()
    with pytest.raises(CaseBankError, match=str(path)):
        _bank(path)
    assert path.read_bytes() == before


def test_a_corrupted_bank_gives_a_clear_error_never_a_reset(tmp_path):
    path = tmp_path / "b.sqlite"
    bank = _bank(path)
    bank.add([_case(i) for i in range(3000)], _vectors(3000))
    bank.close()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 256 * 1024] = os.urandom(256 * 1024)  # whole pages, headers included
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(CaseBankError, match=str(path)):
        damaged = _bank(path)
        damaged.matrix(None)
        list(damaged.iter_cases())
        assert damaged.integrity_check() == "ok"  # not reached: the reads above fail first
    assert path.read_bytes() == before


def test_another_programs_database_is_refused_and_untouched(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ada')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CaseBankError, match=r"another program.*users"):
        _bank(path)
    assert path.read_bytes() == before


def test_a_newer_schema_or_another_encoder_is_refused(tmp_path):
    path = tmp_path / "b.sqlite"
    _bank(path).close()
    with pytest.raises(CaseBankError, match="encoder 'hash'"):
        CaseBank(path, encoder="minilm", dim=DIM)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(CaseBankError, match=r"schema version 99.*upgrade agentrl"):
        _bank(path)
