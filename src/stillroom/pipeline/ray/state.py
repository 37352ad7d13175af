"""Where a Ray run keeps its state: a directory or object-store prefix given as a URL.

A cluster has no shared SQLite file (SQLite cannot be shared over NFS, and an object store
has no files to lock), so a Ray run keeps its state as files that are only ever written
whole or appended to by one writer:

    <root>/requests/<step>/<writer>-<part>.log     replies, "hex key<TAB>json" lines (journal.py)
    <root>/runs/<signature>/checkpoint.pkl     the last checkpoint, replaced atomically
    <root>/runs/<signature>/ledger/<run>-<n>.pkl   request contents each checkpoint consumed

Every replica of a task writes its own reply segments (one writer each); the driver alone
writes checkpoints and ledger segments. A checkpoint names how many ledger segments it
covers, and is written after them: a segment written by a checkpoint that never landed is
ignored (and removed) by the next run, so the counts that key requests (requests.py) are
exactly those of the units the checkpoint records. A local or NFS directory is written with
a temporary file and a rename; an object store (`s3://`, `gs://`) with one put per object,
which is atomic there. `fsspec` resolves the URL; `s3://` needs `s3fs`, `gs://` `gcsfs`.

Checkpoints and ledgers are pickled with `utils/safe_pickle.py`: a shared directory or bucket
may be writable by others, and its loader refuses any class outside the data types a run's
state holds, so reading them back never runs code.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stillroom.errors import MissingExtraError, StorageError
from stillroom.utils import safe_pickle

logger = logging.getLogger("stillroom.pipeline")

_LOCAL = ("file", "local")


class StateRoot:
    """A URL (or local path) and its fsspec file system: whole-object reads and writes."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        """fsspec's storage options (an endpoint, credentials): handed to the replicas, never
        logged."""
        try:
            import fsspec
            from fsspec.core import url_to_fs
        except ImportError as exc:  # pragma: no cover - fsspec comes with the [ray] extra
            raise MissingExtraError("Ray state on a URL", "ray", "fsspec") from exc
        del fsspec
        try:
            self.fs, path = url_to_fs(url, **self.options)
        except ImportError as exc:  # e.g. s3fs for s3://
            raise MissingExtraError(f"Ray state at {url}", "ray", str(exc.name or exc)) from exc
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = any(p in _LOCAL for p in protocols)
        self.url = url
        self.path = str(Path(path).resolve()) if self.local else path.rstrip("/")

    def join(self, *parts: str) -> str:
        return "/".join((self.path, *parts))

    def write(self, path: str, data: bytes) -> None:
        """Write `path` whole and atomically: a temporary file renamed over it on a local
        or NFS directory, one put on an object store."""
        if self.local:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            temporary = f"{path}.{uuid.uuid4().hex}.tmp"
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, path)
        else:
            self.fs.pipe_file(path, data)

    def read(self, path: str) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return data

    def listing(self, path: str) -> list[str]:
        """The objects directly under `path` (none when it does not exist), sorted."""
        try:
            names = self.fs.ls(path, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return sorted(str(name) for name in names if not str(name).endswith(".tmp"))

    def remove(self, paths: Iterable[str]) -> None:
        """Remove `paths` (those already gone too): on an object store in bulk (S3 deletes
        up to 1000 keys a request), else one by one."""
        paths = list(paths)
        if not paths:
            return
        if not self.local:
            try:
                self.fs.rm(paths)
                return
            except FileNotFoundError:  # a store whose bulk removal checks each path first
                pass
        for path in paths:
            with contextlib.suppress(FileNotFoundError):  # removed already: what was asked
                self.fs.rm_file(path)


def _ledger_number(path: str, run: str) -> int | None:
    match = re.search(rf"/{re.escape(run)}-(\d+)\.pkl$", path)
    return int(match.group(1)) if match else None


class RayStore:
    """The driver's `Store` on a Ray cluster: checkpoints and request ledgers under a URL.

    The engine calls `save_run` then `commit` for each checkpoint; `consume` gathers the
    request contents of the units recorded since the last one. `commit` writes them as one
    ledger segment, then the checkpoint that names it."""

    def __init__(
        self, url: str, sqlite_path: str | None = None, options: dict[str, Any] | None = None
    ) -> None:
        self.root = StateRoot(url, options)
        self.sqlite_path = sqlite_path
        self.failure: StorageError | None = None
        self.run_id: str | None = None
        self._signature: str | None = None
        self._checkpoint: dict[str, Any] | None = None
        self._batches: dict[tuple[str, int], bytes] = {}
        self._consumed: dict[str, list[bytes]] = {}
        self._ledgers = 0
        with self._guarded("the Ray state", url):
            self.root.fs.makedirs(self.root.join("requests"), exist_ok=True)

    def _guarded(self, what: str, path: str) -> _Guard:
        return _Guard(self, what, path)

    def _run_path(self, signature: str, *parts: str) -> str:
        return self.root.join("runs", signature, *parts)

    def checkpoint_path(self, signature: str) -> str:
        """The checkpoint's path (named in errors about what it holds)."""
        return self._run_path(signature, "checkpoint.pkl")

    def load_run(self, signature: str) -> tuple[str, bytes | None, list[tuple[str, int, bytes]]]:
        """(status, state, [(location, batch id, data)]) of the run's checkpoint."""
        self._signature = signature
        with self._guarded("the checkpoint", self._run_path(signature)):
            raw = self.root.read(self.checkpoint_path(signature))
        if raw is None and self.sqlite_path is not None:
            raw = self._import_local_run(signature)
        if raw is None:
            return "", None, []
        saved = safe_pickle.loads(raw, self.checkpoint_path(signature))
        self._checkpoint = saved
        self._batches = dict(saved["batches"])
        self._ledgers = saved["ledgers"]
        batches = [(loc, bid, data) for (loc, bid), data in sorted(self._batches.items())]
        return saved["status"], saved["state"], batches

    def _import_local_run(self, signature: str) -> bytes | None:
        """A checkpoint the local engine left in its SQLite cache, as this store's (its
        request counts as the first ledger segment), so a local run resumes on Ray."""
        import sqlite3

        assert self.sqlite_path is not None
        conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT status, state, updated FROM runs WHERE signature = ?", (signature,)
            ).fetchone()
            if row is None or row[1] is None:
                return None
            source = f"the checkpoint of pipeline {signature} in {self.sqlite_path}"
            run = safe_pickle.loads(row[1], source).get("run_id")
            batches = conn.execute(
                "SELECT location, id, data FROM batches WHERE signature = ?", (signature,)
            ).fetchall()
            consumed: dict[str, list[bytes]] = {}
            for step, digest, count in conn.execute(
                "SELECT step, hash, n FROM seen WHERE run = ?", (run,)
            ):
                consumed.setdefault(step, []).extend([digest] * count)
        finally:
            conn.close()
        path = self._run_path(signature, "ledger", f"{run}-{0:08d}.pkl")
        with self._guarded("the request ledger", path):
            self.root.write(path, safe_pickle.dumps(consumed))
        saved = {
            "status": row[0],
            "state": row[1],
            "updated": row[2],
            "run": run,
            "batches": {(loc, bid): data for loc, bid, data in batches},
            "ledgers": 1,
        }
        return safe_pickle.dumps(saved)

    def begin(self, run_id: str) -> None:
        """The run the next checkpoints belong to; removes ledger segments of that run that
        no checkpoint covers (written by a driver that died before its checkpoint landed)."""
        if self._checkpoint is None or self._checkpoint.get("run") != run_id:
            self._ledgers = 0
        self.run_id = run_id
        orphans = [
            path
            for path in self._ledger_paths(run_id)
            if (_ledger_number(path, run_id) or 0) >= self._ledgers
        ]
        with self._guarded("the request ledger", self._ledger_dir()):
            self.root.remove(orphans)

    def _ledger_dir(self) -> str:
        assert self._signature is not None
        return self._run_path(self._signature, "ledger")

    def _ledger_paths(self, run: str) -> list[str]:
        return [
            path
            for path in self.root.listing(self._ledger_dir())
            if _ledger_number(path, run) is not None
        ]

    def committed_ledgers(self) -> list[str]:
        """The ledger segments the last checkpoint covers (what replicas count from)."""
        assert self.run_id is not None
        return [
            path
            for path in self._ledger_paths(self.run_id)
            if (_ledger_number(path, self.run_id) or 0) < self._ledgers
        ]

    def consume(self, step: str, hashes: list[bytes]) -> None:
        """Count a finished unit's requests as done, with the next checkpoint."""
        self._consumed.setdefault(step, []).extend(hashes)

    def save_run(
        self,
        signature: str,
        status: str,
        state: bytes,
        added: list[tuple[str, int, bytes]],
        removed: Iterable[tuple[str, int]],
        updated: float,
    ) -> None:
        self._signature = signature
        for location, batch_id in removed:
            self._batches.pop((location, batch_id), None)
        for location, batch_id, data in added:
            self._batches[(location, batch_id)] = data
        self._checkpoint = {
            "status": status,
            "state": state,
            "updated": updated,
            "run": self.run_id,
        }

    def clear_run(self, signature: str, run: str | None = None) -> None:
        """Forget the run's in-flight batches (and its ledger when `run` is given)."""
        self._signature = signature
        self._batches = {}
        if run is not None:
            with self._guarded("the request ledger", self._ledger_dir()):
                self.root.remove(self._ledger_paths(run))
            self._consumed = {}
            self._ledgers = 0

    def commit(self) -> None:
        """Write the consumed counts as a ledger segment, then the checkpoint covering it."""
        if self._checkpoint is None or self._signature is None:
            return
        if self._consumed and self.run_id is not None:
            path = self.root.join(
                "runs", self._signature, "ledger", f"{self.run_id}-{self._ledgers:08d}.pkl"
            )
            with self._guarded("the request ledger", path):
                self.root.write(path, safe_pickle.dumps(self._consumed))
            self._consumed = {}
            self._ledgers += 1
        saved = {**self._checkpoint, "batches": self._batches, "ledgers": self._ledgers}
        path = self.checkpoint_path(self._signature)
        with self._guarded("the checkpoint", path):
            self.root.write(path, safe_pickle.dumps(saved))

    def close(self) -> None:
        """Nothing is held open: what no checkpoint committed is dropped, as locally."""


def read_counts(root: StateRoot, ledgers: list[str], step: str) -> dict[bytes, int]:
    """How often each request content of `step` occurred in the units the ledgers cover."""
    counts: dict[bytes, int] = {}
    for path in ledgers:
        raw = root.read(path)
        if raw is None:
            raise StorageError("the request ledger", path, FileNotFoundError(path))
        for content in safe_pickle.loads(raw, path).get(step, ()):
            counts[content] = counts.get(content, 0) + 1
    return counts


class _Guard:
    """An OS error while writing becomes the store's `StorageError`; none after a failure."""

    def __init__(self, store: RayStore, what: str, path: str) -> None:
        self.store, self.what, self.path = store, what, path

    def __enter__(self) -> None:
        if self.store.failure is not None:
            raise self.store.failure

    def __exit__(self, kind: Any, exc: BaseException | None, _: Any) -> None:
        if isinstance(exc, OSError):
            self.store.failure = StorageError(self.what, self.path, exc)
            raise self.store.failure from exc
