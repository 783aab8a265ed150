"""The case bank: AgentFly's episodic memory, one SQLite file in WAL mode.

A :class:`Case` is one finished episode (or one subtask of it): the task text it pursued,
its embedding, the plan or a summary of the trajectory, the outcome (won, reward, score),
the env id, when it was written and by which run. Every process that opens the same file
sees every case committed by the others: writes are short ``BEGIN IMMEDIATE``
transactions, readers never block (WAL), and a process killed mid-write loses only the
transaction it had not committed.

The file identifies itself: ``PRAGMA application_id`` holds :data:`APPLICATION_ID` and the
``meta`` table the schema version, the encoder and its width. Opening anything else — a
file that is not SQLite, an SQLite database of another program, a newer schema, a bank
written by another encoder — raises :class:`CaseBankError` naming the file and what to
do; nothing is ever reset or overwritten silently.

Retrieval reads the embeddings into one float32 matrix per (env, kind) and ranks by
cosine similarity with a matrix-vector product (numpy: ``docs/memory.md`` has the
measurements against faiss and sqlite-vec); the matrix is topped up with the rows added
since the last read, and rebuilt after a prune.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""The layout of the tables; a bank with a newer one is refused, an older one would be migrated."""
APPLICATION_ID = 0x41524D42  # "ARMB": agentrl memory bank, in the SQLite header
KINDS = ("task", "subtask")
"""A case is a whole task, or one subtask of a planner-executor episode (``parent`` is its task's case)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    env_id TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'task',
    parent INTEGER,
    task TEXT NOT NULL,
    plan TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    won INTEGER NOT NULL,
    reward REAL NOT NULL,
    score REAL NOT NULL,
    turns INTEGER NOT NULL,
    seed INTEGER,
    source TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_env_kind ON cases (env_id, kind, id);
"""
_COLUMNS = "id, env_id, kind, parent, task, plan, summary, won, reward, score, turns, seed, source, created, embedding"


def switch_to_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch ``conn``'s database file to WAL, waiting up to ``timeout`` seconds for other processes that hold it
    open meanwhile.

    Changing the journal mode answers "database is locked" at once, without the busy timeout, while another
    connection is reading the file: several processes opening a new database together meet that.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class CaseBankError(ValueError):
    """The file is not a usable case bank (corrupted, another program's database, another schema or encoder)."""


@dataclass
class Case:
    """One remembered episode or subtask."""

    task: str
    """The task (or subtask) text the case is retrieved by."""
    env_id: str
    """The env it was played in."""
    won: bool
    """Whether the episode succeeded (a subtask carries its episode's outcome)."""
    reward: float = 0.0
    """The episode's return."""
    score: float = 0.0
    """The env-native score at the end."""
    plan: str = ""
    """The plan the agent followed (planner-executor), or ''."""
    summary: str = ""
    """What was done: the actions and the outcome, as shown to the agent when the case is retrieved."""
    turns: int = 0
    """Turns the episode took."""
    kind: str = "task"
    """``task`` or ``subtask``."""
    parent: int | None = None
    """For a subtask: the id of its task's case."""
    seed: int | None = None
    """The reset seed of the episode."""
    source: str = ""
    """Which run wrote it (a run folder, an evaluation, an import)."""
    created: float = field(default_factory=time.time)
    """When it was written (Unix time)."""
    id: int | None = None
    """Its row id once stored."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the export format, without the embedding)."""
        return asdict(self)


