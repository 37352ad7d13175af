"""A replica's own request cache: the replies it can reuse and the journal it appends to.

Each replica of a task keys, looks up and records its requests itself, with the engine's
`RequestCache` (requests.py) over a `ReplicaJournal` instead of the SQLite store: no round
trip to any other process per request. At start the journal reads every reply segment under
`<root>/requests/` (those of earlier runs and of replicas that died), the pipeline's local
SQLite cache when there is one (replies a local run paid for), and the request counts the
run's committed ledgers give its step. A new reply is appended to the replica's own segment,
which no other process writes: on a local or NFS directory with one `write` per turn of the
replica's event loop, for the replies that arrived in it (what survives a kill), from a
thread at once (one `write` per reply, or per batched request: all the texts of an
embeddings request), on an object store as one new part per `flush_interval` and before each
unit's result goes back to the driver; one request's replies go into one write or part.

A task with several replicas asks its step's counter (`counter.py`) for each request's
occurrence: duplicates of one prompt may reach two replicas at once, and each occurrence
must get its own key; lookups and journaling stay in the replicas.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from stillroom.errors import DamagedCacheError
from stillroom.pipeline.journal_records import journal_block, journal_entry, parse_journal
from stillroom.pipeline.ray.state import StateRoot, read_counts
from stillroom.pipeline.requests import Ledger, RequestCache

logger = logging.getLogger("stillroom.pipeline")

FLUSH_INTERVAL = 1.0
"""Seconds between two parts of a replica's segment on an object store."""


