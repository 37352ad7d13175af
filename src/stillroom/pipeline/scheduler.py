"""The local engine: one asyncio loop streaming batches through the step graph (DESIGN.md §4).

Data model. A generator's batches are numbered (`seq`); every other step turns the rows it
receives for one seq (one list per predecessor, aligned) into exactly one output batch with
the same seq, so rows stay in input order and steps with several predecessors get rows that
derive from the same source batch. A global step waits for all its rows and numbers its
output batches afresh.

Flow control. Each step has a slot per predecessor holding the batches it has not finished;
a producer only starts new work when its successors' slots have room (back-pressure).
Synchronous user code runs in daemon threads (or a process pool for `cpu_bound` steps), one
unit at a time per step. A task on the row path keeps up to `max_concurrent_requests` rows in
flight, across batch boundaries, and emits each batch once all its rows are done, in order:
a slow request holds back only its own batch's output, never the requests after it.

Checkpoints. The engine runs on one thread, so a checkpoint is a consistent snapshot taken
between two events: each generator's offset, each step's position, the batches not yet
finished (stored once each, removed when consumed), and the leaf writers' state. A resumed
run restores it and redoes only unfinished batches; their finished requests come back from
the request cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stillroom.pipeline.execution import (
    execute_global,
    execute_unit,
    finish_rows,
    generator_batches,
    prepare_rows,
    uses_row_path,
)
from stillroom.pipeline.requests import RequestCache, RequestStats, unit_hashes
from stillroom.pipeline.workers import DaemonThreads, init_worker, is_cpu_bound, run_in_worker
from stillroom.steps.tasks.base import METADATA_COLUMN, _Task

if TYPE_CHECKING:
    from collections.abc import Callable

    from stillroom.pipeline.graph import DAG
    from stillroom.pipeline.progress import ProgressReporter
    from stillroom.pipeline.store import Store
    from stillroom.pipeline.writers import Encoded, LeafWriter
    from stillroom.steps.base import _Step
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

SLOT_BATCHES = 4
"""Batches waiting in a step's slot, per predecessor, before its producer pauses."""

ROWS_HELD_PER_REQUEST = 20
"""Rows a row-path task may hold (admitted, output not yet emitted) per concurrent request;
room for stragglers 20 latencies long before admission pauses."""

_WAIT, _READY, _DONE = range(3)


@dataclass(slots=True)
class Batch:
    """Rows travelling between steps; `id` is unique within a run, `seq` is the source batch."""

    id: int
    seq: int
    rows: list[Row]


@dataclass
class Unit:
    """The batches a step consumes together: per predecessor, those of one seq (or all)."""

    seq: int
    batches: list[list[Batch]]
    hashes: list[bytes] = field(default_factory=list)

    def inputs(self) -> list[list[Row]]:
        return [[row for batch in batches for row in batch.rows] for batches in self.batches]

    @property
    def size(self) -> int:
        return sum(len(batch.rows) for batches in self.batches for batch in batches)


@dataclass
class NodeStats:
    rows_in: int = 0
    rows_out: int = 0
    failed_rows: int = 0


