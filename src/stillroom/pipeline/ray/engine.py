"""The local engine's scheduler, with every step running in Ray actors.

`RayEngine` is the local `Engine` (same graph walk, slots and back-pressure, ordering,
checkpoints, writers, Ctrl-C and summary) with one difference: where step code runs. Each
step gets `resources.replicas` `StepReplica` actors with its `cpus`, `gpus`, `memory` and
custom `resources`; the driver sends each unit of rows to the least busy replica as an object
reference, keeps at most a few units in flight per replica (back-pressure), and records the
results in source order, so the rows, the checkpoints and the Distiset are those the local
engine would produce. The cache database is owned by a `CacheKeeper` actor on the driver's
machine; `KeeperStore` is the driver's handle on it, with the `Store` methods the runner and
the engine call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from stillroom.errors import DamagedCacheError, StillroomError, StorageError
from stillroom.pipeline.errors import PipelineValidationError
from stillroom.pipeline.execution import execute_unit
from stillroom.pipeline.nodes import Node, Unit
from stillroom.pipeline.ray.actors import CacheKeeperActor, StepReplicaActor, execute_rows
from stillroom.pipeline.ray.transfer import pack
from stillroom.pipeline.requests import Ledger, RequestStats
from stillroom.pipeline.row_path import ROWS_HELD_PER_REQUEST
from stillroom.pipeline.scheduler import Engine
from stillroom.steps.tasks.base import _Task, describe_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from stillroom.pipeline.contracts import RunConfig, RunIdentity, Store
    from stillroom.pipeline.graph import DAG
    from stillroom.pipeline.writers import LeafWriter
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

UNITS_PER_REPLICA = 2

REPLICA_RESTARTS = 3
"""New replicas started for one unit whose replicas keep dying, before the run fails."""
"""Units in flight per replica of a normal or global step: one running, one already shipped."""


# --- the cache database -----------------------------------------------------------------------


def _driver_node() -> str:
    """The Ray node whose file system is the driver's (the head node for a `ray://` client)."""
    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # a Ray client has no node of its own
        for node in ray.nodes():
            if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}):
                return node["NodeID"]
        raise


class KeeperStore:
    """The driver's `Store`: each call goes to the `CacheKeeper` actor that owns the database."""

    def __init__(self, directory: Path, strict: bool = False) -> None:
        self.directory = directory.resolve()  # workers run from other working directories
        self.keeper = CacheKeeperActor.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(_driver_node(), soft=False)
        ).remote(str(self.directory), strict)
        try:
            ray.get(self.keeper.opened.remote())
        except DamagedCacheError:
            ray.kill(self.keeper)
            raise
        self.stats: dict[str, RequestStats] = {}
        self._consumed: dict[str, list[bytes]] = {}
        self.failure: StorageError | None = None
        """Always None here: a write the keeper could not make is raised by its next call."""

    def load_run(self, signature: str) -> tuple[str, bytes | None, list[tuple[str, int, bytes]]]:
        return ray.get(self.keeper.load_run.remote(signature))

    def consume(self, step: str, hashes: list[bytes]) -> None:
        """Count a finished unit's requests as done, with the next checkpoint (as locally)."""
        self._consumed.setdefault(step, []).extend(hashes)

    def save_run(
        self,
        signature: str,
        status: str,
        state: bytes,
        added: list[tuple[str, int, bytes]],
        removed: Any,
        updated: float,
    ) -> None:
        consumed, self._consumed = self._consumed, {}
        ray.get(
            self.keeper.save_run.remote(
                signature, status, state, added, list(removed), updated, consumed
            )
        )

    def clear_run(self, signature: str, run: str | None = None) -> None:
        ray.get(self.keeper.clear_run.remote(signature, run))

    def commit(self) -> None:
        self.stats = ray.get(self.keeper.commit.remote())

    def close(self) -> None:
        """Close the database (what no checkpoint committed is dropped, as locally)."""
        try:
            ray.get(self.keeper.close.remote())
        finally:
            ray.kill(self.keeper)


@dataclass
class KeptRequests:
    """The driver's view of a task's request cache: counters, and counts of finished units."""

    store: KeeperStore
    step: str
    model: str

    @property
    def stats(self) -> RequestStats:
        return self.store.stats.get(self.step) or RequestStats(model=self.model)

    def consume(self, hashes: list[bytes]) -> None:
        if hashes:
            self.store.consume(self.step, hashes)


# --- replicas -----------------------------------------------------------------------------------


def actor_options(node: Node) -> dict[str, Any]:
    """Ray actor options from a step's `resources`."""
    resources = node.step.resources
    options: dict[str, Any] = {"num_cpus": resources.cpus or 0}
    if resources.gpus:
        options["num_gpus"] = resources.gpus
    if resources.memory:
        options["memory"] = resources.memory
    if resources.resources:
        options["resources"] = dict(resources.resources)
    if resources.replicas > 1:
        options["scheduling_strategy"] = "SPREAD"
    return options


