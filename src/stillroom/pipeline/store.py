"""The SQLite file behind a pipeline's cache and checkpoints, plus its request journal.

One database per pipeline name (`cache.sqlite`, WAL mode) holds:

- `requests`: finished LLM replies by request key (see `requests.py`), shared by every run of
  the pipeline, so a rerun or a resume never pays twice for a request;
- `seen`: per run and step, how often each request content occurred (duplicate prompts get
  distinct replies);
- `runs` and `batches`: the last checkpoint of each run (scalar state, and the batches that
  were in flight), keyed by the pipeline signature.

Writes accumulate in one open transaction that the engine commits at each checkpoint, so a
commit is never per row. A reply finished between two commits would be lost if the process
were killed, so each one is also appended to a journal file with a single `write` (which
survives the process dying); the journal is emptied after each commit and replayed into the
database when the pipeline next opens it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (key BLOB PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (
    run TEXT NOT NULL, step TEXT NOT NULL, hash BLOB NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (run, step, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    signature TEXT PRIMARY KEY, status TEXT NOT NULL, state BLOB, updated REAL
);
CREATE TABLE IF NOT EXISTS batches (
    signature TEXT NOT NULL, location TEXT NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (signature, location, id)
) WITHOUT ROWID;
"""

_JOURNAL_GLOB = "journal-*.log"


def try_lock(fd: int) -> bool:
    """Take an exclusive advisory lock on an open file without waiting."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class Store:
    """Thread-safe access to one pipeline's cache database and its request journal."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(
            directory / "cache.sqlite", check_same_thread=False, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._journal_fd: int | None = None
        self._journal_path: Path | None = None
        self.replay_journals()

    # --- request cache ---------------------------------------------------------------------

    def get_request(self, key: bytes) -> dict[str, Any] | None:
        with self.lock:
            row = self._conn.execute("SELECT value FROM requests WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_request(self, key: bytes, value: dict[str, Any]) -> bool:
        """Cache a finished reply; False when it cannot be stored as JSON."""
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            return False
        record = f"{key.hex()}\t{text}\n".encode()
        with self.lock:
            os.write(self._journal(), record)  # first: it is what survives a kill
            self._conn.execute("INSERT OR REPLACE INTO requests VALUES (?, ?)", (key, text))
        return True

    def _journal(self) -> int:
        if self._journal_fd is None:
            self._journal_path = self.directory / f"journal-{uuid.uuid4().hex}.log"
            fd = os.open(self._journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try_lock(fd)
            self._journal_fd = fd
        return self._journal_fd

    def replay_journals(self) -> int:
        """Move replies left in journals of dead processes into the database; count them."""
        count = 0
        with self.lock:
            for path in sorted(self.directory.glob(_JOURNAL_GLOB)):
                if path == self._journal_path:
                    continue
                try:
                    fd = os.open(path, os.O_RDONLY)
                except OSError:
                    continue
                try:
                    if not try_lock(fd):  # a live process still writes it
                        continue
                    with os.fdopen(os.dup(fd), "rb") as handle:
                        data = handle.read()
                    rows = list(_parse_journal(data))
                    self._conn.executemany("INSERT OR REPLACE INTO requests VALUES (?, ?)", rows)
                    self._conn.commit()
                    path.unlink()
                    count += len(rows)
                finally:
                    os.close(fd)
        return count

    # --- duplicate counting -----------------------------------------------------------------

    def seen_count(self, run: str, step: str, digest: bytes) -> int:
        with self.lock:
            row = self._conn.execute(
                "SELECT n FROM seen WHERE run = ? AND step = ? AND hash = ?", (run, step, digest)
            ).fetchone()
        return row[0] if row else 0

    def add_seen(self, run: str, step: str, digests: Iterable[bytes]) -> None:
        with self.lock:
            self._conn.executemany(
                "INSERT INTO seen VALUES (?, ?, ?, 1) "
                "ON CONFLICT (run, step, hash) DO UPDATE SET n = n + 1",
                ((run, step, d) for d in digests),
            )

    # --- checkpoints ------------------------------------------------------------------------

    def load_run(self, signature: str) -> tuple[str, bytes | None, list[tuple[str, int, bytes]]]:
        """(status, state, [(location, batch id, data)]) of a run; status "" when unknown."""
        with self.lock:
            row = self._conn.execute(
                "SELECT status, state FROM runs WHERE signature = ?", (signature,)
            ).fetchone()
            if row is None:
                return "", None, []
            batches = self._conn.execute(
                "SELECT location, id, data FROM batches WHERE signature = ? ORDER BY id",
                (signature,),
            ).fetchall()
        return row[0], row[1], batches

    def save_run(
        self,
        signature: str,
        status: str,
        state: bytes,
        added: list[tuple[str, int, bytes]],
        removed: Iterable[tuple[str, int]],
        updated: float,
    ) -> None:
        with self.lock:
            self._conn.executemany(
                "DELETE FROM batches WHERE signature = ? AND location = ? AND id = ?",
                ((signature, loc, bid) for loc, bid in removed),
            )
            self._conn.executemany(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?)",
                ((signature, loc, bid, data) for loc, bid, data in added),
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                (signature, status, state, updated),
            )

    def clear_run(self, signature: str, run: str | None = None) -> None:
        """Forget a run's in-flight batches (and its duplicate counts when `run` is given)."""
        with self.lock:
            self._conn.execute("DELETE FROM batches WHERE signature = ?", (signature,))
            if run is not None:
                self._conn.execute("DELETE FROM seen WHERE run = ?", (run,))

    def commit(self) -> None:
        """Make everything written so far durable, then empty the journal it supersedes."""
        with self.lock:
            self._conn.commit()
            if self._journal_fd is not None:
                os.ftruncate(self._journal_fd, 0)

    def close(self) -> None:
        """Close the database, dropping writes no checkpoint committed (the journal keeps
        the replies among them, and is replayed next time; an empty journal is removed)."""
        with self.lock:
            self._conn.rollback()
            self._conn.close()
            if self._journal_fd is not None:
                empty = os.fstat(self._journal_fd).st_size == 0
                os.close(self._journal_fd)
                self._journal_fd = None
                if empty and self._journal_path is not None:
                    with contextlib.suppress(OSError):
                        self._journal_path.unlink()


def _parse_journal(data: bytes) -> Iterable[tuple[bytes, str]]:
    for line in data.split(b"\n"):
        key_hex, sep, value = line.partition(b"\t")
        if not sep:
            continue  # empty or torn last line
        try:
            key = bytes.fromhex(key_hex.decode("ascii"))
            text = value.decode("utf-8")
            json.loads(text)
        except ValueError:
            continue
        yield key, text
