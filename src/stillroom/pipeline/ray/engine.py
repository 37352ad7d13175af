"""The local engine's scheduler, with every step running in Ray actors.

`RayEngine` is the local `Engine` (same graph walk, slots and back-pressure, ordering,
checkpoints, writers, Ctrl-C and summary) with one difference: where step code runs. Each
step gets `resources.replicas` `StepReplica` actors (`replicas.py`); the driver sends each
unit of rows to the least busy replica as an object reference, keeps at most a few units in
flight per replica (back-pressure), and records the results in source order, so the rows,
the checkpoints and the Distiset are those the local engine would produce. A leaf step's
replicas write its rows themselves (`leaves.py`): only the parts' names and counts come
back. With load groups, a group's replicas start when the earlier groups have finished and
are stopped when it has, before the next group's start.

The run's state lives under a URL (`state.py`): the driver writes checkpoints and the
request ledger there (`RayStore`), and each replica of a task keys, looks up and journals
its own requests (`journal.py`), so no request waits on another process.

Rows between steps skip the driver too (`between.py`): a replica returns each output batch
as an object reference and a part under the storage; the driver keeps them in the batch
(`RemoteRows`) and the next step's replica fetches the rows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import ray

from stillroom.errors import StillroomError, UnsafeStateError
from stillroom.pipeline.cached_embeddings import step_embeddings
from stillroom.pipeline.errors import PipelineValidationError
from stillroom.pipeline.execution import execute_unit
from stillroom.pipeline.nodes import Node, Unit
from stillroom.pipeline.ray.actors import RequestState, StepCounterActor, execute_rows
from stillroom.pipeline.ray.between import Between, Piece, RemoteRows, RowStore
from stillroom.pipeline.ray.journal import checked_sqlite
from stillroom.pipeline.ray.leaves import LeafPart, LeafTarget, ReplicaParts, leaf_folder
from stillroom.pipeline.ray.replicas import (
    RemoteBatches,
    ReplicaPool,
    actor_options,
    nodes_fitting,
    wanted_resources,
)
from stillroom.pipeline.ray.state import RayStore, read_counts
from stillroom.pipeline.requests import Ledger, RequestStats
from stillroom.pipeline.row_path import ROWS_HELD_PER_REQUEST
from stillroom.pipeline.scheduler import Engine
from stillroom.steps.tasks.base import _Task

if TYPE_CHECKING:
    from collections.abc import Callable

    from stillroom.pipeline.contracts import RunConfig, RunIdentity, Store
    from stillroom.pipeline.graph import DAG
    from stillroom.pipeline.writers import LeafWriter
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

_PART_NAME = re.compile(r"[A-Za-z0-9_.-]+-[0-9a-f]{32}\.pkl")
"""The name `between.spill` gives a part: the step's folder name, a uuid4, `.pkl`."""

UNITS_PER_REPLICA = 2
"""Units in flight per replica of a normal or global step: one running, one already shipped."""


@dataclass
class PoolRequests:
    """The driver's view of a task's requests: its replicas' counters summed, and the
    counts of finished units, kept with the next checkpoint."""

    store: RayStore
    step: str
    model: str
    pools: dict[str, ReplicaPool] = field(default_factory=dict)

    @property
    def stats(self) -> RequestStats:
        pool = self.pools.get(self.step)
        parts = list(pool.stats.values()) if pool is not None else []
        if not parts:
            return RequestStats(model=self.model)
        total = RequestStats(model=parts[0].model, prices=parts[0].prices, limit=parts[0].limit)
        for part in parts:
            total.sent += part.sent
            total.cache_hits += part.cache_hits
            total.failed += part.failed
            total.in_flight += part.in_flight
            total.input_tokens += part.input_tokens
            total.output_tokens += part.output_tokens
            total.cached_tokens += part.cached_tokens
            for name, count in part.errors.items():
                total.errors[name] = total.errors.get(name, 0) + count
        return total

    def consume(self, hashes: list[bytes]) -> None:
        if hashes:
            self.store.consume(self.step, hashes)


