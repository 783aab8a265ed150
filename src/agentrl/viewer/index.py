"""An SQLite index of trajectory JSONL files: where each episode's line starts, and what it holds.

``agentrl view`` never loads a trajectory file whole. :class:`TrajectoryIndex` reads a file
once, line by line, and keeps per episode its byte offset and length and the columns the
episode list shows and filters on (seed, group, task type, turns, return, won, invalid
actions); opening an episode reads its one line at its offset. The index lives in one
SQLite file (by default in agentrl's cache folder, so run folders copied from elsewhere
or read-only stay untouched), keyed by the trajectory file's absolute path.

It is incremental. A file that grew since it was indexed (a run still writing
``rollouts/iter-N.jsonl``, an evaluation appending episodes) is read on from where the
index stopped; one that shrank, or whose first bytes or the bytes before that point
changed (rewritten in seed order, replaced), is indexed anew. A last line without its
newline is a line still being written (or one a kill cut short): it is not indexed and
:attr:`FileState.partial_bytes` counts it. A complete line that is not a trajectory is
indexed as ``malformed`` with the reason, and shown as such.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrl.memory.bank import switch_to_wal

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Bumped when the tables change: an index of another version is rebuilt."""
COMMIT_EVERY = 2000
"""Episodes between commits while indexing, so that readers see a large file's first pages at once."""
_EDGE = 256
"""Bytes compared at the start of a file and before the indexed end, to tell an append from a rewrite."""

FILTERS = ("all", "won", "lost", "invalid", "malformed")
"""Episode filters: every line, episodes won, episodes not won, episodes with an invalid action, bad lines."""
_TIMEOUT_S = 30.0
"""Seconds a connection waits for another process's lock (another viewer on the same index) before failing."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE, size INTEGER, mtime_ns INTEGER, indexed_to INTEGER,
    head TEXT, edge TEXT, lines INTEGER, partial_bytes INTEGER, updated REAL);
CREATE TABLE IF NOT EXISTS episodes (
    file INTEGER, line INTEGER, offset INTEGER, length INTEGER, status TEXT, error TEXT,
    seed INTEGER, group_id INTEGER, task_type TEXT, turns INTEGER, ret REAL, score REAL,
    won INTEGER, invalid INTEGER, images INTEGER, task TEXT,
    PRIMARY KEY (file, line)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS episodes_won ON episodes (file, won, line);
CREATE INDEX IF NOT EXISTS episodes_type ON episodes (file, task_type, line);
"""


@dataclass
class FileState:
    """How far a file is indexed."""

    path: str
    lines: int
    """Lines indexed (episodes and malformed lines)."""
    indexed_to: int
    """Bytes indexed (up to the end of the last complete line)."""
    size: int
    """The file's size now."""
    partial_bytes: int
    """Bytes after the last newline: a line being written, or cut short by a kill."""
    complete: bool
    """Whether every complete line is indexed."""
    missing: bool = False
    """The file is gone (deleted or moved)."""


def default_index_path() -> Path:
    """``$AGENTRL_CACHE/viewer/index.sqlite`` (default ``~/.cache/agentrl/viewer/index.sqlite``)."""
    from agentrl.envs.cache import cache_dir

    return cache_dir("viewer") / "index.sqlite"


