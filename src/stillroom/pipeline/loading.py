"""Loading and unloading the steps of a run: all at once, or stage by stage.

`StepLoading` is the part of the engine (`scheduler.Engine`) that calls the steps' `load()`
and `unload()` in worker threads, and starts the process pool that runs (and loads) the
`cpu_bound` steps. With load groups (`load_stages.py`) it is called once per stage, and a
stage's pool is shut down with its steps; a distributed engine overrides `_load` and
`_unload` (all the steps at once).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from stillroom.pipeline.workers import init_worker

if TYPE_CHECKING:
    from stillroom.pipeline.nodes import Node
    from stillroom.pipeline.workers import DaemonThreads

logger = logging.getLogger("stillroom.pipeline")


class StepLoading:
    """`load()` before a step's first batch, `unload()` after its last."""

    nodes: dict[str, Node]
    aborted: bool
    _threads: DaemonThreads
    _processes: ProcessPoolExecutor | None
    _process_workers: int

    async def _load(self) -> None:
        """Load every step (a run without load groups)."""
        await self._load_steps(list(self.nodes.values()))

    async def _unload(self) -> None:
        """Unload every step (a run without load groups)."""
        await self._unload_steps(list(self.nodes.values()))

    async def _load_steps(self, nodes: list[Node]) -> None:
        """Load `nodes` in threads; their `cpu_bound` steps get a process pool, where each
        worker loads a step the first time it runs one of its batches."""
        await asyncio.gather(*(self._threads.run(n.step.load) for n in nodes if not n.cpu_bound))
        specs = {n.name: (type(n.step), n.step.dump()) for n in nodes if n.cpu_bound}
        if specs:
            self._processes = ProcessPoolExecutor(
                max_workers=self._process_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(specs,),
            )

    async def _unload_steps(self, nodes: list[Node], pool: bool = False) -> None:
        """Unload `nodes` (a failure is logged: what they made is kept); with `pool`, also
        shut down the process pool of their `cpu_bound` steps, which unloads those."""

        async def unload(node: Node) -> None:
            try:
                await self._threads.run(node.step.unload)
            except Exception as exc:
                logger.warning("Unloading step %r failed: %s", node.name, exc)

        await asyncio.gather(*(unload(n) for n in nodes if not n.cpu_bound))
        processes = self._processes
        if pool and processes is not None and any(n.cpu_bound for n in nodes):
            self._processes = None
            await asyncio.get_running_loop().run_in_executor(None, processes.shutdown)