class Node:
    """One step's runtime state: its input slots, position, counters and outputs."""

    def __init__(self, name: str, step: _Step, preds: list[str]) -> None:
        self.name = name
        self.step = step
        self.preds = preds
        self.succs: list[Node] = []
        self.writer: LeafWriter | None = None
        self.hook: RequestCache | None = None
        if step.is_generator:
            self.kind = "generator"
        elif step.is_global:
            self.kind = "global"
        elif uses_row_path(step):
            self.kind = "rows"
        else:
            self.kind = "batches"
        self.cpu_bound = is_cpu_bound(step)
        self.capacity: int | None = None if step.is_global else SLOT_BATCHES
        self.slots: dict[str, deque[Batch]] = {p: deque() for p in preds}
        self.closed: set[str] = set()
        self.inflight: dict[int, Unit] = {}
        self.next_seq = 0
        self.done = False
        self.gen_offset = 0
        self.stats = NodeStats()
        self.expected_rows: int | None = None
        self.held = 0

    @property
    def request_stats(self) -> RequestStats | None:
        return self.hook.stats if self.hook is not None else None

    @property
    def rows_done(self) -> int:
        return self.stats.rows_out if self.kind == "generator" else self.stats.rows_in

    def room_for(self, pred: str) -> bool:
        return self.capacity is None or len(self.slots[pred]) < self.capacity

    def readiness(self) -> int:
        """_READY when the next unit can be taken, _DONE when no more will come, else _WAIT."""
        if self.kind == "global":
            if all(p in self.closed for p in self.preds):
                return _DONE if self.done else _READY
            return _WAIT
        heads = []
        for pred in self.preds:
            slot = self.slots[pred]
            if slot:
                heads.append(slot[0].seq)
            elif pred not in self.closed:
                return _WAIT
        if not heads:
            return _DONE
        if self.next_seq not in heads:  # predecessors from other sources ran out earlier
            self.next_seq = min(heads)
        return _READY

    def take(self) -> Unit:
        if self.kind == "global":
            batches = [list(self.slots[p]) for p in self.preds]
            for pred in self.preds:
                self.slots[pred].clear()
            unit = Unit(0, batches)
        else:
            batches = []
            for pred in self.preds:
                slot = self.slots[pred]
                batches.append([slot.popleft()] if slot and slot[0].seq == self.next_seq else [])
            unit = Unit(self.next_seq, batches)
            self.next_seq += 1
        self.inflight[unit.seq] = unit
        return unit

    def state(self) -> dict[str, Any]:
        return {
            "next_seq": min(self.inflight, default=self.next_seq),
            "closed": sorted(self.closed),
            "done": self.done,
            "gen_offset": self.gen_offset,
            "stats": [self.stats.rows_in, self.stats.rows_out, self.stats.failed_rows],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.next_seq = state["next_seq"]
        self.closed = set(state["closed"])
        self.done = state["done"]
        self.gen_offset = state["gen_offset"]
        self.stats = NodeStats(*state["stats"])

    def pending(self) -> list[tuple[str, Batch | Encoded]]:
        """(location, batch) of every batch this step has not finished, for checkpoints."""
        found: list[tuple[str, Batch | Encoded]] = [
            (f"{self.name}<{p}", b) for p, slot in self.slots.items() for b in slot
        ]
        for unit in self.inflight.values():
            for pred, batches in zip(self.preds, unit.batches, strict=True):
                found.extend((f"{self.name}<{pred}", b) for b in batches)
        if self.writer is not None:
            found.extend((f"{self.name}>", b) for b in self.writer.pending())
        return found


class _Signal:
    """Wakes every waiting worker when the engine's state changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._event.wait()


@dataclass
class _RowUnit:
    unit: Unit
    results: list[list[Row] | None]
    remaining: int
    failed: bool = False


class Engine:
    """Runs a validated pipeline graph once (a fresh run or a resume) on the current loop."""

    def __init__(
        self,
        dag: DAG,
        store: Store,
        signature: str,
        run_id: str,
        writers: dict[str, LeafWriter],
        checkpoint_interval: float = 1.0,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.meta = dict(meta or {})
        self.store = store
        self.signature = signature
        self.run_id = run_id
        self.checkpoint_interval = checkpoint_interval
        self.nodes: dict[str, Node] = {}
        for name in dag.topological_order():
            self.nodes[name] = Node(name, dag.steps[name], dag.predecessors(name))
        origins: dict[str, frozenset[str]] = {}
        for name, node in self.nodes.items():
            for succ in dag.successors(name):
                node.succs.append(self.nodes[succ])
            if node.kind in ("generator", "global") or not node.preds:
                origins[name] = frozenset([name])
            else:
                origins[name] = frozenset().union(*(origins[p] for p in node.preds))
            if len({origins[p] for p in node.preds}) > 1:
                node.capacity = None  # rows of unrelated sources never wait on each other
            node.writer = writers.get(name)
        self._estimate_rows()
        self.stopping = False
        self.aborted = False
        self.failure: tuple[str, int | None, BaseException] | None = None
        self.progress: ProgressReporter | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None
        self._interrupts = 0
        self._signal: _Signal | None = None
        self._next_id = 0
        self._stored: set[tuple[str, int]] = set()
        self._threads = DaemonThreads(len(self.nodes) + 2)
        self._processes: ProcessPoolExecutor | None = None
        self._checkpoint_failed = False

    # --- setup --------------------------------------------------------------------------------

    def _estimate_rows(self) -> None:
        """Expected rows per step for the progress display, when the data says so."""
        for node in self.nodes.values():
            step = node.step
            if node.kind == "generator":
                data = getattr(step, "data", None)
                node.expected_rows = len(data) if isinstance(data, list) else None
            elif node.kind != "global" and node.preds:
                first = self.nodes[node.preds[0]]
                expected = first.expected_rows
                task = first.step if isinstance(first.step, _Task) else None
                if expected is not None and task is not None and not task.group_generations:
                    expected *= task.num_generations
                node.expected_rows = expected

    def install_hooks(self, read_cache: bool) -> None:
        """Put a request cache on every task (removed by `remove_hooks`)."""
        for node in self.nodes.values():
            if isinstance(node.step, _Task):
                node.hook = RequestCache(
                    self.store, self.run_id, node.step, read_cache and node.step.use_cache
                )
                node.step._request_hook = node.hook

    def remove_hooks(self) -> None:
        for node in self.nodes.values():
            if isinstance(node.step, _Task):
                node.step._request_hook = None

    def restore(self, state: dict[str, Any], batches: list[tuple[str, int, bytes]]) -> None:
        """Put the engine back where a checkpoint left it."""
        self._next_id = state["next_id"]
        for name, node_state in state["nodes"].items():
            self.nodes[name].restore(node_state)
        pending: dict[str, list[Any]] = {}
        for location, batch_id, data in batches:
            pending.setdefault(location, []).append(pickle.loads(data))
            self._stored.add((location, batch_id))
        for name, node in self.nodes.items():
            for pred in node.preds:
                node.slots[pred].extend(pending.get(f"{name}<{pred}", []))
            if node.writer is not None:
                node.writer.restore(state["writers"].get(name), pending.get(f"{name}>", []))

    def start_writers(self) -> None:
        for node in self.nodes.values():
            if node.writer is not None:
                node.writer.restore(None, [])

    def close_writers(self) -> None:
        for node in self.nodes.values():
            if node.writer is not None:
                node.writer.close()

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Load the steps, stream every batch through, return when done or stopped."""
        self._signal = _Signal()
        self.loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        await self._load()
        workers = [asyncio.create_task(self._run_node(node)) for node in self.nodes.values()]
        ticker = asyncio.create_task(self._tick())
        try:
            await asyncio.gather(*workers)
        finally:
            ticker.cancel()
            for worker in workers:
                worker.cancel()

    async def _load(self) -> None:
        steps = [n.step for n in self.nodes.values() if not n.cpu_bound]
        await asyncio.gather(*(self._threads.run(step.load) for step in steps))
        specs = {n.name: (type(n.step), n.step.dump()) for n in self.nodes.values() if n.cpu_bound}
        if specs:
            self._processes = ProcessPoolExecutor(
                max_workers=os.cpu_count() or 1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(specs,),
            )

    def unload(self) -> None:
        for node in self.nodes.values():
            if node.cpu_bound:
                continue
            try:
                node.step.unload()
            except Exception as exc:
                logger.warning("Unloading step %r failed: %s", node.name, exc)
        if self._processes is not None:
            self._processes.shutdown(wait=not self.aborted, cancel_futures=True)
        self._threads.shutdown()

    def request_stop(self, reason: str) -> None:
        """Stop starting new work; what is in flight finishes and is saved."""
        if not self.stopping:
            self.stopping = True
            logger.warning("Stopping: %s", reason)
            if self._signal is not None:
                self._signal.notify()

    def interrupt(self) -> None:
        """Ctrl-C, on the engine's loop: the first stops cleanly, the second at once."""
        self._interrupts += 1
        if self._interrupts == 1:
            self.request_stop(
                "Ctrl-C: finishing the requests in flight and saving what is done "
                "(press Ctrl-C again to stop at once)"
            )
        else:
            self.aborted = True
            if self._main is not None:
                self._main.cancel()

    def _fail(self, node: Node, error: BaseException, seq: int | None) -> None:
        if self.failure is None:
            self.failure = (node.name, seq, error)
            logger.error("Step %r failed: %s: %s", node.name, type(error).__name__, error)
        self.request_stop(f"step {node.name!r} failed")

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(self.checkpoint_interval, 0.1))
            if time.monotonic() - last >= self.checkpoint_interval:
                self.checkpoint()
                last = time.monotonic()
            if self.progress is not None:
                self.progress.refresh()

    async def _run_node(self, node: Node) -> None:
        runner = {
            "generator": self._generate,
            "global": self._run_global,
            "rows": self._run_rows,
            "batches": self._run_batches,
        }[node.kind]
        try:
            await runner(node)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(node, exc, min(node.inflight, default=None))

    def _has_room(self, node: Node) -> bool:
        return all(succ.room_for(node.name) for succ in node.succs)

    async def _call(self, node: Node, function: Callable[..., Any], unit: Unit) -> Any:
        if node.cpu_bound:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._processes, run_in_worker, node.name, function, unit.inputs()
            )
        token = unit_hashes.set(unit.hashes)
        try:
            return await self._threads.run(function, node.step, unit.inputs())
        finally:
            unit_hashes.reset(token)

    async def _generate(self, node: Node) -> None:
        if node.done:
            return
        assert self._signal is not None
        iterator = generator_batches(node.step, node.gen_offset)  # type: ignore[arg-type]
        try:
            while True:
                await self._signal.wait_until(lambda: self.stopping or self._has_room(node))
                if self.stopping:
                    return
                item = await self._threads.run(next, iterator, None)
                if item is None:
                    break
                rows, is_last = item
                if rows:
                    self._emit(node, node.next_seq, rows)
                    node.next_seq += 1
                    node.gen_offset += len(rows)
                    self._signal.notify()
                if is_last:
                    break
        finally:
            with contextlib.suppress(ValueError):  # still running in a thread after an abort
                iterator.close()
        self._finish(node)

    async def _run_batches(self, node: Node) -> None:
        assert self._signal is not None
        while True:
            await self._signal.wait_until(
                lambda: (
                    self.stopping
                    or (state := node.readiness()) == _DONE
                    or (state == _READY and self._has_room(node))
                )
            )
            if self.stopping:
                return
            if node.readiness() == _DONE:
                break
            unit = node.take()
            self._signal.notify()
            rows = await self._call(node, execute_unit, unit)
            self._complete(node, unit, [rows])
        self._finish(node)

    async def _run_global(self, node: Node) -> None:
        assert self._signal is not None
        await self._signal.wait_until(lambda: self.stopping or node.readiness() != _WAIT)
        if self.stopping or node.done:
            return
        unit = node.take()
        batches = await self._call(node, execute_global, unit)
        self._complete(node, unit, batches)
        self._finish(node)

    async def _run_rows(self, node: Node) -> None:
        """A task on the row path: requests row by row, output batch by batch, in order."""
        assert self._signal is not None
        task = node.step
        limit = task.llm.max_concurrent_requests  # type: ignore[attr-defined]
        active = asyncio.Semaphore(limit)
        hold_limit = ROWS_HELD_PER_REQUEST * limit
        order: deque[_RowUnit] = deque()
        running: set[asyncio.Task[None]] = set()

        def emit_ready() -> None:
            while order and order[0].remaining == 0 and not order[0].failed:
                done = order.popleft()
                node.held -= done.unit.size
                rows = [row for part in done.results if part for row in part]
                self._complete(node, done.unit, [finish_rows(task, rows)])  # type: ignore[arg-type]

        async def one(current: _RowUnit, index: int, row: Row) -> None:
            try:
                current.results[index] = await task.aprocess_row(row)  # type: ignore[attr-defined]
            except asyncio.CancelledError:
                current.failed = True  # a unit missing rows is never emitted
                raise
            except Exception as exc:
                current.failed = True
                self._fail(node, exc, current.unit.seq)
            finally:
                active.release()
                current.remaining -= 1
                if current.remaining == 0:
                    emit_ready()

        try:
            while True:
                await self._signal.wait_until(
                    lambda: (
                        self.stopping
                        or (state := node.readiness()) == _DONE
                        or (state == _READY and node.held < hold_limit and self._has_room(node))
                    )
                )
                if self.stopping or node.readiness() == _DONE:
                    break
                unit = node.take()
                self._signal.notify()
                try:
                    rows = prepare_rows(task, unit.inputs())  # type: ignore[arg-type]
                except Exception as exc:
                    self._fail(node, exc, unit.seq)
                    break
                current = _RowUnit(unit, [None] * len(rows), len(rows))
                order.append(current)
                node.held += unit.size
                if not rows:
                    emit_ready()
                    continue
                token = unit_hashes.set(unit.hashes)
                try:
                    for index, row in enumerate(rows):
                        await active.acquire()
                        if self.stopping:
                            active.release()
                            break
                        job = asyncio.create_task(one(current, index, row))
                        running.add(job)
                        job.add_done_callback(running.discard)
                finally:
                    unit_hashes.reset(token)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        except asyncio.CancelledError:
            for job in running:
                job.cancel()
            raise
        emit_ready()
        if not self.stopping and not order:
            self._finish(node)

    # --- bookkeeping --------------------------------------------------------------------------

    def _emit(self, node: Node, seq: int, rows: list[Row]) -> None:
        self._next_id += 1
        batch = Batch(self._next_id, seq, rows)
        for succ in node.succs:
            succ.slots[node.name].append(batch)
        if node.writer is not None:
            node.writer.write(batch)
        node.stats.rows_out += len(rows)

    def _complete(self, node: Node, unit: Unit, outputs: list[list[Row]]) -> None:
        """Record a finished unit: consume its batches and emit its output, atomically."""
        del node.inflight[unit.seq]
        if node.hook is not None:
            node.hook.consume(unit.hashes)
        node.stats.rows_in += unit.size
        if node.hook is not None:
            node.stats.failed_rows += _count_failed(outputs, f"error_{node.name}")
        if node.kind == "global":
            for seq, rows in enumerate(outputs):
                self._emit(node, seq, rows)
        else:
            self._emit(node, unit.seq, outputs[0])
        assert self._signal is not None
        self._signal.notify()

    def _finish(self, node: Node) -> None:
        node.done = True
        for succ in node.succs:
            succ.closed.add(node.name)
        if self._signal is not None:
            self._signal.notify()

    @property
    def completed(self) -> bool:
        return all(node.done for node in self.nodes.values())

    # --- checkpoints --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "version": 1,
            "run_id": self.run_id,
            "meta": self.meta,
            "next_id": self._next_id,
            "nodes": {name: node.state() for name, node in self.nodes.items()},
            "writers": {
                name: node.writer.state()
                for name, node in self.nodes.items()
                if node.writer is not None
            },
        }

    def checkpoint(self, status: str = "running", force_flush: bool = False) -> bool:
        """Write a consistent snapshot and commit it (with the cached replies); False when the
        rows could not be pickled, in which case the previous checkpoint stays valid."""
        for node in self.nodes.values():
            if node.writer is not None:
                node.writer.flush(force=force_flush)
        placements: dict[tuple[str, int], Batch | Encoded] = {}
        for node in self.nodes.values():
            for location, batch in node.pending():
                placements[(location, batch.id)] = batch
        try:
            added = [
                (location, batch_id, pickle.dumps(batch, protocol=5))
                for (location, batch_id), batch in placements.items()
                if (location, batch_id) not in self._stored
            ]
            state = pickle.dumps(self.state(), protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            if not self._checkpoint_failed:
                self._checkpoint_failed = True
                logger.warning(
                    "Cannot checkpoint: some rows cannot be pickled (%s). The run continues, "
                    "but could only resume from an earlier point.",
                    exc,
                )
            return False
        removed = self._stored - placements.keys()
        self.store.save_run(self.signature, status, state, added, removed, time.time())
        self.store.commit()
        self._stored = set(placements)
        return True


def _count_failed(outputs: list[list[Row]], key: str) -> int:
    failed = 0
    for rows in outputs:
        for row in rows:
            meta = row.get(METADATA_COLUMN)
            if not meta:
                continue
            error = meta.get(key)
            if error and (not isinstance(error, list) or any(error)):
                failed += 1
    return failed