def summarize_line(data: Any) -> dict[str, Any]:
    """The index columns of one parsed JSONL line.

    Raises:
        ValueError: The line is no trajectory (the message says what is wrong).
    """
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not a trajectory object")
    turns = data.get("turns")
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise ValueError("no 'turns' list of objects")
    infos = [t.get("info") if isinstance(t.get("info"), dict) else {} for t in turns]
    rewards = [t.get("reward") for t in turns]
    if not all(isinstance(r, int | float) and not isinstance(r, bool) for r in rewards):
        raise ValueError("a turn without a numeric 'reward'")
    last = infos[-1] if infos else {}
    task_type = next((str(i["task_type"]) for i in infos if i.get("task_type")), "")
    env_id = str(data.get("env_id", ""))
    score = last.get("score")
    return {
        "seed": _int(data.get("seed")),
        "group_id": _int(data.get("group_id")),
        # Envs that sort tasks into types report info["task_type"]; otherwise episodes group by env.
        "task_type": task_type or env_id.split("/")[-1] or "?",
        "turns": len(turns),
        "ret": float(sum(rewards)),
        "score": float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
        "won": int(bool(last.get("won", False))),
        "invalid": sum(bool(i.get("invalid_action")) for i in infos),
        "images": sum(bool(i.get("image_file")) for i in infos),
        "task": str(data.get("task", ""))[:300],
    }


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _digest(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class TrajectoryIndex:
    """The index of any number of trajectory files, in one SQLite database.

    Thread-safe: each thread gets its own connection; one file is indexed by one thread at a time (the others
    wait for it, up to the time they are given, and read what is committed so far).

    Args:
        path: The database file (created; ``":memory:"`` is not supported: threads share the file).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_index_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        db = self._db()
        version = None
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            version = int(row[0]) if row else None
        except sqlite3.DatabaseError:
            pass
        if version not in (None, SCHEMA_VERSION):
            db.executescript("DROP TABLE IF EXISTS episodes; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS meta;")
        db.executescript(_SCHEMA)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (str(SCHEMA_VERSION),))
        db.commit()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=_TIMEOUT_S, check_same_thread=False)
            switch_to_wal(db, _TIMEOUT_S)  # another viewer process may be opening the same new index
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    # ------------------------------------------------------------------ indexing
    def refresh(self, path: str | Path, *, budget_s: float | None = None) -> FileState:
        """Index what is new in ``path``: everything, or as much as fits in ``budget_s`` seconds.

        With a budget, a file too large to finish goes on being indexed by the next call; a thread already
        indexing it is waited for up to the budget. Never raises for a file that is missing or unreadable:
        the state says so.
        """
        key = str(Path(path).resolve())
        lock = self._lock(key)
        if not lock.acquire(timeout=-1 if budget_s is None else max(budget_s, 0.0)):
            return self.state(key)
        try:
            return self._index(key, budget_s)
        finally:
            lock.release()

    def _index(self, key: str, budget_s: float | None) -> FileState:
        deadline = None if budget_s is None else time.monotonic() + budget_s
        db = self._db()
        try:
            stat = os.stat(key)
        except OSError:
            return FileState(key, 0, 0, 0, 0, True, missing=True)
        row = db.execute(
            "SELECT id, size, mtime_ns, indexed_to, head, edge, lines FROM files WHERE path = ?", (key,)
        ).fetchone()
        try:
            handle = open(key, "rb")  # closed by the with-block below
        except OSError:
            return FileState(key, 0, 0, stat.st_size, 0, True, missing=True)
        with handle:
            if row is not None and not self._still_valid(handle, stat, row):
                db.execute("DELETE FROM episodes WHERE file = ?", (row[0],))
                db.execute("DELETE FROM files WHERE id = ?", (row[0],))
                db.commit()
                row = None
            if row is None:
                cursor = db.execute(
                    "INSERT INTO files (path, size, mtime_ns, indexed_to, head, edge, lines, partial_bytes, updated) "
                    "VALUES (?, 0, 0, 0, '', '', 0, 0, 0)",
                    (key,),
                )
                file_id, start, lines = int(cursor.lastrowid or 0), 0, 0
            else:
                file_id, start, lines = int(row[0]), int(row[3]), int(row[6])
            handle.seek(start)
            offset, batch = start, []
            complete = True
            for raw in _lines(handle, stat.st_size - start):
                if not raw.endswith(b"\n"):
                    break  # a line still being written: indexed once its newline is there
                lines += 1
                batch.append(_episode_row(file_id, lines, offset, raw))
                offset += len(raw)
                if len(batch) >= COMMIT_EVERY:
                    self._commit(db, handle, file_id, stat, offset, lines, batch)
                    batch = []
                    if deadline is not None and time.monotonic() > deadline:
                        complete = offset >= stat.st_size
                        break
            self._commit(db, handle, file_id, stat, offset, lines, batch)
        partial = stat.st_size - offset if complete else 0
        db.execute("UPDATE files SET partial_bytes = ? WHERE id = ?", (partial, file_id))
        db.commit()
        return FileState(key, lines, offset, stat.st_size, partial, complete)

    @staticmethod
    def _still_valid(handle: Any, stat: os.stat_result, row: Sequence[Any]) -> bool:
        """Whether the indexed part of the file is unchanged (so only what follows it is new)."""
        _, size, mtime_ns, indexed_to, head, edge, _ = row
        if stat.st_size < indexed_to:
            return False  # shrank: rewritten
        if stat.st_size == size and stat.st_mtime_ns != mtime_ns and indexed_to == size:
            return False  # same length, written again
        return bool(_read_digest(handle, 0, min(_EDGE, indexed_to)) == head) and bool(
            _read_digest(handle, max(0, indexed_to - _EDGE), min(_EDGE, indexed_to)) == edge
        )

    @staticmethod
    def _commit(
        db: sqlite3.Connection,
        handle: Any,
        file_id: int,
        stat: os.stat_result,
        offset: int,
        lines: int,
        batch: list[tuple[Any, ...]],
    ) -> None:
        if batch:
            db.executemany("INSERT OR REPLACE INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
        head = _read_digest(handle, 0, min(_EDGE, offset))
        edge = _read_digest(handle, max(0, offset - _EDGE), min(_EDGE, offset))
        db.execute(
            "UPDATE files SET size = ?, mtime_ns = ?, indexed_to = ?, head = ?, edge = ?, lines = ?, updated = ? "
            "WHERE id = ?",
            (stat.st_size, stat.st_mtime_ns, offset, head, edge, lines, time.time(), file_id),
        )
        db.commit()
        handle.seek(offset)

    # ------------------------------------------------------------------ reading
    def state(self, path: str | Path) -> FileState:
        """How far ``path`` is indexed now (without indexing anything)."""
        key = str(Path(path).resolve())
        row = self._db().execute("SELECT lines, indexed_to, partial_bytes FROM files WHERE path = ?", (key,)).fetchone()
        try:
            size = os.stat(key).st_size
        except OSError:
            return FileState(key, 0, 0, 0, 0, True, missing=True)
        if row is None:
            return FileState(key, 0, 0, size, 0, size == 0)
        lines, indexed_to, partial = row
        return FileState(key, lines, indexed_to, size, partial, indexed_to + partial >= size)

    def _file_id(self, path: str | Path) -> int | None:
        row = self._db().execute("SELECT id FROM files WHERE path = ?", (str(Path(path).resolve()),)).fetchone()
        return int(row[0]) if row else None

    def episodes(
        self,
        path: str | Path,
        *,
        kind: str = "all",
        task_type: str = "",
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the episode list (in file order) and how many episodes match, over what is indexed.

        Args:
            kind: One of :data:`FILTERS`.
            task_type: Only episodes of this task type ('' : all).
        """
        if kind not in FILTERS:
            raise ValueError(f"unknown filter {kind!r}; choose one of {', '.join(FILTERS)}")
        file_id = self._file_id(path)
        if file_id is None:
            return [], 0
        where: list[str] = ["file = ?"]
        args: list[Any] = [file_id]
        where.append(
            {
                "all": "1",
                "won": "status = 'ok' AND won = 1",
                "lost": "status = 'ok' AND won = 0",
                "invalid": "status = 'ok' AND invalid > 0",
                "malformed": "status != 'ok'",
            }[kind]
        )
        if task_type:
            where.append("task_type = ?")
            args.append(task_type)
        clause = " AND ".join(where)
        db = self._db()
        total = int(db.execute(f"SELECT COUNT(*) FROM episodes WHERE {clause}", args).fetchone()[0])
        rows = db.execute(
            "SELECT line, status, error, seed, group_id, task_type, turns, ret, score, won, invalid, images, task "
            f"FROM episodes WHERE {clause} ORDER BY line LIMIT ? OFFSET ?",
            [*args, max(0, limit), max(0, offset)],
        ).fetchall()
        names = ("line", "status", "error", "seed", "group_id", "task_type", "turns", "return", "score", "won")
        out = []
        for row in rows:
            item = dict(zip(names, row[:10], strict=True))
            item.update(won=bool(row[9]), invalid=row[10], images=row[11], task=row[12])
            out.append(item)
        return out, total

    def task_types(self, path: str | Path) -> list[dict[str, Any]]:
        """Per task type: episodes, episodes won, mean return and mean turns (well-formed lines only)."""
        file_id = self._file_id(path)
        if file_id is None:
            return []
        rows = (
            self._db()
            .execute(
                "SELECT task_type, COUNT(*), SUM(won), AVG(ret), AVG(turns), SUM(invalid > 0) FROM episodes "
                "WHERE file = ? AND status = 'ok' GROUP BY task_type ORDER BY task_type",
                (file_id,),
            )
            .fetchall()
        )
        return [
            {"task_type": t, "episodes": n, "won": int(w or 0), "mean_return": r, "mean_turns": m, "invalid": int(i)}
            for t, n, w, r, m, i in rows
        ]

    def location(self, path: str | Path, line: int) -> tuple[int, int, str, str] | None:
        """``(offset, length, status, error)`` of line ``line`` (1-based), or None when it is not indexed."""
        file_id = self._file_id(path)
        if file_id is None:
            return None
        row = (
            self._db()
            .execute("SELECT offset, length, status, error FROM episodes WHERE file = ? AND line = ?", (file_id, line))
            .fetchone()
        )
        return (int(row[0]), int(row[1]), str(row[2]), str(row[3] or "")) if row else None

    def read(self, path: str | Path, line: int) -> dict[str, Any]:
        """Line ``line`` of ``path``: ``{"status": "ok", "trajectory": {...}}`` or what is wrong with it.

        The status is ``ok``, ``malformed`` (with ``error`` and the start of the line as ``raw``), ``changed``
        (the file no longer holds that line as indexed: refresh), or ``missing`` (not indexed).
        """
        where = self.location(path, line)
        if where is None:
            return {"status": "missing", "error": f"line {line} is not in the index (refresh the list)"}
        offset, length, status, error = where
        try:
            with open(Path(path).resolve(), "rb") as handle:
                handle.seek(offset)
                raw = handle.read(length)
        except OSError as err:
            return {"status": "missing", "error": f"cannot read the file: {err}"}
        if len(raw) != length or not raw.endswith(b"\n"):
            return {"status": "changed", "error": "the file changed since it was indexed (refresh the list)"}
        if status != "ok":
            return {"status": status, "error": error, "raw": raw[:2000].decode("utf-8", "replace")}
        try:
            data = json.loads(raw)
            summarize_line(data)
        except (ValueError, UnicodeDecodeError) as err:
            return {"status": "changed", "error": f"the line no longer reads as indexed ({err}); refresh the list"}
        return {"status": "ok", "trajectory": data}

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _lines(handle: Any, limit: int) -> Iterator[bytes]:
    """The lines of ``handle`` from where it stands, reading at most ``limit`` bytes (a growing file stops there)."""
    remaining = limit
    while remaining > 0:
        raw = handle.readline(remaining)
        if not raw:
            return
        remaining -= len(raw)
        yield raw


def _read_digest(handle: Any, start: int, length: int) -> str:
    handle.seek(start)
    return _digest(handle.read(length))


def _episode_row(file_id: int, line: int, offset: int, raw: bytes) -> tuple[Any, ...]:
    try:
        columns: Mapping[str, Any] = summarize_line(json.loads(raw))
        status, error = "ok", None
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        status, error = "malformed", _short(err)
        columns = {}
    return (
        file_id,
        line,
        offset,
        len(raw),
        status,
        error,
        columns.get("seed"),
        columns.get("group_id"),
        columns.get("task_type", ""),
        columns.get("turns", 0),
        columns.get("ret", 0.0),
        columns.get("score"),
        columns.get("won", 0),
        columns.get("invalid", 0),
        columns.get("images", 0),
        columns.get("task", ""),
    )


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."
