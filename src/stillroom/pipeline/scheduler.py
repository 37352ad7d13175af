"""The local engine: one asyncio loop streaming batches through the step graph (docs/architecture.md).

Data model (see `nodes.py`). A generator's batches are numbered (`seq`); every other step
turns the rows it receives for one seq (one list per predecessor, aligned) into exactly one
output batch with the same seq, so rows stay in input order and steps with several
predecessors get rows that derive from the same source batch. A global step waits for all
its rows and numbers its output batches afresh.

Flow control. Each step has a slot per predecessor holding the batches it has not finished;
a producer only starts new work when its successors' slots have room (back-pressure).
Synchronous user code runs in daemon threads, one unit at a time per step; a `cpu_bound`
step runs in a process pool instead, up to one unit per worker process at once. A task on
the row path keeps up to `max_concurrent_requests` rows in flight, across batch boundaries,
and emits each batch once all its rows are done, in order: a slow request holds back only
its own batch's output, never the requests after it.

Routing. A step with a routing batch function sends each output batch to the successors
it picks and a `RoutedAway` to the others (`batch.py`); a unit made only of those runs
nothing and passes one on, so seqs stay aligned for the steps joining the branches.

Loading (`loading.py`). Every step is loaded before the first batch, or, with load groups,
stage by stage (`load_stages.py`): a step waits for its stage to be loaded, and the slots
fed by an earlier stage have no limit, since that stage finishes before the next loads.

Checkpoints (see `checkpoint.py`). The engine runs on one thread, so a checkpoint taken
between two events is consistent. A resumed run restores it and redoes only unfinished
batches; their finished requests come back from the request cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomUserError
from stillroom.pipeline.checkpoint import Checkpointer
from stillroom.pipeline.engine_state import EngineState
from stillroom.pipeline.errors import TooManyFailuresError
from stillroom.pipeline.execution import (
    execute_global,
    execute_unit,
    generator_batches,
)
from stillroom.pipeline.failures import FailureWatch, count_failed, exceeds
from stillroom.pipeline.load_stages import load_stages
from stillroom.pipeline.loading import StepLoading
from stillroom.pipeline.nodes import DONE, READY, WAIT, Batch, Node, RoutedAway, Unit
from stillroom.pipeline.progress import ProgressReporter, choose_mode, estimate_rows
from stillroom.pipeline.request_wiring import RequestWiring
from stillroom.pipeline.requests import Ledger
from stillroom.pipeline.routing_batch_function import route
from stillroom.pipeline.row_path import run_rows
from stillroom.pipeline.run_control import RunControl, Signal
from stillroom.pipeline.workers import DaemonThreads, run_in_worker

if TYPE_CHECKING:
    from collections.abc import Callable

    from stillroom.pipeline.contracts import RunConfig, RunIdentity, Store
    from stillroom.pipeline.graph import DAG
    from stillroom.pipeline.writers import LeafWriter
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")


class Engine(RunControl, EngineState, StepLoading, RequestWiring):
    """Runs a validated pipeline graph once (a fresh run or a resume) on the current loop.

    Stopping is `RunControl`'s (`run_control.py`), checkpoints `EngineState`'s
    (`engine_state.py`); a distributed engine (`ray/engine.py`) overrides where step code
    runs: `install_llms`, `_load`, `_unload`, `shutdown`, `_batches_of`, `_next_batch`,
    `_call`, `_run_batches`, `_run_rows`.
    """

    def __init__(
        self,
        dag: DAG,
        store: Store,
        run: RunIdentity,
        writers: dict[str, LeafWriter],
        config: RunConfig,
    ) -> None:
        self.config = config
        self.meta = dict(run.meta)
        self.row_limit = config.row_limit
        self.store = store
        self.signature = run.signature
        self.run_id = run.run_id
        self.checkpoint_interval = config.checkpoint_interval
        self.nodes: dict[str, Node] = {}
        for name in dag.topological_order():
            self.nodes[name] = Node(name, dag.steps[name], dag.predecessors(name))
        self.stages = load_stages(dag, config.load_groups)
        stage_of = {name: index for index, stage in enumerate(self.stages) for name in stage}
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
            if any(stage_of[p] < stage_of[name] for p in node.preds):
                node.capacity = None  # an earlier stage finishes before this one loads
            node.writer = writers.get(name)
            node.routing = dag.routing.get(name)
        estimate_rows(self.nodes, self.row_limit)
        self._init_control()
        self.failures = FailureWatch({name: node.step for name, node in self.nodes.items()})
        self.max_failed_fraction = config.max_failed_fraction
        self.too_many_failures: TooManyFailuresError | None = None
        self.progress = ProgressReporter(
            list(self.nodes.values()),
            choose_mode(config.progress),
            config.log_interval,
            self.failures,
        )
        self._next_id = 0
        self.checkpointer = Checkpointer(store, run.signature)
        self._threads = DaemonThreads(len(self.nodes) + 2)
        self._processes: ProcessPoolExecutor | None = None
        self._process_workers = os.cpu_count() or 1
        self._loaded: set[str] = set()

    # --- setup --------------------------------------------------------------------------------

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Load the steps, stream every batch through, unload; return when done or stopped.

        `load()` and `unload()` run in worker threads, before the first batch and after the
        last, while this loop is still running; with load groups, stage by stage
        (`_load_in_stages`).
        """
        self._signal = Signal()
        self.loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        staged = len(self.stages) > 1
        try:
            if not staged:
                await self._load()
                self._loaded.update(self.nodes)
            workers = [asyncio.create_task(self._run_node(n)) for n in self.nodes.values()]
            if staged:
                workers.append(asyncio.create_task(self._load_in_stages()))
            ticker = asyncio.create_task(self._tick())
            try:
                await asyncio.gather(*workers)
            finally:
                ticker.cancel()
                for worker in workers:
                    worker.cancel()
        finally:
            if not self.aborted and not staged:
                await self._unload()
            elif not self.aborted:  # a stage stopped before its end
                await self._unload_steps([self.nodes[n] for n in self._loaded], pool=True)

    async def _load_in_stages(self) -> None:
        """Load each stage once the earlier ones have finished, and unload it when all its
        steps have (a stage a resumed run had finished is not loaded again). A step that
        cannot load fails the run as a step that raised does: what was done is saved."""
        assert self._signal is not None
        for stage in self.stages:
            nodes = [self.nodes[name] for name in stage]
            if all(node.done for node in nodes):
                continue
            if self.stopping:
                return
            logger.info("Loading stage %s.", stage)
            pooled = [node for node in nodes if node.cpu_bound]  # one pool for the stage
            for part in [[node] for node in nodes if not node.cpu_bound] + [pooled]:
                try:
                    await self._load_steps(part)
                except Exception as exc:
                    self._fail(part[0] if len(part) == 1 else None, exc, None)
                    return
                self._loaded.update(node.name for node in part)
            self._signal.notify()
            await self._signal.wait_until(
                lambda: self.stopping or all(node.done for node in nodes)  # noqa: B023
            )
            if self.stopping:
                return  # what is in flight finishes first; `run` unloads them after
            await self._unload_steps(nodes, pool=True)
            self._loaded.difference_update(stage)

    def shutdown(self) -> None:
        """Stop the worker threads and processes (without waiting for them after an abort)."""
        if self._processes is not None:
            self._processes.shutdown(wait=not self.aborted, cancel_futures=True)
        self._threads.shutdown()

    async def _tick(self) -> None:
        """Checkpoint every `checkpoint_interval` and refresh the progress display; stop the
        run as soon as the store reports a failed write (made by any thread)."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(self.checkpoint_interval, 0.1))
            try:
                if self.store.failure is not None:
                    raise self.store.failure
                if time.monotonic() - last >= self.checkpoint_interval:
                    self.checkpoint()
                    last = time.monotonic()
                self.progress.refresh()
            except Exception as exc:
                self._fail(None, exc, None)
                return

    async def _run_node(self, node: Node) -> None:
        assert self._signal is not None  # a step of a later stage waits for its loading
        await self._signal.wait_until(
            lambda: self.stopping or node.done or node.name in self._loaded
        )
        if self.stopping and node.name not in self._loaded:
            return
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

    async def _wait_for_work(self, node: Node, can_start: Callable[[], bool]) -> None:
        """Until the run stops, `node` gets no more input, or its next unit is ready, its
        successors have room and `can_start()`."""
        assert self._signal is not None
        await self._signal.wait_until(
            lambda: (
                self.stopping
                or (state := node.readiness()) == DONE
                or (state == READY and can_start() and self._has_room(node))
            )
        )

    async def _call(self, node: Node, function: Callable[..., Any], unit: Unit) -> Any:
        if node.cpu_bound:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._processes, run_in_worker, node.name, function, unit.inputs()
            )
        self._bind(node, Ledger(unit.hashes))
        return await self._threads.run(function, node.step, unit.inputs())

    def _batches_of(self, node: Node) -> Any:
        """An iterator of a generator step's `(rows, is_last)` batches from its offset on, with
        `close()`; a distributed engine returns one that runs the step elsewhere."""
        return generator_batches(node.step, node.gen_offset)  # type: ignore[arg-type]

    def _next_batch(self, node: Node, batches: Any, ledger: Ledger) -> Any:
        """A generator's next `(rows, is_last)` (None at the end), its requests noted in
        `ledger`; runs in a worker thread."""
        self._bind(node, ledger)
        return next(batches, None)

    async def _generate(self, node: Node) -> None:
        if node.done:
            return
        assert self._signal is not None
        iterator = self._batches_of(node)
        try:
            while True:
                await self._signal.wait_until(lambda: self.stopping or self._has_room(node))
                if self.stopping:
                    return
                ledger = Ledger()  # the requests this batch makes, counted once emitted
                item = await self._threads.run(self._next_batch, node, iterator, ledger)
                if node.requests is not None:
                    node.requests.consume(ledger.hashes)
                if item is None:
                    break
                rows, is_last = item
                if self.row_limit is not None and len(rows) >= self.row_limit - node.gen_offset:
                    rows, is_last = rows[: self.row_limit - node.gen_offset], True
                if rows:
                    self._emit(node, node.next_seq, rows, self._route(node, node.next_seq))
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
        """A step batch by batch: one unit at a time in a thread, or up to one per worker
        process for a `cpu_bound` step."""
        width = self._process_workers if node.cpu_bound else 1
        await self._run_in_order(node, execute_unit, lambda outstanding: outstanding < width)

    async def _run_in_order(
        self,
        node: Node,
        function: Callable[..., Any],
        has_capacity: Callable[[int], bool],
    ) -> None:
        """Start units while `has_capacity(units outstanding)`; record outputs in source order.

        On a stop the units in flight finish and those up to the first gap are recorded; the
        rest stay unfinished in the checkpoint.
        """
        assert self._signal is not None
        taken: deque[Unit] = deque()
        finished: dict[int, list[Row]] = {}
        jobs: set[asyncio.Task[None]] = set()

        def record_in_order() -> None:
            while taken and taken[0].seq in finished:
                unit = taken.popleft()
                self._complete(node, unit, [finished.pop(unit.seq)])

        async def one(unit: Unit) -> None:
            try:
                rows = [] if unit.routed_away else await self._call(node, function, unit)
            except Exception as exc:
                self._fail(node, exc, unit.seq)
                return
            finished[unit.seq] = rows
            try:
                record_in_order()
            except Exception as exc:  # a routing batch function that raised
                self._fail(node, exc, unit.seq)

        try:
            while True:
                await self._wait_for_work(node, lambda: has_capacity(len(taken)))
                if self.stopping or node.readiness() == DONE:
                    break
                unit = node.take()
                taken.append(unit)
                self._signal.notify()
                job = asyncio.create_task(one(unit))
                jobs.add(job)
                job.add_done_callback(jobs.discard)
                # the unit reaches its worker (a Ray replica counts it) before capacity is
                # asked again
                await asyncio.sleep(0)
            if jobs:
                await asyncio.gather(*jobs)
        except asyncio.CancelledError:
            for job in jobs:
                job.cancel()
            raise
        if not self.stopping and not taken:
            self._finish(node)

    async def _run_global(self, node: Node) -> None:
        assert self._signal is not None
        await self._signal.wait_until(lambda: self.stopping or node.readiness() != WAIT)
        if self.stopping or node.done:
            return
        unit = node.take()
        batches = await self._call(node, execute_global, unit)
        self._complete(node, unit, batches)
        self._finish(node)

    async def _run_rows(self, node: Node) -> None:
        """A task on the row path (see `row_path.py`)."""
        await run_rows(self, node)

    # --- bookkeeping --------------------------------------------------------------------------

    def _route(self, node: Node, seq: int) -> set[str] | None:
        """The successors that get `node`'s output batch `seq`, as its routing batch function
        chooses (None: all of them). The choice is seeded by the run and the batch, so a
        resumed run routes a batch it makes again as the interrupted run did."""
        if node.routing is None:
            return None
        names = [succ.name for succ in node.succs]
        try:
            return set(route(node.routing, names, f"{self.signature}:{node.name}:{seq}"))
        except StillroomUserError:
            raise
        except Exception as exc:
            raise StillroomUserError(
                f"Step {node.name!r}: its routing batch function {node.routing!r} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _emit(self, node: Node, seq: int, rows: list[Row], chosen: set[str] | None) -> None:
        """Send batch `seq` to the successors in `chosen` (None: all), a `RoutedAway` in its
        place to the others, and to the writer of a leaf step."""
        self._next_id += 1
        batch = Batch(self._next_id, seq, rows)
        for succ in node.succs:
            if chosen is None or succ.name in chosen:
                succ.slots[node.name].append(batch)
            else:
                self._next_id += 1
                succ.slots[node.name].append(RoutedAway(self._next_id, seq, []))
        if node.writer is not None:
            node.writer.write(batch)
        node.stats.rows_out += len(rows)

    def _pass_routed_away(self, node: Node, seq: int) -> None:
        """A unit routed away before `node`: its successors get a `RoutedAway` for `seq`."""
        self._next_id += 1
        routed_away = RoutedAway(self._next_id, seq, [])
        for succ in node.succs:
            succ.slots[node.name].append(routed_away)

    def _complete(self, node: Node, unit: Unit, outputs: list[list[Row]]) -> None:
        """Record a finished unit: consume its batches and emit its output, atomically (the
        routing is chosen first: a routing function that raises changes nothing)."""
        routed_away = node.kind != "global" and unit.routed_away
        if node.kind == "global":
            choices = [self._route(node, seq) for seq in range(len(outputs))]
        elif not routed_away:
            choices = [self._route(node, unit.seq)]
        del node.inflight[unit.seq]
        if node.requests is not None:
            node.requests.consume(unit.hashes)
        node.stats.rows_in += unit.size
        failed = self._count_failed(node, outputs)
        node.stats.failed_rows += failed
        if routed_away:
            self._pass_routed_away(node, unit.seq)
        elif node.kind == "global":
            for seq, (rows, chosen) in enumerate(zip(outputs, choices, strict=True)):
                self._emit(node, seq, rows, chosen)
        else:
            self._emit(node, unit.seq, outputs[0], choices[0])
        if failed:
            self._check_failed_fraction(node)
        assert self._signal is not None
        self._signal.notify()

    def _count_failed(self, node: Node, outputs: list[list[Row]]) -> int:
        """`node`'s failed rows in `outputs`, their errors tallied."""
        return count_failed(outputs, f"error_{node.name}", self.failures.tallies[node.name])

    def _check_failed_fraction(self, node: Node) -> None:
        """Stop the run once `node`'s failed rows are over `max_failed_fraction`."""
        failed, rows = node.stats.failed_rows, node.stats.rows_out
        limit = self.max_failed_fraction
        if self.too_many_failures is None and exceeds(failed, rows, limit):
            assert limit is not None
            self.too_many_failures = TooManyFailuresError(
                node.name, failed, rows, limit, self.failures.tallies[node.name]
            )
            self.request_stop(self.too_many_failures.reason)

    def _finish(self, node: Node) -> None:
        node.done = True
        for succ in node.succs:
            succ.closed.add(node.name)
        if self._signal is not None:
            self._signal.notify()