class CaseBank:
    """A case bank on disk. Safe to share between processes; one instance per process (or thread).

    Args:
        path: The SQLite file (created with its folder when missing, unless ``create`` is False).
        encoder: The encoder name the embeddings come from (recorded at creation, checked after).
        dim: The embedding width (recorded at creation, checked after).
        create: Make a new bank when the file does not exist.
        timeout: Seconds to wait for another process's write lock.

    Raises:
        CaseBankError: The file exists but is not a case bank of this schema and encoder (see the module docs).
    """

    def __init__(self, path: str | Path, *, encoder: str, dim: int, create: bool = True, timeout: float = 60.0):
        self.path = Path(path)
        self.encoder, self.dim = encoder, int(dim)
        self.timeout = timeout
        if not self.path.exists():
            if not create:
                raise CaseBankError(f"{self.path}: no such case bank (memory.path)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise CaseBankError(f"{self.path}: cannot open it as SQLite ({err})") from err
        self._matrices: dict[tuple[str | None, str], _Matrix] = {}
        with self._errors("open"):
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._open()

    # ------------------------------------------------------------------ opening
    def _open(self) -> None:
        conn = self.conn
        # Reading the header fails here on a file that is not SQLite ("file is not a database"). The id and the
        # tables are read in one read transaction: apart, another process creating the bank could commit between
        # the two reads, and its tables seen beside the id read before would look like another program's database.
        conn.execute("BEGIN")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.execute("COMMIT")
        if app_id != APPLICATION_ID and (tables or app_id != 0):
            raise CaseBankError(
                f"{self.path} is an SQLite database of another program (tables: {', '.join(sorted(tables)) or 'none'};"
                f" application_id {app_id}), not an agentrl case bank: give another memory.path"
            )
        if app_id != APPLICATION_ID:  # an empty file or a new one: make the bank (one process wins, others wait)
            self._wal()
            with self.transaction():
                if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                    for statement in _SCHEMA.split(";"):  # not executescript: it would commit the transaction
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [
                            ("schema_version", str(SCHEMA_VERSION)),
                            ("encoder", self.encoder),
                            ("dim", str(self.dim)),
                            ("generation", "0"),
                            ("created", str(time.time())),
                        ],
                    )
        self._wal()
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a killed process loses no commit
        meta = self.meta()
        version = int(meta.get("schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise CaseBankError(
                f"{self.path}: case bank schema version {version}, this agentrl reads version {SCHEMA_VERSION}: "
                f"{'upgrade agentrl' if version > SCHEMA_VERSION else 'export it with the agentrl that wrote it'}"
            )
        if meta.get("encoder") != self.encoder or int(meta.get("dim", "0")) != self.dim:
            raise CaseBankError(
                f"{self.path}: its cases are embedded by encoder {meta.get('encoder')!r} (width {meta.get('dim')}),"
                f" not {self.encoder!r} (width {self.dim}): set memory.encoder={meta.get('encoder')} or use another"
                f" memory.path"
            )

    def _wal(self) -> None:
        switch_to_wal(self.conn, self.timeout)

    @staticmethod
    def read_meta(path: str | Path) -> dict[str, str]:
        """The ``meta`` table of an existing bank (its encoder, width, schema), checked to be a case bank."""
        path = Path(path)
        if not path.exists():
            raise CaseBankError(f"{path}: no such case bank")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                    raise CaseBankError(f"{path} is not an agentrl case bank (another program's SQLite database)")
                return dict(conn.execute("SELECT key, value FROM meta").fetchall())
            finally:
                conn.close()
        except sqlite3.DatabaseError as err:
            raise CaseBankError(f"{path}: not a readable case bank ({err}); it may be corrupted") from err

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as err:  # corrupted pages, a non-database file, ...
            raise CaseBankError(
                f"{self.path}: {what} failed: {err} (a corrupted or foreign file? `agentrl memory stats "
                f"--path {self.path}` checks it; nothing was reset)"
            ) from err

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front (no deadlock between two upgrading readers)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def meta(self) -> dict[str, str]:
        """The bank's ``meta`` table."""
        with self._errors("reading meta"):
            return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.conn.close()

    def __enter__(self) -> CaseBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def add(self, cases: Sequence[Case], embeddings: np.ndarray) -> list[int]:
        """Store ``cases`` with their embeddings (one row each, unit length) in one transaction; their ids."""
        vectors = np.asarray(embeddings, dtype=np.float32)
        if vectors.shape != (len(cases), self.dim):
            raise ValueError(
                f"{len(cases)} cases need embeddings of shape ({len(cases)}, {self.dim}), got {vectors.shape}"
            )
        for case in cases:
            if case.kind not in KINDS:
                raise ValueError(f"case kind {case.kind!r}: one of {', '.join(KINDS)}")
        ids = []
        with self._errors("writing cases"), self.transaction() as conn:
            for case, vector in zip(cases, vectors, strict=True):
                cursor = conn.execute(
                    f"INSERT INTO cases ({_COLUMNS.removeprefix('id, ')}) VALUES ({', '.join('?' * 14)})",
                    (
                        case.env_id,
                        case.kind,
                        case.parent,
                        case.task,
                        case.plan,
                        case.summary,
                        int(case.won),
                        float(case.reward),
                        float(case.score),
                        int(case.turns),
                        case.seed,
                        case.source,
                        float(case.created),
                        vector.tobytes(),
                    ),
                )
                case.id = int(cursor.lastrowid or 0)
                ids.append(case.id)
        return ids

    def prune(
        self,
        *,
        env_id: str | None = None,
        keep_last: int | None = None,
        older_than: float | None = None,
        failures: bool = False,
        source: str | None = None,
    ) -> int:
        """Delete cases (of ``env_id`` / ``source`` when given): past the newest ``keep_last``, written before the
        Unix time ``older_than``, or the failures only. Returns how many went."""
        where: list[str] = ["1"]
        params: list[Any] = []
        if env_id is not None:
            where.append("env_id = ?")
            params.append(env_id)
        if source is not None:
            where.append("source = ?")
            params.append(source)
        conditions = []
        if older_than is not None:
            conditions.append("created < ?")
            params.append(older_than)
        if failures:
            conditions.append("won = 0")
        if keep_last is not None:
            scope = " AND ".join(where[1:]) or "1"
            conditions.append(f"id NOT IN (SELECT id FROM cases WHERE {scope} ORDER BY id DESC LIMIT ?)")
            params.extend([*params[: len(where) - 1], keep_last])
        if not conditions:
            raise ValueError("prune needs a rule: keep_last, older_than or failures")
        sql = f"DELETE FROM cases WHERE {' AND '.join(where)} AND ({' OR '.join(conditions)})"
        with self._errors("pruning"), self.transaction() as conn:
            deleted = conn.execute(sql, params).rowcount
            conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        self._matrices.clear()
        return int(deleted)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        with self._errors("counting"):
            return int(self.conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0])

    def get(self, ids: Iterable[int]) -> list[Case]:
        """The cases of ``ids``, in that order (missing ids are left out)."""
        ids = list(ids)
        if not ids:
            return []
        with self._errors("reading cases"):
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM cases WHERE id IN ({', '.join('?' * len(ids))})", ids
            ).fetchall()
        found = {row[0]: _case(row) for row in rows}
        return [found[i] for i in ids if i in found]

    def iter_cases(self, env_id: str | None = None) -> Iterator[tuple[Case, np.ndarray]]:
        """Every case (of ``env_id``) with its embedding, oldest first."""
        sql = f"SELECT {_COLUMNS} FROM cases" + (" WHERE env_id = ?" if env_id is not None else "") + " ORDER BY id"
        with self._errors("reading cases"):
            for row in self.conn.execute(sql, (env_id,) if env_id is not None else ()):
                yield _case(row), np.frombuffer(row[-1], dtype=np.float32)

    def matrix(self, env_id: str | None, kind: str = "task") -> tuple[np.ndarray, np.ndarray]:
        """The ids and the ``[n, dim]`` embeddings of the cases of ``env_id`` (None: every env) and ``kind``,
        topped up with what other processes added since the last call."""
        key = (env_id, kind)
        with self._errors("reading embeddings"):
            generation = self.meta()["generation"]
            held = self._matrices.get(key)
            if held is None or held.generation != generation:
                held = self._matrices[key] = _Matrix(generation, self.dim)
            sql = "SELECT id, embedding FROM cases WHERE kind = ? AND id > ?"
            params: list[Any] = [kind, held.last_id]
            if env_id is not None:
                sql += " AND env_id = ?"
                params.append(env_id)
            rows = self.conn.execute(sql + " ORDER BY id", params).fetchall()
        if rows:
            held.extend([r[0] for r in rows], [r[1] for r in rows])
        return held.ids[: held.n], held.vectors[: held.n]

    def search(
        self, query: np.ndarray, k: int, *, env_id: str | None = None, kind: str = "task"
    ) -> list[tuple[Case, float]]:
        """The ``k`` cases most cosine-similar to the unit vector ``query``, best first, with their similarity."""
        ids, vectors = self.matrix(env_id, kind)
        if not len(ids) or k <= 0:
            return []
        sims = vectors @ np.asarray(query, dtype=np.float32)
        top = top_k(sims, k)
        cases = self.get(int(ids[i]) for i in top)
        return list(zip(cases, (float(sims[i]) for i in top), strict=True))

    def stats(self) -> dict[str, Any]:
        """Counts per env and kind, successes, time span, the meta table and the file size."""
        with self._errors("reading stats"):
            rows = self.conn.execute(
                "SELECT env_id, kind, COUNT(*), SUM(won), MIN(created), MAX(created) FROM cases GROUP BY env_id, kind"
            ).fetchall()
        per_env = [
            {"env_id": e, "kind": k, "cases": n, "won": int(w or 0), "first": lo, "last": hi}
            for e, k, n, w, lo, hi in rows
        ]
        return {
            "path": str(self.path),
            "cases": sum(r["cases"] for r in per_env),
            "won": sum(r["won"] for r in per_env),
            "per_env": per_env,
            "meta": self.meta(),
            "bytes": self.path.stat().st_size,
        }

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ('ok' when the file is sound)."""
        with self._errors("integrity check"):
            return "; ".join(str(r[0]) for r in self.conn.execute("PRAGMA integrity_check").fetchall())

    # ------------------------------------------------------------------ JSONL
    def export_jsonl(self, path: str | Path, *, env_id: str | None = None, embeddings: bool = True) -> int:
        """Write every case (of ``env_id``) as one JSON line (the embedding as a list unless told not to)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with path.open("w", encoding="utf-8") as out:
            for case, vector in self.iter_cases(env_id):
                row = case.to_json()
                if embeddings:
                    row["embedding"] = [round(float(x), 6) for x in vector]
                    row["encoder"] = self.encoder
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        return count