# --- the engine ---------------------------------------------------------------------------------


class RayEngine(Engine):
    """`Engine` with step code in Ray actors; the driver keeps the schedule and the checkpoints."""

    def __init__(
        self,
        dag: DAG,
        store: RayStore,
        run: RunIdentity,
        writers: dict[str, LeafWriter],
        config: RunConfig,
        executor: RayExecutor,
    ) -> None:
        super().__init__(dag, store, run, writers, config)
        self.ray_store = store
        self.executor = executor
        self.pools: dict[str, ReplicaPool] = {}
        self.placements: dict[str, dict[str, int]] = {}
        """Per step, the units each Ray node ran (filled when the run ends; the runner puts
        it in the summary)."""
        self._ledgers: list[str] = []
        reach = replicas_reach(executor.storage)
        for node in self.nodes.values() if reach else ():
            if node.writer is not None and node.kind in ("batches", "rows"):
                folder = leaf_folder(store.root, run.signature, node.name)
                node.writer = ReplicaParts(node.writer, store.root, folder)
        root = store.root
        self.row_store = (
            RowStore(root.url, root.options, root.join("runs", run.signature, "between"))
            if reach
            else None
        )
        """Where replicas keep the batches between steps (None: they go through the driver)."""
        self._parts: set[str] = set()
        """Parts of batches between steps the driver was told of and has not removed."""
        problems = [
            f"Step {node.name!r} is a {node.kind} step, which runs as one replica; it asks "
            f"for resources.replicas={node.step.resources.replicas}. Set it to 1."
            for node in self.nodes.values()
            if node.kind in ("generator", "global") and node.step.resources.replicas > 1
        ]
        if problems:
            raise PipelineValidationError(executor.pipeline_name, problems)

    def install_llms(self) -> None:
        """The replicas of each task (and of each step with an embedding model) keep its
        request cache; the driver keeps its counters and the counts of finished units
        (`PoolRequests`)."""
        self.ray_store.begin(self.run_id)
        self._ledgers = self.ray_store.committed_ledgers()
        for node in self.nodes.values():
            if (model := requesting_model(node)) is not None:
                node.requests = PoolRequests(  # type: ignore[assignment]
                    self.ray_store, node.name, model.model_name, self.pools
                )

    def _request_state(self, node: Node) -> tuple[Callable[[], RequestState | None], Any]:
        """What each (new) replica of `node` is given to key and cache its requests, and
        the step's `StepCounter` actor when it has several replicas."""
        if requesting_model(node) is None:
            return (lambda: None), None
        read = self.config.use_cache and node.step.use_cache
        counter = None
        if node.step.resources.replicas > 1:
            counts = read_counts(self.ray_store.root, self._ledgers, node.name)
            counter = StepCounterActor.options(scheduling_strategy=driver_affinity()).remote(counts)

        def state() -> RequestState:
            pool = self.pools.get(node.name)
            return RequestState(
                url=self.ray_store.root.url,
                options=self.ray_store.root.options,
                run=self.run_id,
                read=read,
                sqlite_path=self.executor.sqlite_path,
                ledgers=self._ledgers,
                returned=list(pool.returned) if pool is not None and counter is None else [],
                counter=counter,
            )

        return state, counter

    async def run(self) -> None:
        """Check that every step's replicas fit the cluster before any starts, then run."""
        check_resources(self.nodes.values())
        self._warn_of_local_state()
        self._parts = self._pending_parts()
        if self.row_store is not None:  # parts written after the checkpoint resumed from
            self._check_part_paths(self.row_store.folder)
            keep = {path.rsplit("/", 1)[-1] for path in self._parts}
            listed = self.ray_store.root.listing(self.row_store.folder)
            self.ray_store.root.remove(p for p in listed if p.rsplit("/", 1)[-1] not in keep)
        await super().run()

    def _check_part_paths(self, folder: str) -> None:
        """Every part a restored checkpoint names lies in this run's folder of parts: the
        driver removes those parts and replicas read them, so a checkpoint written by
        someone else must not point them at other files."""
        outside = sorted(
            path
            for path in self._parts
            if not path.startswith(f"{folder}/")
            or not _PART_NAME.fullmatch(path[len(folder) + 1 :])
        )
        if outside:
            raise UnsafeStateError(
                f"Refused to resume from {self.ray_store.checkpoint_path(self.signature)}: it "
                f"names {len(outside)} batch part(s) outside {folder}, e.g. {outside[0]!r}. "
                "stillroom writes parts only there: someone who can write to the run's "
                "storage changed the checkpoint. Delete it (or run with use_cache=False) to "
                "start afresh, and check who can write there."
            )

    def _pending_parts(self) -> set[str]:
        """The parts of the batches between steps that are still to be run."""
        return {
            rows.path
            for node in self.nodes.values()
            for _, batch in node.pending()
            if isinstance(rows := getattr(batch, "rows", None), RemoteRows)
        }

    def checkpoint(self, status: str = "running", force_flush: bool = False) -> bool:
        """A checkpoint (naming the parts of the batches between steps that wait), then
        the parts no batch needs any more removed."""
        saved = super().checkpoint(status, force_flush)
        if saved and self.row_store is not None:
            pending = self._pending_parts()
            self.ray_store.root.remove(self._parts - pending)
            self._parts = pending
        return saved

    async def _load_steps(self, nodes: list[Node]) -> None:
        """Start the replicas of `nodes` (every step, or one load group's); a generator of
        in-code rows is loaded here, on the driver, at the same time."""
        here = [node for node in nodes if on_driver(node)]
        nodes = [node for node in nodes if not on_driver(node)]
        for node in nodes:
            requests, counter = self._request_state(node)
            self.pools[node.name] = ReplicaPool(
                node,
                _per_replica(node),
                requests,
                self.ray_store.root.url,
                counter,
                self._leaf_target(node),
                self.row_store,
            )
        started = time.monotonic()
        await asyncio.gather(
            super()._load_steps(here),
            *(self.pools[node.name].start(self._wake, self._failing(node)) for node in nodes),
        )
        logger.info(
            "Ray replicas of %s started in %.2f s (a step's first replica; any others join "
            "as they start).",
            ", ".join(repr(node.name) for node in nodes),
            time.monotonic() - started,
        )

    def _wake(self) -> None:
        """A replica can take units (it joined, or gave one back): wake the scheduling."""
        if self._signal is not None:
            self._signal.notify()

    def _failing(self, node: Node) -> Callable[[BaseException], None]:
        """How a replica of `node` that cannot start, after another has, fails the run."""
        return lambda error: self._fail(node, error, None)

    def _leaf_target(self, node: Node) -> LeafTarget | None:
        """Where `node`'s replicas write its rows, when it is a leaf they write."""
        if not isinstance(node.writer, ReplicaParts):
            return None
        root = self.ray_store.root
        return LeafTarget(root.url, root.options, node.writer.folder, node.writer.format)

    def _warn_of_local_state(self) -> None:
        """State on the driver's disk is only safe when every replica can write there."""
        nodes = len([node for node in ray.nodes() if node.get("Alive")])
        tasks = any(requesting_model(node) is not None for node in self.nodes.values())
        if self.executor.storage is None and nodes > 1 and tasks:
            logger.warning(
                "The Ray cluster has %d nodes but the run keeps its state in %s, on the "
                "driver's disk: a replica on another machine journals to that path on its "
                "own disk, where a replacement or a resumed run cannot read it. Give "
                "RayPipeline a storage every node reaches (an NFS path, s3://...).",
                nodes,
                self.ray_store.root.url,
            )

    async def _unload_steps(self, nodes: list[Node], pool: bool = False) -> None:
        """Unload the replicas of `nodes` and stop them (a load group's stop before the next
        group's start), noting where their units ran."""
        pools = [self.pools[node.name] for node in nodes if node.name in self.pools]
        here = [node for node in nodes if on_driver(node)]
        await asyncio.gather(super()._unload_steps(here), *(pool.unload() for pool in pools))
        for node in here:
            self.placements[node.name] = {"driver": node.next_seq}
        for replicas in pools:
            replicas.kill()
            self.placements[replicas.name] = dict(replicas.placements)
            where = ", ".join(f"{n[:12]}: {c}" for n, c in sorted(replicas.placements.items()))
            logger.info("Ray step %r ran its units on node(s) %s.", replicas.name, where or "none")

    def shutdown(self) -> None:
        """Stop the replicas (whatever happened to the run) and the driver's threads."""
        for pool in self.pools.values():
            pool.kill()
        super().shutdown()

    def _batches_of(self, node: Node) -> Any:
        if on_driver(node):
            return super()._batches_of(node)
        assert self.loop is not None
        return RemoteBatches(self.pools[node.name], node, self.loop)

    def _next_batch(self, node: Node, batches: Any, ledger: Ledger) -> Any:
        if on_driver(node):
            return super()._next_batch(node, batches, ledger)
        left = None if self.row_limit is None else self.row_limit - node.gen_offset
        item = batches.next_batch(ledger, left)
        if item is not None and isinstance(item[0], Between):
            return self._remote(item[0]), item[1]
        return item

    def _remote(self, between: Between) -> list[Row]:
        """A batch's rows as the driver keeps them (a `RemoteRows` in a row list's place:
        nothing on the driver reads them)."""
        return cast("list[Row]", RemoteRows.of(between))

    def _emit(self, node: Node, seq: int, rows: list[Row], chosen: set[str] | None) -> None:
        """The parts of batches between steps are noted as they go on (on the loop, so a
        checkpoint never removes the part of a batch it has not seen yet)."""
        if isinstance(rows, RemoteRows):
            self._parts.add(rows.path)
        super()._emit(node, seq, rows, chosen)

    async def _call(self, node: Node, function: Callable[..., Any], unit: Unit) -> Any:
        part = node.writer.next_name() if isinstance(node.writer, ReplicaParts) else None
        pieces = [[_piece(batch.rows) for batch in batches] for batches in unit.kept()]
        return await self.pools[node.name].run(function, pieces, unit.hashes, part)

    def _count_failed(self, node: Node, outputs: list[list[Row]]) -> int:
        """Failed rows of batches kept out of the driver come with their errors."""
        if not any(isinstance(rows, RemoteRows) for rows in outputs):
            return super()._count_failed(node, outputs)
        tally = self.failures.tallies[node.name]
        errors = [error for rows in outputs for error in cast("RemoteRows", rows).errors]
        for error in errors:
            tally.add(error)
        return len(errors)

    def _complete(self, node: Node, unit: Unit, outputs: list[Any]) -> None:
        """A leaf's unit whose rows its replica wrote (a `LeafPart`): recorded as a unit
        without rows, then the part, its rows and failed rows counted. Output batches kept
        out of the driver (`Between`) go on as `RemoteRows`."""
        if outputs and isinstance(outputs[0], Between):
            outputs = [self._remote(between) for between in outputs]
        if not (outputs and isinstance(outputs[0], LeafPart)):
            super()._complete(node, unit, outputs)
            return
        part = outputs[0]
        assert isinstance(node.writer, ReplicaParts)
        node.writer.add(part)
        super()._complete(node, unit, [[]])
        node.stats.rows_out += part.rows
        node.stats.failed_rows += len(part.errors)
        tally = self.failures.tallies[node.name]
        for error in part.errors:
            tally.add(error)
        if part.errors:
            self._check_failed_fraction(node)

    async def _run_batches(self, node: Node) -> None:
        await self._run_remote(node, execute_unit)

    async def _run_rows(self, node: Node) -> None:
        await self._run_remote(node, execute_rows)

    async def _run_remote(self, node: Node, function: Callable[..., Any]) -> None:
        """Units to the replicas as they have room; outputs recorded in source order."""
        pool = self.pools[node.name]
        await self._run_in_order(node, function, lambda _: pool.has_room())


