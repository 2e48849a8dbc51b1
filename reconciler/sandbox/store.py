"""SQLite storage for the emulator. Knows tables, not ClickTime's rules (see emulator.py).

Each record is one row: its JSON as the API returns it, plus the columns the API sorts, filters
and enforces uniqueness on, so that paging a 50k-record collection stays an indexed query.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    sort TEXT NOT NULL,
    active INTEGER NOT NULL,
    parent TEXT,              -- a job's ClientID
    k1 TEXT,                  -- first unique key within the collection
    k2 TEXT,                  -- second unique key (NULL: none)
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_k1 ON records(collection, k1) WHERE k1 IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS records_k2 ON records(collection, k2) WHERE k2 IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_page ON records(collection, active, sort, id);
CREATE INDEX IF NOT EXISTS records_parent ON records(parent);
CREATE TABLE IF NOT EXISTS assignments (
    job_id TEXT NOT NULL, sub TEXT NOT NULL, target_id TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (job_id, sub, target_id)
);
CREATE INDEX IF NOT EXISTS assignments_target ON assignments(sub, target_id);
CREATE TABLE IF NOT EXISTS time_entries (
    id TEXT PRIMARY KEY, job_id TEXT, task_id TEXT, user_id TEXT, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # The HTTP server answers from worker threads, one request at a time under its lock.
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- settings and IDs --------------------------------------------------------------
    def get_setting(self, name: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, name: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO settings(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (name, json.dumps(value)),
        )

    def new_id(self) -> str:
        """An opaque, ClickTime-looking ID; deterministic per account for reproducible runs."""
        seq = int(self.get_setting("seq", 0)) + 1
        self.set_setting("seq", seq)
        salt = self.get_setting("salt", "")
        digest = hashlib.sha256(f"{salt}:{seq}".encode()).digest()
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        number = int.from_bytes(digest[:17], "big")
        chars = []
        for _ in range(23):
            number, rest = divmod(number, 62)
            chars.append(alphabet[rest])
        return "".join(chars)

    # -- records -----------------------------------------------------------------------
    def put(self, collection: str, record: dict[str, Any], sort: str, parent: str | None,
            k1: str | None, k2: str | None) -> None:
        self.db.execute(
            "INSERT INTO records(id, collection, sort, active, parent, k1, k2, data) VALUES(?,?,?,?,?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET sort=excluded.sort, active=excluded.active, parent=excluded.parent, "
            "k1=excluded.k1, k2=excluded.k2, data=excluded.data",
            (record["ID"], collection, sort, int(bool(record.get("IsActive", True))), parent, k1, k2,
             json.dumps(record, separators=(",", ":"))),
        )

    def get(self, collection: str, record_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT data FROM records WHERE collection=? AND id=?", (collection, record_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def find_id(self, collection: str, column: str, value: str) -> str | None:
        assert column in ("k1", "k2")
        row = self.db.execute(
            f"SELECT id FROM records WHERE collection=? AND {column}=?", (collection, value)
        ).fetchone()
        return row[0] if row else None

    def delete(self, record_id: str) -> None:
        self.db.execute("DELETE FROM records WHERE id=?", (record_id,))
        self.db.execute("DELETE FROM assignments WHERE job_id=? OR target_id=?", (record_id, record_id))

    def children(self, parent_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT data FROM records WHERE parent=?", (parent_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def page(self, collection: str, active: Iterable[bool] | None, json_filters: dict[str, list[str]],
             limit: int, offset: int, within: tuple[str, list[Any]] | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page and the total count; `within` is an `id IN (...)` condition from linked()."""
        where: list[str] = ["collection=?"]
        args: list[Any] = [collection]
        if within is not None:
            where.append(within[0])
            args += within[1]
        if active is not None:
            flags = sorted({int(a) for a in active})
            where.append(f"active IN ({','.join('?' * len(flags))})")
            args += flags
        for field, values in json_filters.items():
            # Filters compare the field's text; exact and case-sensitive (stricter than contains).
            where.append(f"CAST(json_extract(data, '$.{field}') AS TEXT) IN ({','.join('?' * len(values))})")
            args += values
        clause = " AND ".join(where)
        count = self.db.execute(f"SELECT COUNT(*) FROM records WHERE {clause}", args).fetchone()[0]
        rows = self.db.execute(
            f"SELECT data FROM records WHERE {clause} ORDER BY sort, id LIMIT ? OFFSET ?", [*args, limit, offset]
        ).fetchall()
        return [json.loads(r[0]) for r in rows], count

    def count(self, collection: str) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM records WHERE collection=?", (collection,)).fetchone()
        return int(row[0])

    # -- assignments and history -------------------------------------------------------
    def assigned(self, job_id: str, sub: str) -> list[str]:
        rows = self.db.execute(
            "SELECT target_id FROM assignments WHERE job_id=? AND sub=? ORDER BY seq DESC", (job_id, sub)
        ).fetchall()
        return [r[0] for r in rows]

    def assign(self, job_id: str, sub: str, target_id: str) -> None:
        seq = int(self.get_setting("assignment_seq", 0)) + 1
        self.set_setting("assignment_seq", seq)
        self.db.execute("INSERT INTO assignments VALUES(?,?,?,?)", (job_id, sub, target_id, seq))

    def linked(self, sub: str, *, jobs: list[str] | None = None, targets: list[str] | None = None,
               skip_newest: bool = False) -> tuple[str, list[Any]]:
        """An `id IN (...)` condition for page(): the targets assigned to any of `jobs`, or the
        jobs any of `targets` is assigned to. skip_newest leaves out the account's newest
        assignment (a reverse read that lags behind)."""
        side, other, values = ("target_id", "job_id", jobs) if jobs is not None else ("job_id", "target_id", targets)
        values = list(values or [])
        lag = " AND seq < (SELECT MAX(seq) FROM assignments)" if skip_newest else ""
        marks = ",".join("?" * len(values)) or "NULL"
        return (f"id IN (SELECT {side} FROM assignments WHERE sub=? AND {other} IN ({marks}){lag})",
                [sub, *values])

    def jobs_of(self, sub: str, target_id: str, skip_newest: bool = False) -> list[str]:
        """IDs of the jobs `target_id` is assigned to, newest assignment first."""
        lag = " AND seq < (SELECT MAX(seq) FROM assignments)" if skip_newest else ""
        rows = self.db.execute(
            f"SELECT job_id FROM assignments WHERE sub=? AND target_id=?{lag} ORDER BY seq DESC", (sub, target_id)
        ).fetchall()
        return [r[0] for r in rows]

    def unassign(self, job_id: str, sub: str, target_id: str) -> bool:
        cursor = self.db.execute(
            "DELETE FROM assignments WHERE job_id=? AND sub=? AND target_id=?", (job_id, sub, target_id)
        )
        return cursor.rowcount > 0

    def add_time_entry(self, entry: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO time_entries VALUES(?,?,?,?,?)",
            (entry["ID"], entry["JobID"], entry["TaskID"], entry["UserID"], json.dumps(entry)),
        )

    def has_history(self, record_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM time_entries WHERE job_id=? OR task_id=? OR user_id=? LIMIT 1",
            (record_id, record_id, record_id),
        ).fetchone()
        return row is not None

    def time_entries(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT data FROM time_entries ORDER BY id")]

    def clear(self) -> None:
        self.db.executescript(
            "DELETE FROM records; DELETE FROM assignments; DELETE FROM time_entries; DELETE FROM settings;"
        )

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