def read_jsonl(path: str | Path) -> Iterator[tuple[Case, list[float] | None, str | None]]:
    """Cases from an export (:meth:`CaseBank.export_jsonl`), with their embeddings and encoder where present.

    Raises ValueError naming the file and line of a row that is not a case.
    """
    names = set(Case.__dataclass_fields__)
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                vector, encoder = row.pop("embedding", None), row.pop("encoder", None)
                unknown = set(row) - names
                if unknown:
                    raise ValueError(f"unknown fields {sorted(unknown)}")
                case = Case(**row)
            except (ValueError, TypeError) as err:
                raise ValueError(f"{path}:{number}: not a case ({err})") from err
            yield case, vector, encoder


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, largest first; ties go to the higher index, i.e. the newer case.

    A bank grows with experience: when the same task was played several times, its newest case is the latest
    policy's outcome. Oldest-first would let a task's first failure shadow every later success at ``k=1``."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # the k-th largest score
    part = np.flatnonzero(scores >= kth)  # every tie of it too, so the newest of them can win
    return part[np.lexsort((-part, -scores[part]))][:k]


class _Matrix:
    """A growable float32 matrix of embeddings with their ids (doubling capacity)."""

    def __init__(self, generation: str, dim: int):
        self.generation, self.dim, self.n, self.last_id = generation, dim, 0, 0
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def extend(self, ids: list[int], blobs: list[bytes]) -> None:
        need = self.n + len(ids)
        if need > len(self.ids):
            size = max(need, 2 * len(self.ids), 64)
            self.ids = np.resize(self.ids, size)
            vectors = np.zeros((size, self.dim), dtype=np.float32)
            vectors[: self.n] = self.vectors[: self.n]
            self.vectors = vectors
        self.ids[self.n : need] = ids
        self.vectors[self.n : need] = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), self.dim)
        self.n, self.last_id = need, ids[-1]


def _case(row: Sequence[Any]) -> Case:
    (id_, env_id, kind, parent, task, plan, summary, won, reward, score, turns, seed, source, created, _) = row
    return Case(
        task=task,
        env_id=env_id,
        won=bool(won),
        reward=reward,
        score=score,
        plan=plan,
        summary=summary,
        turns=turns,
        kind=kind,
        parent=parent,
        seed=seed,
        source=source,
        created=created,
        id=id_,
    )