def _piece(rows: list[Row]) -> list[Row] | Piece:
    """What a replica is sent for one input batch: where its rows are, or the rows."""
    return rows.piece() if isinstance(rows, RemoteRows) else rows


def on_driver(node: Node) -> bool:
    """Whether `node` runs on the driver rather than in a replica: a `LoadDataFromDicts`
    (its rows are in the driver's memory already). A replica of its own cost a worker
    process and a round trip per batch, for rows the driver then had to ship to it; here
    each batch goes once into the object store, with the unit that takes it."""
    from stillroom.steps.generators.data import LoadDataFromDicts

    return type(node.step) is LoadDataFromDicts and not wanted_resources(actor_options(node))


def replicas_reach(storage: str | None) -> bool:
    """Whether the driver can read what the replicas write under the run's state: it lives
    at a storage URL the user gave for every node, or every node is on the driver's machine
    (else a leaf's rows come back to the driver, which writes them, as it always could)."""
    if storage is not None:
        return True
    hosts = {node.get("NodeManagerAddress") for node in ray.nodes() if node.get("Alive")}
    return len(hosts) == 1


def requesting_model(node: Node) -> Any:
    """The model whose requests `node`'s replicas cache: a task's LLM, another step's
    embedding model, or None."""
    if isinstance(node.step, _Task):
        return node.step.llm
    return step_embeddings(node.step)


