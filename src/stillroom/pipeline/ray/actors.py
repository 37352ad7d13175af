"""The Ray actors a pipeline runs on: one per step replica.

`StepReplica` holds one copy of a step (rebuilt from its configuration, then `load()`ed) and
runs the same functions as the local engine on the rows it is sent: `execute_unit` for a
normal step, `execute_global` for a global step, a generator's batches, and for a task on
the row path (`uses_row_path`) `execute_rows`, which sends each row's request as soon as the
LLM has room, across every batch the replica holds, and returns each batch's rows in input
order. A task's replica keys, looks up and journals its requests itself (`journal.py`):
nothing per request leaves the replica except the request to the LLM. So does the replica of
a step with an embedding model (`EmbeddingGeneration`), for that model's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray

from stillroom.errors import StillroomError
from stillroom.pipeline.cached_embeddings import (
    CachedEmbeddings,
    step_embeddings,
    swap_embeddings,
)
from stillroom.pipeline.cached_llm import CachedLLM, cached_llm, swap_llm
from stillroom.pipeline.driver import older_objects_frozen
from stillroom.pipeline.execution import (
    execute_global,
    finish_rows,
    generator_batches,
    prepare_rows,
    process_row,
)
from stillroom.pipeline.ray.between import Between, Piece, RowStore, fetch, spill
from stillroom.pipeline.ray.counter import StepCounter
from stillroom.pipeline.ray.journal import ReplicaJournal, read_replies, replica_cache
from stillroom.pipeline.ray.leaves import LeafPart, LeafTarget, write_part
from stillroom.pipeline.ray.state import StateRoot
from stillroom.pipeline.ray.transfer import unpack
from stillroom.pipeline.requests import Ledger, RequestCache, RequestStats
from stillroom.steps.tasks.base import Task, _Task

if TYPE_CHECKING:
    from stillroom.steps.typing import Row


@dataclass
class RequestState:
    """What the replica of a task (or of a step with an embedding model) needs to key and
    cache its requests as the run does."""

    url: str
    options: dict[str, Any]
    """fsspec's storage options for `url`."""
    run: str
    read: bool
    sqlite_path: str | None
    ledgers: list[str]
    """The ledger segments the last checkpoint covers."""
    returned: list[bytes] = field(default_factory=list)
    """Request contents of the units the driver got back since (not yet in a ledger)."""
    counter: Any = None
    """The step's `StepCounter` actor when it has several replicas."""


# --- step replicas --------------------------------------------------------------------------


async def execute_rows(
    task: Task,
    inputs: list[list[Row]],
    llm: CachedLLM | None,
    slots: asyncio.Semaphore | None = None,
) -> list[Row]:
    """A row-path task on one unit: every row's request sent (through `llm`, the task's LLM
    noting the unit's requests) when the LLM has a free request slot (its own semaphore,
    shared by every unit the replica holds, first come first served); rows in order.

    Every row is keyed before it waits for a slot, so a multi-replica step's counter is asked
    for a whole unit's occurrences in one or two calls, not a few rows at a time as slots free
    up (`CountedRequests`). An LLM made of other LLMs (FallbackLLM, MixtureOfAgentsLLM) has
    no slot of its own: `slots`, shared by the replica's units, holds its rows to its
    `max_concurrent_requests`, as the local engine does."""
    rows = prepare_rows(task, inputs)

    async def one(row: Row) -> list[Row]:
        if slots is None:
            return await process_row(task, row, llm)
        async with slots:
            return await process_row(task, row, llm)

    parts = await asyncio.gather(*(one(row) for row in rows))
    return finish_rows(task, [row for part in parts for row in part])