def _cause(error: BaseException, step: str) -> BaseException:
    """The step's own exception out of Ray's wrapping, or a clear error for a lost replica."""
    if isinstance(error, RayTaskError):
        cause = getattr(error, "cause", None)
        return cause if isinstance(cause, BaseException) else error
    if isinstance(error, RayActorError):
        return StillroomError(
            f"A Ray replica of step {step!r} stopped: {error}. What was finished is saved; "
            "run the pipeline again to resume."
        )
    return error


class ReplicaPool:
    """A step's replicas, and how many units each is working on."""

    def __init__(self, node: Node, keeper: Any, per_replica: int) -> None:
        self.name = node.name
        try:
            packed = pack(node.step)
        except Exception as exc:
            raise StillroomError(
                f"Step {self.name!r} cannot be sent to Ray: its configuration cannot be "
                f"pickled ({describe_error(exc)}). Build clients, models and other runtime "
                "objects in load() and keep them in private attributes."
            ) from exc
        self._packed, self._keeper, self._options = packed, keeper, actor_options(node)
        self.actors = [self._new_actor() for _ in range(node.step.resources.replicas)]
        self.busy = [0] * len(self.actors)
        self.per_replica = per_replica
        self._replacing = asyncio.Lock()

    def _new_actor(self) -> Any:
        return StepReplicaActor.options(**self._options).remote(self._packed, self._keeper)

    async def start(self) -> None:
        """Build and load the step in every replica."""
        try:
            await asyncio.gather(*(actor.start.remote() for actor in self.actors))
        except (RayActorError, RayTaskError) as exc:
            cause = _cause(exc, self.name)
            raise StillroomError(
                f"Step {self.name!r} could not start on Ray: {describe_error(cause)}"
            ) from cause

    def has_room(self) -> bool:
        return min(self.busy) < self.per_replica

    async def run(self, function: Callable[..., Any], inputs: list[list[Row]]) -> Any:
        """`function(step, inputs)` on the least busy replica: (result, request hashes).

        A replica that dies (its process killed, its node lost) is replaced by a new one and
        the unit runs again there, up to `REPLICA_RESTARTS` times; the keeper forgets what
        the dead attempt counted as sent, so its answered requests come from the cache.
        """
        data = ray.put(inputs)
        restarts = 0
        while True:
            index = self.busy.index(min(self.busy))
            actor = self.actors[index]
            attempt = uuid.uuid4().hex
            self.busy[index] += 1
            try:
                result = await actor.run.remote(function, data, attempt)
            except RayActorError as exc:
                await self._keeper.abandon.remote(attempt)
                if restarts == REPLICA_RESTARTS:
                    raise _cause(exc, self.name) from None
                restarts += 1
                logger.warning(
                    "A Ray replica of step %r stopped (%s); starting a new one and running "
                    "its batch again.",
                    self.name,
                    type(exc).__name__,
                )
                await self._replace(index, actor)
                continue
            except RayTaskError as exc:
                await self._keeper.abandon.remote(attempt)
                raise _cause(exc, self.name) from None
            finally:
                self.busy[index] -= 1
            self._keeper.settle.remote(attempt)
            return result

    async def _replace(self, index: int, dead: Any) -> None:
        """A started replica in place of `dead` (once, however many units it was running)."""
        async with self._replacing:
            if self.actors[index] is not dead:
                return
            actor = self._new_actor()
            try:
                await actor.start.remote()
            except (RayActorError, RayTaskError) as exc:
                raise StillroomError(
                    f"Step {self.name!r}: a new Ray replica could not start: "
                    f"{describe_error(_cause(exc, self.name))}"
                ) from None
            self.actors[index] = actor

    async def unload(self) -> None:
        try:
            await asyncio.gather(*(actor.unload.remote() for actor in self.actors))
        except (RayActorError, RayTaskError) as exc:
            logger.warning(
                "Unloading step %r failed: %s", self.name, describe_error(_cause(exc, self.name))
            )

    def kill(self) -> None:
        for actor in self.actors:
            ray.kill(actor)


class RemoteBatches:
    """A generator step's batches, produced by its replica (called from a worker thread)."""

    def __init__(self, pool: ReplicaPool, offset: int) -> None:
        self.pool = pool
        self.actor = pool.actors[0]
        ray.get(self.actor.start_batches.remote(offset))

    def next_batch(self, ledger: Ledger) -> tuple[list[Row], bool] | None:
        """The next batch (None at the end); the requests it made go to `ledger`."""
        try:
            item, hashes = ray.get(self.actor.next_batch.remote())
        except (RayActorError, RayTaskError) as exc:
            raise _cause(exc, self.pool.name) from None
        ledger.hashes.extend(hashes)
        return item

    def close(self) -> None:
        try:
            ray.get(self.actor.close_batches.remote(), timeout=30)
        except Exception as exc:
            logger.debug("Closing the batches of %r: %s", self.pool.name, exc)


# --- the engine ---------------------------------------------------------------------------------