def driver_affinity() -> Any:
    """Ray's strategy for an actor on the driver's node (the head node for a client)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        node = ray.get_runtime_context().get_node_id()
    except Exception:  # a Ray client has no node of its own
        node = next(
            n["NodeID"]
            for n in ray.nodes()
            if n.get("Alive") and "node:__internal_head__" in n.get("Resources", {})
        )
    return NodeAffinitySchedulingStrategy(node, soft=False)


def _per_replica(node: Node) -> tuple[int, int]:
    """Units a replica may hold: a row-path task holds as many rows as the local engine
    would. While other replicas of the step are still starting, it holds only enough to
    keep its request slots full, so that those joining find units left."""
    if node.kind != "rows":
        return UNITS_PER_REPLICA, UNITS_PER_REPLICA
    limit = node.step.llm.max_concurrent_requests  # type: ignore[attr-defined]
    batch = max(1, node.step.input_batch_size)  # type: ignore[attr-defined]
    return (
        max(UNITS_PER_REPLICA, math.ceil(ROWS_HELD_PER_REQUEST * limit / batch)),
        max(UNITS_PER_REPLICA, math.ceil(limit / batch) + 1),
    )


def check_resources(nodes: Any) -> None:
    """Fail before starting anything when a replica asks for more than any node has
    (Ray would otherwise wait for it forever)."""
    problems = []
    for node in nodes:
        wanted = wanted_resources(actor_options(node))
        if wanted and not nodes_fitting(wanted):
            asked = ", ".join(f"{name}={amount:g}" for name, amount in wanted.items())
            problems.append(
                f"Step {node.name!r}: each replica asks for {asked}, which no node of the Ray "
                "cluster has. Lower its resources or add a node that has them."
            )
    if problems:
        raise StillroomError("\n".join(problems))


class RayExecutor:
    """Step code runs in Ray actors; the run's state lives under `storage` (a URL), or in
    `<pipeline directory>/ray` when none is given."""

    def __init__(
        self,
        pipeline_name: str,
        storage: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.storage = storage
        self.storage_options = storage_options
        self.sqlite_path: str | None = None

    def open_store(self, directory: Path, strict: bool) -> RayStore:
        self.sqlite_path = checked_sqlite(directory.resolve(), strict)
        if self.storage is None:
            url = str(directory.resolve() / "ray")
        else:
            url = f"{self.storage.rstrip('/')}/{directory.name}"
        return RayStore(url, self.sqlite_path, self.storage_options)

    def engine(
        self,
        dag: DAG,
        store: Store,
        run: RunIdentity,
        writers: dict[str, LeafWriter],
        config: RunConfig,
    ) -> RayEngine:
        assert isinstance(store, RayStore)  # what `open_store` gave
        return RayEngine(dag, store, run, writers, config, self)
