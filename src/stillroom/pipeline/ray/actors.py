"""The Ray actors a pipeline runs on: one per step replica, and the keeper of its cache.

`CacheKeeper` owns the pipeline's SQLite store (request cache, duplicate counts and
checkpoints) on the driver's machine, with the engine's own `Store` and `RequestCache`: it is
the one writer of the database, so the driver's checkpoints and the replicas' cached replies
commit in the same transactions as on the local engine. It opens the database by an absolute
path, so it does not matter what working directory Ray gives its workers.

`StepReplica` holds one copy of a step (rebuilt from its configuration, then `load()`ed) and
runs the same functions as the local engine on the rows it is sent: `execute_unit` for a
normal step, `execute_global` for a global step, a generator's batches, and for a task on
the row path (`uses_row_path`) `execute_rows`, which sends each row's request as soon as the
LLM has room, across every batch the replica holds, and returns each batch's rows in input
order. Its tasks send requests through `RelayedRequests`, which asks the keeper for cached
replies and records new ones there.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

from stillroom.errors import DamagedCacheError, StillroomError
from stillroom.pipeline.cached_llm import CachedLLM, cached_llm, swap_llm
from stillroom.pipeline.execution import (
    finish_rows,
    generator_batches,
    prepare_rows,
    process_row,
)
from stillroom.pipeline.ray.transfer import unpack
from stillroom.pipeline.requests import Ledger, RequestCache, RequestStats
from stillroom.pipeline.store import SQLiteStore
from stillroom.steps.tasks.base import Task, _Task, describe_error

if TYPE_CHECKING:
    from stillroom.steps.typing import Row

Reservation = tuple[bytes, bytes, Any]
"""(cache key, content hash, cached reply or None) of one request."""


# --- the cache keeper -----------------------------------------------------------------------


class CacheKeeper:
    """The pipeline's cache database, for the driver (checkpoints) and the replicas (replies)."""

    def __init__(self, directory: str, strict: bool = False) -> None:
        self.opening_error: Exception | None = None
        try:
            self.store = SQLiteStore(Path(directory), strict)
        except DamagedCacheError as exc:  # raised to the driver by `opened`
            self.opening_error = exc
        self.caches: dict[str, RequestCache] = {}
        # attempt -> (step, requests it reserved, keys still in flight): what to undo should
        # the replica running it die
        self._attempts: dict[str, tuple[str, list[bytes], set[bytes]]] = {}

    def opened(self) -> None:
        """Raise what opening the store raised (an actor's constructor cannot)."""
        if self.opening_error is not None:
            raise self.opening_error

    # checkpoints: the driver's `Store` calls, one for one
    def load_run(self, signature: str) -> tuple[str, bytes | None, list[tuple[str, int, bytes]]]:
        return self.store.load_run(signature)

    def save_run(
        self,
        signature: str,
        status: str,
        state: bytes,
        added: list[tuple[str, int, bytes]],
        removed: list[tuple[str, int]],
        updated: float,
        consumed: dict[str, list[bytes]],
    ) -> None:
        """Save a checkpoint, with the request counts of the units it records as done."""
        with self.store.lock:
            for step, hashes in consumed.items():
                self.caches[step].consume(hashes)
            self.store.save_run(signature, status, state, added, removed, updated)

    def clear_run(self, signature: str, run: str | None = None) -> None:
        self.store.clear_run(signature, run=run)

    def commit(self) -> dict[str, RequestStats]:
        """Commit; returns every task's request counters, for the driver's progress display."""
        self.store.commit()
        with self.store.lock:
            return {name: cache.stats for name, cache in self.caches.items()}

    def close(self) -> None:
        self.store.close()

    # requests: what `RelayedRequests` asks for
    def add_task(self, run: str, packed_task: bytes, read: bool) -> None:
        task = unpack(packed_task)
        self.caches[task.name] = RequestCache(self.store, run, task, read)

    def reserve(
        self, step: str, requests: list[Any], attempt: str | None = None
    ) -> list[Reservation]:
        """Key each request as the local engine does (counting duplicates) and look it up."""
        cache = self.caches[step]
        made = self._attempts.setdefault(attempt, (step, [], set())) if attempt else None
        reservations = []
        for request in requests:
            ledger = Ledger()
            key = cache.key(request, ledger)
            content = ledger.hashes
            cached = cache._cached(key)
            if cached is None:
                cache._in_flight(1)
            if made is not None:
                made[1].append(content[0])
                if cached is None:
                    made[2].add(key)
            reservations.append((key, content[0], cached))
        return reservations

    def record(
        self, step: str, results: list[tuple[bytes, Any]], attempt: str | None = None
    ) -> None:
        cache = self.caches[step]
        made = self._attempts.get(attempt) if attempt else None
        for key, result in results:
            cache._in_flight(-1)
            cache._record(key, result)
            if made is not None:
                made[2].discard(key)

    def settle(self, attempt: str) -> None:
        """The attempt's unit came back: nothing of it to undo."""
        self._attempts.pop(attempt, None)

    def abandon(self, attempt: str) -> None:
        """The replica running the attempt died: its unit will run again elsewhere, so its
        requests are not counted as sent (the retry gets the same keys, hence the replies
        already received) and those it left in flight are no longer in flight."""
        made = self._attempts.pop(attempt, None)
        if made is None:
            return
        step, contents, open_keys = made
        cache = self.caches[step]
        cache.release(contents)
        cache._in_flight(-len(open_keys))


