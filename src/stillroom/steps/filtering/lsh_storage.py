"""The `storage="disk"` backend of `MinHashDedup`: datasketch's LSH tables in one SQLite file.

datasketch's `MinHashLSH` keeps its tables in memory (or in Redis or Cassandra). For inputs
whose index does not fit in memory, `SqliteTables` gives it the same tables on disk: each band's
hash table (band hash -> keys of the documents in that bucket) and the key table (key -> its
band hashes) become rows of one SQLite table, in a private temporary directory removed by
`close()`. Only the two calls `MinHashLSH.insert` and `MinHashLSH.query` make are provided:
`insert(key, *values, buffer=False)` and `get(key)`.

The connection may be used from another thread than the one that opened it (engines run a
step's `load` and `process` on different threads), but never from two at once.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any


class SqliteTable:
    """One of the LSH's multimaps (a key to the list of its values), stored in `SqliteTables`."""

    def __init__(self, db: sqlite3.Connection, table: int) -> None:
        self._db = db
        self._table = table

    def get(self, key: object) -> list[Any]:
        rows = self._db.execute(
            "SELECT value FROM entries WHERE tbl = ? AND key = ?", (self._table, key)
        )
        return [value for (value,) in rows]

    def insert(self, key: object, *values: object, buffer: bool = False) -> None:
        self._db.executemany(
            "INSERT INTO entries VALUES (?, ?, ?)", [(self._table, key, v) for v in values]
        )


class SqliteTables:
    """A temporary SQLite file holding the band tables and the key table of one `MinHashLSH`."""

    def __init__(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="stillroom-minhash-")
        self._db = sqlite3.connect(Path(self._directory) / "lsh.sqlite", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE entries (tbl INTEGER, key, value)")
        self._db.execute("CREATE INDEX by_key ON entries (tbl, key)")

    @property
    def directory(self) -> Path:
        return Path(self._directory)

    def attach(self, lsh: Any) -> None:
        """Give an empty `datasketch.MinHashLSH` these tables instead of its in-memory ones."""
        lsh.hashtables = [SqliteTable(self._db, band) for band in range(len(lsh.hashtables))]
        lsh.keys = SqliteTable(self._db, -1)

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._directory, ignore_errors=True)
