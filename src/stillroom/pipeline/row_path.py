"""A task on the row path: its LLM requests row by row, its output batch by batch, in order.

The engine feeds a task this way when it uses the default `Task.process` with an async LLM
(`execution.uses_row_path`): up to `max_concurrent_requests` rows are in flight at once,
across batch boundaries, so a slow request holds back only its own batch's output, never
the requests after it (no batch barrier).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from stillroom.pipeline.execution import finish_rows, prepare_rows, process_row
from stillroom.pipeline.nodes import DONE, Node, Unit
from stillroom.pipeline.requests import Ledger

if TYPE_CHECKING:
    from stillroom.pipeline.cached_llm import CachedLLM
    from stillroom.steps.typing import Row

ROWS_HELD_PER_REQUEST = 20
"""Rows a row-path task may hold (admitted, output not yet emitted) per concurrent request;
room for stragglers 20 latencies long before admission pauses."""


class RowEngine(Protocol):
    """What the row path needs of the engine running it."""

    stopping: bool
    _signal: Any

    async def _wait_for_work(self, node: Node, can_start: Callable[[], bool]) -> None: ...

    def _complete(self, node: Node, unit: Unit, outputs: list[list[Row]]) -> None: ...

    def _fail(self, node: Node | None, error: BaseException, seq: int | None) -> None: ...

    def _soon(self, node: Node, callback: Callable[[], None]) -> None: ...

    def _finish(self, node: Node) -> None: ...


@dataclass
class RowUnit:
    """A unit on the row path: its rows' results as they come, and what is left to do."""

    unit: Unit
    results: list[list[Row] | None]
    remaining: int
    llm: CachedLLM | None  # the task's LLM, noting the requests in the unit's ledger
    failed: bool = False


async def run_rows(engine: RowEngine, node: Node) -> None:
    """A task on the row path: requests row by row, output batch by batch, in order.

    Up to `max_concurrent_requests` workers each take the next admitted row as soon as
    their previous one is done, in the same step of the loop: a new request leaves
    before the other replies that arrived together are processed, so replies that come
    back in bursts do not hold the next requests back. A finished unit is emitted just
    after, in input order.
    """
    assert engine._signal is not None
    task = node.step
    limit = task.llm.max_concurrent_requests  # type: ignore[attr-defined]
    hold_limit = ROWS_HELD_PER_REQUEST * limit
    order: deque[RowUnit] = deque()
    waiting: deque[tuple[RowUnit, int, Row]] = deque()
    workers: set[asyncio.Task[None]] = set()
    # Workers still taking rows. Not `len(workers)`: a worker that found `waiting` empty
    # has returned, but leaves `workers` only when its done callback runs, a loop step
    # later; counted until then, a unit admitted in between could find every worker gone
    # and its rows never taken.
    taking = 0

    def emit_ready() -> None:
        while order and order[0].remaining == 0 and not order[0].failed:
            done = order.popleft()
            node.held -= done.unit.size
            rows = [row for part in done.results if part for row in part]
            engine._complete(node, done.unit, [finish_rows(task, rows)])  # type: ignore[arg-type]

    async def work(item: tuple[RowUnit, int, Row] | None) -> None:
        nonlocal taking
        try:
            while item is not None:
                current, index, row = item
                try:
                    current.results[index] = await process_row(task, row, current.llm)  # type: ignore[arg-type]
                except BaseException as exc:
                    current.failed = True  # a unit missing rows is never emitted
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    engine._fail(node, exc, current.unit.seq)
                    return
                finally:
                    current.remaining -= 1
                    if current.remaining == 0:
                        engine._soon(node, emit_ready)  # after the next request has left
                item = waiting.popleft() if waiting and not engine.stopping else None
        finally:
            taking -= 1

    try:
        while True:
            await engine._wait_for_work(node, lambda: node.held < hold_limit)
            if engine.stopping or node.readiness() == DONE:
                break
            unit = node.take()
            engine._signal.notify()
            try:
                rows = prepare_rows(task, unit.inputs())  # type: ignore[arg-type]
            except Exception as exc:
                engine._fail(node, exc, unit.seq)
                break
            llm = node.cached.for_unit(Ledger(unit.hashes)) if node.cached is not None else None
            current = RowUnit(unit, [None] * len(rows), len(rows), llm)
            order.append(current)
            node.held += unit.size
            if not rows:
                emit_ready()
                continue
            waiting.extend((current, index, row) for index, row in enumerate(rows))
            while waiting and taking < limit:
                taking += 1
                worker = asyncio.create_task(work(waiting.popleft()))
                workers.add(worker)
                worker.add_done_callback(workers.discard)
        if workers:
            await asyncio.gather(*workers)  # each worker reports its own failure
    except asyncio.CancelledError:
        for worker in workers:
            worker.cancel()
        raise
    emit_ready()
    if not engine.stopping and not order:
        engine._finish(node)