class RelayedRequests:
    """A task's requests inside a replica (the `Replies` of its `CachedLLM`): the keeper
    keys, looks up and records them, in the same transactions as the driver's checkpoints."""

    def __init__(self, keeper: Any, step: str) -> None:
        self.keeper = keeper
        self.step = step

    @staticmethod
    def _note(ledger: Ledger | None, reservations: list[Reservation]) -> None:
        if ledger is not None:
            ledger.hashes.extend(content for _, content, _ in reservations)

    async def one(
        self, request: Any, ledger: Ledger | None, send: Callable[[], Awaitable[Any]]
    ) -> Any:
        """One request through the keeper: its cached reply, or `send()` and record it (a
        raise is recorded as the failure, and raised)."""
        attempt = ledger.attempt if ledger is not None else None
        reservations = await self.keeper.reserve.remote(self.step, [request], attempt)
        self._note(ledger, reservations)
        key, _, cached = reservations[0]
        if cached is not None:
            return cached
        try:
            result = await send()
        except Exception as exc:
            await self.keeper.record.remote(self.step, [(key, _portable(exc))], attempt)
            raise
        await self.keeper.record.remote(self.step, [(key, _portable(result))], attempt)
        return result

    def many(
        self,
        requests: list[Any],
        ledger: Ledger | None,
        send: Callable[[list[int]], list[Any]],
    ) -> list[Any]:
        """Requests through the keeper from synchronous code: cached replies, the rest sent
        together with `send(indices of the misses)` (a raise is recorded as their failure,
        and raised)."""
        attempt = ledger.attempt if ledger is not None else None
        reservations = ray.get(self.keeper.reserve.remote(self.step, requests, attempt))
        self._note(ledger, reservations)
        results = [cached for _, _, cached in reservations]
        misses = [i for i, result in enumerate(results) if result is None]
        if not misses:
            return results
        try:
            sent = send(misses)
        except Exception as exc:
            failure = _portable(exc)
            ray.get(
                self.keeper.record.remote(
                    self.step, [(reservations[i][0], failure) for i in misses], attempt
                )
            )
            raise
        for i, result in zip(misses, sent, strict=True):
            results[i] = result
        ray.get(
            self.keeper.record.remote(
                self.step,
                [(reservations[i][0], _portable(r)) for i, r in zip(misses, sent, strict=True)],
                attempt,
            )
        )
        return results


def _portable(result: Any) -> Any:
    """A result the keeper can receive: an exception that cannot be pickled is described."""
    if isinstance(result, BaseException):
        try:
            pickle.dumps(result)
        except Exception:
            return RuntimeError(describe_error(result))
    return result