def step_folder(step: str) -> str:
    """The folder of a step's reply segments (a step name made safe for any store)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", step)


def checked_sqlite(directory: Path, strict: bool) -> str | None:
    """The pipeline's local SQLite cache, if there is one that passes SQLite's check: a
    Ray run reads the replies a local run paid for (it never writes there). A damaged one
    raises `DamagedCacheError` when `strict`, else is left out with a warning."""
    path = directory / "cache.sqlite"
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    if verdict == "ok":
        return str(path)
    problem = (
        f"{path} failed SQLite's integrity check ({verdict}): the replies it holds are not "
        "reused, and those requests may be sent again"
    )
    if strict:
        raise DamagedCacheError(
            f"The request cache of this pipeline is damaged: {problem}. Nothing was sent. "
            "Run without strict_cache (--strict-cache) to go on without it, or restore "
            f"{directory} from a backup."
        )
    logger.warning("%s. Run with strict_cache=True to stop instead.", problem)
    return None


def read_replies(root: StateRoot, step: str, sqlite_path: str | None) -> dict[bytes, str]:
    """Every reply journaled for `step` under `root` (and every one of the local SQLite
    cache, when given, which does not say which step a reply is for)."""
    replies: dict[bytes, str] = {}
    if sqlite_path is not None and Path(sqlite_path).exists():
        conn = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        try:
            replies.update(conn.execute("SELECT key, value FROM requests"))
        finally:
            conn.close()
    for path in root.listing(root.join("requests", step_folder(step))):
        data = root.read(path)
        if data:
            replies.update(parse_journal(data)[0])
    return replies


class ReplicaJournal:
    """What `RequestCache` needs of a store, for one replica: replies and counts in memory,
    new replies appended to the replica's own segment."""

    def __init__(
        self,
        root: StateRoot,
        step: str,
        replies: dict[bytes, str],
        counts: dict[bytes, int],
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.root = root
        self._folder = root.join("requests", step_folder(step))
        self.lock = threading.RLock()
        self._replies = replies
        self._counts = counts
        self._writer = uuid.uuid4().hex
        self._part = 0
        self._buffer: list[bytes] = []
        self._flushed = time.monotonic()
        self._interval = flush_interval
        self._file: Any = None
        self._pending: list[bytes] = []
        """Replies of this turn of the event loop, written together at its end (local)."""
        self._scheduled: asyncio.AbstractEventLoop | None = None
        """The loop whose turn-end write is scheduled (None: none is)."""
        self._failure: BaseException | None = None
        """A turn-end write's error, raised by the next `flush` (a loop callback's error
        would only be logged, and the unit reported as saved)."""

    # the store calls RequestCache makes
    def get_request(self, key: bytes) -> dict[str, Any] | None:
        text = self._replies.get(key)
        return json.loads(text) if text is not None else None

    def put_request(self, key: bytes, value: dict[str, Any]) -> bool:
        entry = journal_entry(key, value)
        if entry is None:
            return False
        with self.lock:
            self._append(entry[0])
            self._replies[key] = entry[1]
        return True

    def put_requests(self, items: list[tuple[bytes, dict[str, Any]]]) -> list[bool]:
        """The replies of one request to a model, appended as one block: one `write` (or
        one part of an object store's segment) holds them all."""
        block, written, stored = journal_block(items)
        if written:
            with self.lock:
                self._append(block)
                self._replies.update(written)
        return stored

    def seen_count(self, run: str, step: str, digest: bytes) -> int:
        return self._counts.get(digest, 0)

    def each_seen(self, run: str, step: str, add: Any) -> None:
        for digest in self._counts:
            add(digest)

    def add_seen(self, run: str, step: str, digests: Any) -> None:
        for digest in digests:
            self._counts[digest] = self._counts.get(digest, 0) + 1

    # the segment
    def _append(self, records: bytes) -> None:
        """On a directory, the replies that arrive in one turn of the replica's event loop
        are written in one `write` as that turn ends (before any await: a kill keeps every
        reply of the turns before, as a `write` per reply did, at a third of the system
        calls at 0 ms); from a thread, at once. On an object store, buffered (`flush`).
        `records` (one reply's, or one request's) always go into one write or part."""
        if self.root.local:
            self._pending.append(records)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write_pending()
                return
            if self._scheduled is not loop:  # a write scheduled on a loop gone never runs
                self._scheduled = loop
                loop.call_soon(self._write_turn)
            return
        self._buffer.append(records)
        if time.monotonic() - self._flushed >= self._interval:
            self.flush()

    def _write_turn(self) -> None:
        """The turn-end callback: the turn's replies written, or the error kept for the
        unit's `flush` to raise (the replies stay pending, to be written again then)."""
        with self.lock:
            self._scheduled = None
            try:
                self._write_pending()
            except Exception as exc:
                self._failure = exc

    def _write_pending(self) -> None:
        """Write the pending replies; a failure leaves what was not written pending, so a
        retry completes a torn line rather than starting a new one after it."""
        with self.lock:
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if not self._pending:
                return
            if self._file is None:
                self.root.fs.makedirs(self._folder, exist_ok=True)
                path = f"{self._folder}/{self._writer}-0.log"
                self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - held for the replica's life
            left = b"".join(self._pending)
            try:
                while left:  # an unbuffered write may write part (a disk filling up)
                    left = left[self._file.write(left) :]
            finally:
                self._pending = [left] if left else []

    def flush(self) -> None:
        """Write this turn's replies (on a directory), or publish the buffered replies as a
        new part (on an object store); raises what a write failed with, the replies kept
        for the next try."""
        with self.lock:
            self._write_pending()
            self._flushed = time.monotonic()
            if not self._buffer:
                return
            path = f"{self._folder}/{self._writer}-{self._part}.log"
            self.root.write(path, b"".join(self._buffer))  # an object put: whole or not at all
            self._buffer = []
            self._part += 1

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


class CountedRequests(RequestCache):
    """A `RequestCache` whose occurrences come from the step's `StepCounter` actor
    (`counter.py`). On the
    row path the replica's requests that arrive while one call to the counter is out go
    together in the next (one call at a time per replica); the synchronous `generate` calls
    of a custom `process` (in a thread) wait for their own."""

    counter: Any = None
    _preset: bytes | None = None
    _waiting: list[tuple[bytes, str | None, asyncio.Future[int]]] | None = None
    _asking: asyncio.Future[None] | None = None

    def key(self, request: Any, ledger: Ledger | None) -> bytes:
        preset, self._preset = self._preset, None
        if preset is not None:  # `one` asked the counter already
            return preset
        import ray

        content = self.content(request)
        (occurrence,) = ray.get(self.counter.occurrences.remote([(content, _attempt(ledger))]))
        if ledger is not None:
            ledger.hashes.append(content)
        return self.occurrence_key(content, occurrence)

    async def one(self, request: Any, ledger: Ledger | None, send: Any) -> Any:
        content = self.content(request)
        occurrence = await self._occurrence(content, _attempt(ledger))
        if ledger is not None:
            ledger.hashes.append(content)
        # `RequestCache.one` calls `key` before its first await: nothing runs in between
        self._preset = self.occurrence_key(content, occurrence)
        return await super().one(request, None, send)

    async def _occurrence(self, content: bytes, attempt: str | None) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self._waiting is None:
            self._waiting = [(content, attempt, future)]
            self._asking = asyncio.ensure_future(self._ask())
        else:
            self._waiting.append((content, attempt, future))
        return await future

    async def _ask(self) -> None:
        """Send what waits to the counter, one call at a time, until nothing waits."""
        while self._waiting:
            waiting, self._waiting = self._waiting, []
            try:
                counted = await self.counter.occurrences.remote([(c, a) for c, a, _ in waiting])
            except Exception as exc:  # each request that waited raises it
                for _, _, future in waiting:
                    future.set_exception(exc)
            else:
                for (_, _, future), occurrence in zip(waiting, counted, strict=True):
                    future.set_result(occurrence)
        self._waiting = None


def _attempt(ledger: Ledger | None) -> str | None:
    return ledger.attempt if ledger is not None else None


def replica_cache(
    task: Any,
    run: str,
    read: bool,
    root: StateRoot,
    replies: dict[bytes, str],
    ledgers: list[str],
    returned: list[bytes],
    counter: Any,
    model: Any = None,
) -> RequestCache:
    """The replica's request cache: counts from the committed ledgers and the units the
    driver got back since (or from `counter`, shared by the step's replicas). With `model`
    (a step's embedding model), the requests are that model's, not a task's LLM's."""
    counts: dict[bytes, int] = {}
    if counter is None:
        counts = read_counts(root, ledgers, task.name)
        for content in returned:
            counts[content] = counts.get(content, 0) + 1
    journal = ReplicaJournal(root, task.name, replies, counts)
    cls = RequestCache if counter is None else CountedRequests
    cache = cls(journal, run, task, read, model=model)
    if counter is not None:
        cache.counter = counter  # type: ignore[attr-defined]
    return cache
