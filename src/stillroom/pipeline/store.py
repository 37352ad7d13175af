"""The SQLite file behind a pipeline's cache and checkpoints, plus its request journal.

One database per pipeline name (`cache.sqlite`, WAL mode) holds:

- `requests`: finished LLM replies by request key (see `requests.py`), shared by every run of
  the pipeline, so a rerun or a resume never pays twice for a request;
- `seen`: per run and step, how often each request content occurred (duplicate prompts get
  distinct replies); the counts a checkpoint makes permanent are summed in memory as units
  finish and written by its commit, one row per content, not one upsert per unit;
- `runs` and `batches`: the last checkpoint of each run (scalar state, and the batches that
  were in flight), keyed by the pipeline signature.

Writes accumulate in one open transaction that the engine commits at each checkpoint, so a
commit is never per row. A reply finished between two commits would be lost if the process
were killed, so each one is also appended to a journal file with a single `write` (which
survives the process dying), the replies of one batched request (an embeddings request's
texts) with one `write` for them all; the journal is emptied after each commit and replayed
into the database when the pipeline next opens it (`journal_records.py` holds its format).

A write that fails (a full disk, a lost mount, a permission) raises `StorageError` and leaves
the store failed: every later write raises the same error, and the engine, which watches
`failure`, stops the run. Nothing is written after a failed write, so the last commit stays
a consistent checkpoint to resume from.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stillroom.errors import DamagedCacheError, StorageError
from stillroom.pipeline.journal_records import journal_block, journal_entry, parse_journal

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
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    signature TEXT NOT NULL, location TEXT NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (signature, location, id)
) WITHOUT ROWID;
"""

_JOURNAL_GLOB = "journal-*.log"
_INSERT = "INSERT OR IGNORE INTO requests VALUES (?, ?)"
_ADD_REQUESTS = "UPDATE meta SET value = value + ? WHERE name = 'requests'"
_COUNT = "SELECT count(*) FROM requests"
_STATE_FILE = "cache-state.json"
"""Beside the database: its counters as of the last commit, to notice a lost commit."""

logger = logging.getLogger("stillroom.pipeline")