# --- step replicas --------------------------------------------------------------------------


async def execute_rows(
    task: Task, inputs: list[list[Row]], slots: asyncio.Semaphore, llm: CachedLLM | None
) -> list[Row]:
    """A row-path task on one unit: every row's request sent (through `llm`, the task's LLM
    noting the unit's requests) when one of `slots` (shared by every unit the replica holds,
    sized by the LLM's concurrency) is free; rows in order."""

    async def one(row: Row) -> list[Row]:
        async with slots:
            return await process_row(task, row, llm)

    rows = prepare_rows(task, inputs)
    parts = await asyncio.gather(*(one(row) for row in rows))
    return finish_rows(task, [row for part in parts for row in part])


class StepReplica:
    """One copy of a step on the cluster, with the resources its `resources` ask for."""

    def __init__(self, packed_step: bytes, keeper: Any | None) -> None:
        self._packed: bytes | None = packed_step
        self._keeper = keeper
        self.step: Any = None
        self._exclusive = asyncio.Lock()
        self._slots: asyncio.Semaphore | None = None
        self._batches: Any = None
        self._cached: CachedLLM | None = None

    async def start(self) -> None:
        """Rebuild the step and `load()` it; raises what went wrong, for the driver to show."""
        assert self._packed is not None
        try:
            step = unpack(self._packed)
        except ModuleNotFoundError as exc:
            raise StillroomError(
                f"{exc}: Ray workers import the modules defining your steps. Install that "
                "module on every node, ship it with init_kwargs={'runtime_env': "
                "{'py_modules': [...]}}, or define the step in the script you run."
            ) from None
        if isinstance(step, _Task) and self._keeper is not None:
            self._cached = cached_llm(step.llm, RelayedRequests(self._keeper, step.name))
            swap_llm(step, self._cached)
        await asyncio.to_thread(step.load)
        self.step, self._packed = step, None

    async def run(
        self, function: Callable[..., Any], inputs: list[list[Row]], attempt: str | None = None
    ) -> Any:
        """`function(step, inputs)` on one unit; returns (its result, the unit's requests).
        `attempt` names this try at the unit, for the keeper (see `CacheKeeper.abandon`)."""
        ledger = Ledger(attempt=attempt)
        if function is execute_rows:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.step.llm.max_concurrent_requests)  # type: ignore[attr-defined]
            llm = self._cached.for_unit(ledger) if self._cached is not None else None
            result = await execute_rows(self.step, inputs, self._slots, llm)  # type: ignore[arg-type]
        else:
            async with self._exclusive:  # user code runs one unit at a time, as locally
                self._bind(ledger)
                result = await asyncio.to_thread(function, self.step, inputs)
        return result, ledger.hashes

    def _bind(self, ledger: Ledger) -> None:
        """The task's LLM notes its requests in `ledger` (one unit at a time)."""
        if self._cached is not None:
            swap_llm(self.step, self._cached.for_unit(ledger))

    async def start_batches(self, offset: int) -> None:
        """Start a generator step's batches from row `offset`."""
        self._batches = generator_batches(self.step, offset)  # type: ignore[arg-type]

    async def next_batch(self) -> tuple[tuple[list[Row], bool] | None, list[bytes]]:
        """The generator's next batch (None at the end) and the requests made for it."""
        ledger = Ledger()
        self._bind(ledger)
        item = await asyncio.to_thread(next, self._batches, None)
        return item, ledger.hashes

    async def close_batches(self) -> None:
        if self._batches is not None:
            await asyncio.to_thread(self._batches.close)
            self._batches = None

    async def unload(self) -> None:
        if self.step is not None:
            await asyncio.to_thread(self.step.unload)


# The actor classes. The plain classes above stay importable by name, so Ray ships them to
# workers by reference rather than by value (their methods use module globals that cannot be
# pickled).
CacheKeeperActor = ray.remote(num_cpus=0, max_concurrency=8)(CacheKeeper)
StepReplicaActor = ray.remote(StepReplica)
