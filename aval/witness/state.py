"""What a witness remembers: per origin, the latest checkpoint it cosigned (SQLite, atomic)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "witness.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
    origin     TEXT PRIMARY KEY,
    tree_size  INTEGER NOT NULL,
    root_hash  BLOB NOT NULL,
    note       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    origin      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    request     BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Latest:
    """The latest checkpoint cosigned for an origin."""

    tree_size: int
    root_hash: bytes


def state_file(path: Path) -> Path:
    """The SQLite file of `--state`: the path itself, or `witness.sqlite3` in a folder."""
    return path / FILE_NAME if path.is_dir() else path


class WitnessState:
    """The witness's memory. Each `checking` block holds SQLite's write lock from its start,
    so that reading the latest size and recording the next one are one atomic step, also
    across processes sharing the file (tlog-witness, the race of "add-checkpoint")."""

    def __init__(self, path: Path) -> None:
        self.path = state_file(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @contextmanager
    def checking(self) -> Iterator[Transaction]:
        """A write transaction; committed when the block ends, rolled back on an exception."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def latest(self, origin: str) -> Latest | None:
        """The latest checkpoint cosigned for an origin, outside any transaction."""
        conn = self._connect()
        try:
            return Transaction(conn).latest(origin)
        finally:
            conn.close()

    def refusals(self) -> list[tuple[str, int, str]]:
        """Every refusal recorded: (origin, HTTP status, reason), oldest first."""
        conn = self._connect()
        try:
            rows = conn.execute("SELECT origin, status, reason FROM refused ORDER BY id")
            return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]
        finally:
            conn.close()


class Transaction:
    """Reads and writes inside one `WitnessState.checking` block."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def latest(self, origin: str) -> Latest | None:
        """The latest checkpoint cosigned for an origin, or None."""
        row = self._conn.execute(
            "SELECT tree_size, root_hash FROM latest WHERE origin = ?", (origin,)
        ).fetchone()
        return None if row is None else Latest(int(row[0]), bytes(row[1]))

    def record(self, origin: str, tree_size: int, root_hash: bytes, note: bytes, now: int) -> None:
        """Records the checkpoint about to be cosigned as the origin's latest."""
        self._conn.execute(
            "INSERT INTO latest (origin, tree_size, root_hash, note, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET"
            " tree_size = excluded.tree_size, root_hash = excluded.root_hash,"
            " note = excluded.note, updated_at = excluded.updated_at",
            (origin, tree_size, root_hash, note, now),
        )

    def refuse(self, origin: str, status: int, reason: str, request: bytes, now: int) -> None:
        """Keeps a refused request of a known log as evidence (a possible split view)."""
        self._conn.execute(
            "INSERT INTO refused (origin, status, reason, request, received_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (origin, status, reason, request, now),
        )