class StepReplica:
    """One copy of a step on the cluster, with the resources its `resources` ask for."""

    def __init__(
        self,
        packed_step: bytes,
        requests: RequestState | None,
        leaf: LeafTarget | None = None,
        rows: RowStore | None = None,
    ) -> None:
        self._packed: bytes | None = packed_step
        self._requests = requests
        self._leaf = leaf
        self._leaf_root = StateRoot(leaf.url, leaf.options) if leaf is not None else None
        self._rows = rows
        self._rows_root = StateRoot(rows.url, rows.options) if rows is not None else None
        self.step: Any = None
        self._exclusive = asyncio.Lock()
        self._batches: Any = None
        self._cached: CachedLLM | None = None
        self._embeddings: CachedEmbeddings | None = None
        self._cache: RequestCache | None = None
        self._slots: asyncio.Semaphore | None = None
        self._collector = contextlib.ExitStack()

    async def start(self) -> str:
        """Rebuild the step and `load()` it; raises what went wrong, for the driver to show.
        Returns the id of the Ray node it runs on. Then the garbage collector is tuned as
        the local engine tunes it for a run (`driver.py`): a worker process holds Ray's
        modules and objects too, which each full collection walked (at 0 ms, several us a
        row)."""
        assert self._packed is not None
        try:
            step = unpack(self._packed)
        except ModuleNotFoundError as exc:
            raise StillroomError(
                f"{exc}: Ray workers import the modules defining your steps. Install that "
                "module on every node, ship it with init_kwargs={'runtime_env': "
                "{'py_modules': [...]}}, or define the step in the script you run."
            ) from None
        if isinstance(step, _Task) and self._requests is not None:
            self._cache = await asyncio.to_thread(self._open_cache, step, self._requests, None)
            self._cached = cached_llm(step.llm, self._cache)
            swap_llm(step, self._cached)
        elif (model := step_embeddings(step)) is not None and self._requests is not None:
            self._cache = await asyncio.to_thread(self._open_cache, step, self._requests, model)
            self._embeddings = CachedEmbeddings(wrapped=model, replies=self._cache)
            swap_embeddings(step, self._embeddings)
        await asyncio.to_thread(step.load)
        self.step, self._packed, self._requests = step, None, None
        self._collector.enter_context(older_objects_frozen())
        return str(ray.get_runtime_context().get_node_id())

    @staticmethod
    def _open_cache(step: Any, state: RequestState, model: Any) -> RequestCache:
        """`model`: the step's embedding model, None for a task (its LLM's requests)."""
        root = StateRoot(state.url, state.options)
        replies = read_replies(root, step.name, state.sqlite_path)
        return replica_cache(
            step,
            state.run,
            state.read,
            root,
            replies,
            state.ledgers,
            state.returned,
            state.counter,
            model,
        )

    def _stats(self) -> RequestStats | None:
        if self._cache is None:
            return None
        journal = self._cache.store
        if isinstance(journal, ReplicaJournal):
            journal.flush()  # the unit's replies are journaled before its rows leave
        return self._cache.stats

    async def run(
        self,
        function: Callable[..., Any],
        pieces: list[list[list[Row] | Piece]],
        attempt: str | None = None,
        part: str | None = None,
        onward: bool = False,
    ) -> Any:
        """`function(step, inputs)` on one unit, whose input batches (per predecessor) are
        rows or `Piece`s fetched here (`between.py`); returns (its result, the unit's
        requests, the task's request counters). `attempt` names this try at the unit, for
        the step's counter (see `StepCounter.abandon`). With `part` (a leaf step's), the
        rows are written as that part (`leaves.py`) and the result is its `LeafPart`; with
        `onward` (a step with successors), each output batch is a `Between`."""
        inputs = await self._inputs(pieces)
        ledger = Ledger(attempt=attempt)
        if function is execute_rows:
            llm = self._cached.for_unit(ledger) if self._cached is not None else None
            result = await execute_rows(self.step, inputs, llm, self._wrapper_slots())
        else:
            async with self._exclusive:  # user code runs one unit at a time, as locally
                self._bind(ledger)
                result = await asyncio.to_thread(function, self.step, inputs)
        stats = self._stats()  # journaled as the unit ends, before its rows are written out
        if part is not None:
            result = await asyncio.to_thread(self._write_part, part, result)
        elif onward and function is execute_global:
            result = await asyncio.to_thread(self._onward_all, result)
        elif onward:
            result = await asyncio.to_thread(self._onward, result)
        return result, ledger.hashes, stats

    def _wrapper_slots(self) -> asyncio.Semaphore | None:
        """The replica's request slots for a task whose LLM has none of its own (made once)."""
        llm = self._cached.wrapped if self._cached is not None else self.step.llm
        limit = getattr(llm, "max_concurrent_requests", None)
        if llm._limits_concurrency or limit is None:
            return None
        if self._slots is None:
            self._slots = asyncio.Semaphore(limit)
        return self._slots

    async def _inputs(self, pieces: list[list[list[Row] | Piece]]) -> list[list[Row]]:
        """Each predecessor's rows, its batches fetched at once (a global step's too)."""
        fetched = await asyncio.gather(
            *(
                asyncio.gather(*(fetch(self._rows_root, piece) for piece in batches))
                for batches in pieces
            )
        )
        return [[row for rows in batches for row in rows] for batches in fetched]

    def _onward(self, rows: list[Row]) -> Between | list[Row]:
        """An output batch for other steps, in the object store and as a part."""
        assert self._rows is not None and self._rows_root is not None
        return spill(self._rows_root, self._rows, self.step.name, rows) or rows

    def _onward_all(self, batches: list[list[Row]]) -> list[Between] | list[list[Row]]:
        """A global step's output batches, each `_onward` (all, or none of them)."""
        onward = [self._onward(rows) for rows in batches]
        if all(isinstance(batch, Between) for batch in onward):
            return onward  # type: ignore[return-value]
        return batches

    def _write_part(self, part: str, rows: list[Row]) -> LeafPart:
        assert self._leaf is not None and self._leaf_root is not None
        return write_part(self._leaf_root, self._leaf, part, rows, self.step.name)

    def _bind(self, ledger: Ledger) -> None:
        """The task's LLM, or the step's embedding model, notes its requests in `ledger`
        (one unit at a time)."""
        if self._cached is not None:
            swap_llm(self.step, self._cached.for_unit(ledger))
        if self._embeddings is not None:
            swap_embeddings(self.step, self._embeddings.for_unit(ledger))

    async def start_batches(self, offset: int) -> None:
        """Start a generator step's batches from row `offset`."""
        self._batches = generator_batches(self.step, offset)  # type: ignore[arg-type]

    async def next_batch(
        self, limit: int | None = None, onward: bool = False
    ) -> tuple[tuple[list[Row] | Between, bool] | None, list[bytes], RequestStats | None]:
        """The generator's next batch (None at the end), cut to `limit` rows (the run's row
        limit, what is left of it) and, with `onward`, as a `Between`; the requests made for
        it and the task's request counters."""
        ledger = Ledger()
        self._bind(ledger)
        item = await asyncio.to_thread(next, self._batches, None)
        if item is not None:
            rows, last = item
            if limit is not None and len(rows) >= limit:
                rows, last = rows[:limit], True
            if onward and rows:
                return (
                    (await asyncio.to_thread(self._onward, rows), last),
                    ledger.hashes,
                    self._stats(),
                )
            item = rows, last
        return item, ledger.hashes, self._stats()

    async def close_batches(self) -> None:
        if self._batches is not None:
            await asyncio.to_thread(self._batches.close)
            self._batches = None

    async def unload(self) -> None:
        try:
            if self._cache is not None and isinstance(self._cache.store, ReplicaJournal):
                self._cache.store.close()
            if self.step is not None:
                await asyncio.to_thread(self.step.unload)
        finally:
            self._collector.close()


# The actor classes. The plain classes stay importable by name, so Ray ships them to workers
# by reference rather than by value (their methods use module globals that cannot be pickled).
StepReplicaActor = ray.remote(StepReplica)
StepCounterActor = ray.remote(num_cpus=0)(StepCounter)