class RayEngine(Engine):
    """`Engine` with step code in Ray actors; the driver keeps the schedule and the checkpoints."""

    def __init__(
        self,
        dag: DAG,
        store: KeeperStore,
        run: RunIdentity,
        writers: dict[str, LeafWriter],
        config: RunConfig,
        pipeline_name: str,
    ) -> None:
        super().__init__(dag, store, run, writers, config)
        self.keeper_store = store
        self.pools: dict[str, ReplicaPool] = {}
        problems = [
            f"Step {node.name!r} is a {node.kind} step, which runs as one replica; it asks "
            f"for resources.replicas={node.step.resources.replicas}. Set it to 1."
            for node in self.nodes.values()
            if node.kind in ("generator", "global") and node.step.resources.replicas > 1
        ]
        if len(self.stages) > 1:
            problems.append(
                "load_groups are not honoured on Ray yet (every replica starts when the run "
                "does); run without them, or run this pipeline locally (Pipeline.run)."
            )
        if problems:
            raise PipelineValidationError(pipeline_name, problems)

    def install_llms(self) -> None:
        """Give each task a request cache in the keeper; the replicas relay to it."""
        registrations = []
        for node in self.nodes.values():
            if isinstance(node.step, _Task):
                read = self.config.use_cache and node.step.use_cache
                registrations.append(
                    self.keeper_store.keeper.add_task.remote(self.run_id, pack(node.step), read)
                )
                node.requests = KeptRequests(  # type: ignore[assignment]
                    self.keeper_store, node.name, node.step.llm.model_name
                )
        ray.get(registrations)

    async def _load(self) -> None:
        check_resources(self.nodes.values())
        for node in self.nodes.values():
            self.pools[node.name] = ReplicaPool(node, self.keeper_store.keeper, _per_replica(node))
        await asyncio.gather(*(pool.start() for pool in self.pools.values()))

    async def _unload(self) -> None:
        await asyncio.gather(*(pool.unload() for pool in self.pools.values()))

    def shutdown(self) -> None:
        """Stop the replicas (whatever happened to the run) and the driver's threads."""
        for pool in self.pools.values():
            pool.kill()
        self.pools.clear()
        super().shutdown()

    def _batches_of(self, node: Node) -> RemoteBatches:
        return RemoteBatches(self.pools[node.name], node.gen_offset)

    def _next_batch(self, node: Node, batches: Any, ledger: Ledger) -> Any:
        return batches.next_batch(ledger)

    async def _call(self, node: Node, function: Callable[..., Any], unit: Unit) -> Any:
        result, hashes = await self.pools[node.name].run(function, unit.inputs())
        unit.hashes.extend(hashes)
        return result

    async def _run_batches(self, node: Node) -> None:
        await self._run_remote(node, execute_unit)

    async def _run_rows(self, node: Node) -> None:
        await self._run_remote(node, execute_rows)

    async def _run_remote(self, node: Node, function: Callable[..., Any]) -> None:
        """Units to the replicas as they have room; outputs recorded in source order."""
        pool = self.pools[node.name]
        await self._run_in_order(node, function, lambda _: pool.has_room())


def _per_replica(node: Node) -> int:
    """Units a replica may hold: a row-path task holds as many rows as the local engine would."""
    if node.kind != "rows":
        return UNITS_PER_REPLICA
    limit = node.step.llm.max_concurrent_requests  # type: ignore[attr-defined]
    batch = max(1, node.step.input_batch_size)  # type: ignore[attr-defined]
    return max(UNITS_PER_REPLICA, math.ceil(ROWS_HELD_PER_REQUEST * limit / batch))


_RESOURCE_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def check_resources(nodes: Any) -> None:
    """Fail before starting anything when a replica asks for more than any node has
    (Ray would otherwise wait for it forever)."""
    capacities = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    problems = []
    for node in nodes:
        options = actor_options(node)
        wanted = {
            _RESOURCE_NAMES[key]: float(value)
            for key, value in options.items()
            if key in _RESOURCE_NAMES and value
        }
        wanted.update(options.get("resources", {}))
        if wanted and not any(
            all(capacity.get(name, 0.0) >= amount for name, amount in wanted.items())
            for capacity in capacities
        ):
            asked = ", ".join(f"{name}={amount:g}" for name, amount in wanted.items())
            problems.append(
                f"Step {node.name!r}: each replica asks for {asked}, which no node of the Ray "
                "cluster has. Lower its resources or add a node that has them."
            )
    if problems:
        raise StillroomError("\n".join(problems))


class RayExecutor:
    """Step code runs in Ray actors; the driver schedules, and the cache keeper actor owns
    the pipeline's SQLite store."""

    def __init__(self, pipeline_name: str) -> None:
        self.pipeline_name = pipeline_name

    def open_store(self, directory: Path, strict: bool) -> KeeperStore:
        return KeeperStore(directory, strict)

    def engine(
        self,
        dag: DAG,
        store: Store,
        run: RunIdentity,
        writers: dict[str, LeafWriter],
        config: RunConfig,
    ) -> RayEngine:
        assert isinstance(store, KeeperStore)  # what `open_store` gave
        return RayEngine(dag, store, run, writers, config, self.pipeline_name)