def try_lock(fd: int) -> bool:
    """Take an exclusive advisory lock on an open file without waiting."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class SQLiteStore:
    """Thread-safe access to one pipeline's cache database and its request journal."""

    def __init__(self, directory: Path, strict: bool = False) -> None:
        self.directory = directory
        self.path = directory / "cache.sqlite"
        self.lock = threading.RLock()
        self.failure: StorageError | None = None
        """The first write that failed; once set, every write raises it again."""
        self.problems: list[str] = []
        """What was found lost or damaged on opening (see `check`)."""
        self._journal_fd: int | None = None
        self._journal_path: Path | None = None
        self._unsaved: dict[bytes, str] = {}
        """Replies journaled since the last commit, inserted into the database by `commit`
        (one `executemany` a checkpoint, not one INSERT a reply)."""
        self._uncounted: dict[tuple[str, str], dict[bytes, int]] = {}
        """Duplicate counts added since the last commit, per (run, step), written by `commit`;
        `seen_count` and `each_seen` read them with the table's."""
        with self._guarded("the request cache", self.path):
            directory.mkdir(parents=True, exist_ok=True)
            self._conn = self._open_checked(strict)
        self.replay_journals()
        if self.problems:
            if strict:
                self.close()
                raise self._refusal()
            logger.warning("%s. Run with strict_cache=True to stop instead.", self._report())
        with self._guarded("the request cache", self.path):
            self._write_state()

    # --- opening and checking ---------------------------------------------------------------

    def _open_checked(self, strict: bool) -> sqlite3.Connection:
        """Open the database, checked with SQLite's `quick_check` and against the counters
        its last commit recorded beside it (which tell a lost `-wal` file or an older copy
        put back). Findings go to `problems`; a database that fails the check is moved
        aside and a new one started, unless `strict` (then nothing is touched)."""
        expected = self._read_state()
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        if verdict == "ok" and conn is not None:
            commits, requests = self._counters(conn)
            if expected and commits < expected["commits"]:
                self.problems.append(
                    f"{self.path} is older than its last commit (commit {commits} of "
                    f"{expected['commits']}: its -wal file was deleted, or an older copy "
                    f"restored): {max(expected['requests'] - requests, 0)} cached replies "
                    "are lost and those requests may be sent again"
                )
            return conn
        if conn is not None:
            conn.close()
        lost = f"up to {expected['requests']}" if expected else "every one of its"
        self.problems.append(
            f"{self.path} failed SQLite's integrity check ({verdict}): {lost} cached replies "
            "are lost and those requests may be sent again"
        )
        if strict:
            raise self._refusal()
        moved = self.path.with_name(f"cache.damaged-{int(time.time())}.sqlite")
        for suffix in ("", "-wal", "-shm"):
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                os.replace(source, moved.with_name(moved.name + suffix))
        self.problems[-1] += f"; it was moved to {moved} and a new cache started"
        return self._connect()

    def _report(self) -> str:
        return "; ".join(self.problems)

    def _refusal(self) -> DamagedCacheError:
        return DamagedCacheError(
            f"The request cache of this pipeline is damaged: {self._report()}. Nothing was "
            "sent. Run without strict_cache (--strict-cache) to go on with what is left, or "
            f"restore {self.directory} from a backup."
        )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        if conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0:  # new, or older
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("commits", 0), ("requests", conn.execute(_COUNT).fetchone()[0])],
            )
            conn.commit()
        return conn

    @staticmethod
    def _counters(conn: sqlite3.Connection) -> tuple[int, int]:
        """(commits, cached replies) as the database records them."""
        values = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        return values["commits"], values["requests"]

    def _state_path(self) -> Path:
        return self.directory / _STATE_FILE

    def _read_state(self) -> dict[str, int] | None:
        try:
            state = json.loads(self._state_path().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self.problems.append(f"{self._state_path()} could not be read ({exc})")
            return None
        return state if isinstance(state, dict) else None

    def _write_state(self) -> None:
        """Record the database's counters beside it, after each commit (atomically)."""
        commits, requests = self._counters(self._conn)
        temporary = self._state_path().with_suffix(".tmp")
        temporary.write_text(json.dumps({"commits": commits, "requests": requests}))
        os.replace(temporary, self._state_path())

    def _guarded(self, what: str, path: Path) -> _Guard:
        """Turn an OS or SQLite error into a `StorageError` and keep it as the store's
        failure; refuse to write at all once a write has failed."""
        return _Guard(self, what, path)

    # --- request cache ---------------------------------------------------------------------

    def get_request(self, key: bytes) -> dict[str, Any] | None:
        with self._guarded("the request cache", self.path):
            text = self._unsaved.get(key)
            if text is None:
                row = self._conn.execute(
                    "SELECT value FROM requests WHERE key = ?", (key,)
                ).fetchone()
                text = row[0] if row else None
        return json.loads(text) if text is not None else None

    def put_request(self, key: bytes, value: dict[str, Any]) -> bool:
        """Cache a finished reply; False when it cannot be stored as JSON."""
        entry = journal_entry(key, value)
        if entry is None:
            return False
        # Both under the one lock, so that no commit empties the journal in between.
        with self._guarded("the request journal", self.directory):
            self._write_journal(entry[0])
            self._unsaved[key] = entry[1]
        return True

    def put_requests(self, items: list[tuple[bytes, dict[str, Any]]]) -> list[bool]:
        """Cache the finished replies of one request to a model, journaled with one `write`
        (`journal_records`); for each, False when it cannot be stored as JSON."""
        block, written, stored = journal_block(items)
        if written:
            with self._guarded("the request journal", self.directory):
                self._write_journal(block)
                self._unsaved.update(written)
        return stored

    def _write_journal(self, record: bytes) -> None:
        """Append records with a single `write` (first: it is what survives a kill)."""
        if self._journal_fd is None:
            self._journal_path = self.directory / f"journal-{uuid.uuid4().hex}.log"
            fd = os.open(self._journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try_lock(fd)
            self._journal_fd = fd
        written = os.write(self._journal_fd, record)
        if written != len(record):  # a full disk may take part of it
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self._journal_path))

    def replay_journals(self) -> int:
        """Move replies left in journals of dead processes into the database; count them.

        A journal line that cannot be read back (not a torn last line) is reported in
        `problems`: its reply is lost and that request may be sent again."""
        count = 0
        with self._guarded("the request journal", self.directory):
            for path in sorted(self.directory.glob(_JOURNAL_GLOB)):
                if path == self._journal_path:
                    continue
                fd = os.open(path, os.O_RDONLY)
                try:
                    if not try_lock(fd):  # a live process still writes it
                        continue
                    with os.fdopen(os.dup(fd), "rb") as handle:
                        data = handle.read()
                    rows, unreadable = parse_journal(data)
                    if unreadable:
                        self.problems.append(
                            f"{unreadable} line(s) of the request journal {path} could not be "
                            "read; those replies are lost and their requests may be sent again"
                        )
                    inserted = self._conn.executemany(_INSERT, rows).rowcount
                    self._conn.execute(_ADD_REQUESTS, (max(inserted, 0),))
                    self._conn.commit()
                    path.unlink()
                    count += len(rows)
                finally:
                    os.close(fd)
        return count

    # --- duplicate counting -----------------------------------------------------------------

    def seen_count(self, run: str, step: str, digest: bytes) -> int:
        with self._guarded("the request cache", self.path):
            row = self._conn.execute(
                "SELECT n FROM seen WHERE run = ? AND step = ? AND hash = ?", (run, step, digest)
            ).fetchone()
            uncounted = self._uncounted.get((run, step))
            added = uncounted.get(digest, 0) if uncounted else 0
        return (row[0] if row else 0) + added

    def each_seen(self, run: str, step: str, add: Callable[[bytes], None]) -> None:
        """Call `add` with every request content counted for `run` and `step` (committed or
        not; one counted on both sides of the last commit comes twice), reading them in
        chunks rather than all at once."""
        with self._guarded("the request cache", self.path):
            cursor = self._conn.execute(
                "SELECT hash FROM seen WHERE run = ? AND step = ?", (run, step)
            )
            while chunk := cursor.fetchmany(4096):
                for (digest,) in chunk:
                    add(digest)
            for digest in self._uncounted.get((run, step), ()):
                add(digest)

    def add_seen(self, run: str, step: str, digests: Iterable[bytes]) -> None:
        """Count one more occurrence of each content, written to `seen` by the next commit."""
        with self._guarded("the request cache", self.path):
            counts = self._uncounted.get((run, step))
            if counts is None:
                counts = self._uncounted[(run, step)] = {}
            for digest in digests:
                counts[digest] = counts.get(digest, 0) + 1

    def _write_seen(self) -> None:
        """Add the counts summed since the last commit to the `seen` table."""
        if not self._uncounted:
            return
        self._conn.executemany(
            "INSERT INTO seen VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run, step, hash) DO UPDATE SET n = n + excluded.n",
            (
                (run, step, digest, n)
                for (run, step), counts in self._uncounted.items()
                for digest, n in counts.items()
            ),
        )
        self._uncounted = {}

    # --- checkpoints ------------------------------------------------------------------------

    def load_run(self, signature: str) -> tuple[str, bytes | None, list[tuple[str, int, bytes]]]:
        """(status, state, [(location, batch id, data)]) of a run; status "" when unknown."""
        with self._guarded("the checkpoint", self.path):
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
        with self._guarded("the checkpoint", self.path):
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
        with self._guarded("the checkpoint", self.path):
            self._conn.execute("DELETE FROM batches WHERE signature = ?", (signature,))
            if run is not None:
                self._conn.execute("DELETE FROM seen WHERE run = ?", (run,))
                for counted in [counted for counted in self._uncounted if counted[0] == run]:
                    del self._uncounted[counted]

    def commit(self) -> None:
        """Make everything written so far durable, then empty the journal it supersedes."""
        with self._guarded("the request cache", self.path):
            self._insert_unsaved()
            self._write_seen()
            self._conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'commits'")
            self._conn.commit()
            self._write_state()
        if self._journal_fd is not None:
            with self._guarded("the request journal", self._journal_path or self.directory):
                os.ftruncate(self._journal_fd, 0)

    def _insert_unsaved(self) -> None:
        """Put the replies journaled since the last commit into the database (a reply for a
        key already there, sent again with the cache not read, replaces it)."""
        if not self._unsaved:
            return
        # In key order: the keys are hashes, so in arrival order each insert lands on a
        # random page of the table's B-tree; sorted, neighbours share pages (about a fifth
        # less CPU per reply at a few thousand replies a commit).
        rows = sorted(self._unsaved.items())
        inserted = self._conn.executemany(_INSERT, rows).rowcount
        if inserted < len(rows):
            self._conn.executemany(
                "UPDATE requests SET value = ? WHERE key = ?", [(t, k) for k, t in rows]
            )
        self._conn.execute(_ADD_REQUESTS, (inserted,))
        self._unsaved = {}

    def close(self) -> None:
        """Close the database, dropping writes no checkpoint committed (the journal keeps
        the replies among them, and is replayed next time; an empty journal is removed).

        Runs after a failed write too; an error closing is raised only when no earlier
        failure already explains it."""
        with self.lock:
            self._uncounted = {}
            try:
                self._conn.rollback()
                self._conn.close()
                if self._journal_fd is not None:
                    fd, self._journal_fd = self._journal_fd, None
                    empty = os.fstat(fd).st_size == 0
                    os.close(fd)
                    if empty and self._journal_path is not None:
                        self._journal_path.unlink()
            except (OSError, sqlite3.Error) as exc:
                if self.failure is None:
                    raise StorageError("the request cache", self.path, exc) from exc


class _Guard:
    """`SQLiteStore._guarded`: a plain class, since it runs for every request (a generator
    context manager cost several times as much)."""

    __slots__ = ("path", "store", "what")

    def __init__(self, store: SQLiteStore, what: str, path: Path) -> None:
        self.store, self.what, self.path = store, what, path

    def __enter__(self) -> None:
        self.store.lock.acquire()
        if self.store.failure is not None:
            self.store.lock.release()
            raise self.store.failure

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        try:
            if isinstance(exc, (OSError, sqlite3.Error)):
                self.store.failure = StorageError(self.what, self.path, exc)
                raise self.store.failure from exc
        finally:
            self.store.lock.release()
