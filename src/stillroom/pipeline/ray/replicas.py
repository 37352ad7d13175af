"""A step's replicas on the cluster: where they go, how units reach them, how they are replaced.

`ReplicaPool` starts `resources.replicas` `StepReplica` actors with the step's resources.
Several replicas of one step are pinned one per node in turn (a soft node affinity, so a
node without room passes its turn), which spreads 0-CPU actors too, as Ray's `SPREAD` does
not. The step runs as soon as one replica has started; the others join as they start. A
unit goes to the least busy started replica. A replica that dies (its process, or its node)
is replaced on another node that can hold it whenever there is one (a node that was just
lost may still be listed alive), with retries and a growing pause between them; the units
it held run again there, and their answered requests come from the journal. When no node
can take it, `ClusterLostError` says what was lost, what is saved and how to resume.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import (
    ActorUnschedulableError,
    GetTimeoutError,
    RayActorError,
    RayTaskError,
)
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from stillroom.errors import StillroomError
from stillroom.pipeline.ray.actors import RequestState, StepReplicaActor
from stillroom.pipeline.ray.between import Piece, RowStore
from stillroom.pipeline.ray.leaves import LeafTarget
from stillroom.pipeline.ray.transfer import pack
from stillroom.pipeline.requests import Ledger, RequestStats
from stillroom.steps.tasks.base import describe_error

if TYPE_CHECKING:
    from stillroom.pipeline.nodes import Node
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

REPLICA_RESTARTS = 3
"""New replicas started for one unit whose replicas keep dying, before the run fails."""
START_TRIES = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Pauses between tries to start a replacement (about 15 s in all)."""
START_TIMEOUT = 60.0
"""Seconds a replacement may take to start (build the step and `load()` it)."""
SETTLE_EVERY = 64
"""Finished attempts a multi-replica step tells its counter about in one call (a call per
unit cost about a millisecond of CPU across the driver, the raylets and the counter)."""

_RESOURCE_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


class ClusterLostError(StillroomError):
    """The cluster lost what a step needs and no surviving node can take its place."""


def actor_options(node: Node) -> dict[str, Any]:
    """Ray actor options from a step's `resources` (placement is chosen per replica)."""
    resources = node.step.resources
    options: dict[str, Any] = {"num_cpus": resources.cpus or 0}
    if resources.gpus:
        options["num_gpus"] = resources.gpus
    if resources.memory:
        options["memory"] = resources.memory
    if resources.resources:
        options["resources"] = dict(resources.resources)
    return options


def wanted_resources(options: dict[str, Any]) -> dict[str, float]:
    """The node resources (Ray's names) one replica with these options reserves."""
    wanted = {
        _RESOURCE_NAMES[key]: float(value)
        for key, value in options.items()
        if key in _RESOURCE_NAMES and value
    }
    wanted.update(options.get("resources", {}))
    return wanted


def nodes_fitting(wanted: dict[str, float]) -> list[str]:
    """Alive nodes whose total resources can hold one replica, in a stable order."""
    return sorted(
        node["NodeID"]
        for node in ray.nodes()
        if node.get("Alive")
        and all(
            node.get("Resources", {}).get(name, 0.0) >= amount for name, amount in wanted.items()
        )
    )


def cause_of(error: BaseException, step: str) -> BaseException:
    """The step's own exception out of Ray's wrapping, or a clear error for a lost replica."""
    if isinstance(error, RayTaskError):
        cause = getattr(error, "cause", None)
        return cause if isinstance(cause, BaseException) else error
    if isinstance(error, RayActorError):
        return StillroomError(f"A Ray replica of step {step!r} stopped: {error}")
    return error


class ReplicaPool:
    """A step's replicas, the node each runs on, and how many units each is working on."""

    def __init__(
        self,
        node: Node,
        per_replica: tuple[int, int],
        requests: Callable[[], RequestState | None],
        state_url: str,
        counter: Any = None,
        leaf: LeafTarget | None = None,
        rows: RowStore | None = None,
    ) -> None:
        self.name = node.name
        self.leaf = leaf
        """Where the replicas of a leaf step write its rows (`leaves.py`), if they do."""
        self.rows = rows
        """Where the replicas read and write the batches between steps (`between.py`)."""
        self.onward = rows is not None and bool(node.succs)
        """Whether output batches stay out of the driver (in Ray and as parts)."""
        try:
            packed = pack(node.step)
        except Exception as exc:
            raise StillroomError(
                f"Step {self.name!r} cannot be sent to Ray: its configuration cannot be "
                f"pickled ({describe_error(exc)}). Build clients, models and other runtime "
                "objects in load() and keep them in private attributes."
            ) from exc
        self._packed = ray.put(packed)  # shipped once, whatever the replicas and restarts
        self._options = actor_options(node)
        self._requests, self._state_url, self.counter = requests, state_url, counter
        self.replicas = node.step.resources.replicas
        self.per_replica, self.while_joining = per_replica
        """Units a replica may hold; and while others are still starting (`_per_replica`)."""
        self.actors: list[Any] = []
        """Per replica, its actor (None before `start`)."""
        self.nodes: list[str | None] = []
        """Per replica, the node it runs on (None until it has started)."""
        self.ready: list[bool] = []
        """Per replica, whether it has started (built and loaded the step)."""
        self.failed: set[int] = set()
        """Replicas that could not start (the run fails)."""
        self._starting: list[asyncio.Task[None]] = []
        self._first: asyncio.Future[None] | None = None
        self._wake: Callable[[], None] = lambda: None
        self.closed = False
        self.busy = [0] * self.replicas
        self.returned: list[bytes] = []
        """Request contents of every unit a replica gave back this session."""
        self.stats: dict[int, RequestStats] = {}
        """Latest request counters of each replica started (dead ones included)."""
        self.placements: dict[str, int] = {}
        """Units run per node id (for the summary)."""
        self.suspect: set[str] = set()
        """Nodes a replica died on: a replacement avoids them while another node fits."""
        self._replacing = asyncio.Lock()
        self._turn = -1
        self._settled: list[str] = []
        """Finished attempts the step counter has not been told of yet (`SETTLE_EVERY`)."""

    def _new_actor(self, placement: dict[str, Any]) -> Any:
        return StepReplicaActor.options(**self._options, **placement).remote(
            self._packed, self._requests(), self.leaf, self.rows
        )

    async def start(self, wake: Callable[[], None], fail: Callable[[BaseException], None]) -> None:
        """Start every replica, spread over the nodes; return as soon as one has built and
        loaded the step. The others join as they start, and `wake()` is called for each (and
        for each unit a replica gives back) so the engine hands them units: a replica
        waiting for room on a node, or loading a large model, holds back no unit. A replica
        that cannot start (its `load()` raised, or its process died at each try) fails the
        run: raised here while none has started, else given to `fail()`."""
        self._wake = wake
        candidates = nodes_fitting(wanted_resources(self._options))
        self.actors = [None] * self.replicas
        self.nodes = [None] * self.replicas
        self.ready = [False] * self.replicas
        first = self._first = asyncio.get_running_loop().create_future()
        began = time.monotonic()

        async def one(index: int) -> None:
            try:
                node = await self._start_one(index, candidates)
            except Exception as exc:
                cause = cause_of(exc, self.name)
                error = StillroomError(
                    f"Step {self.name!r} could not start on Ray: {describe_error(cause)}"
                )
                error.__cause__ = cause
                self.failed.add(index)
                if first.done():
                    fail(error)
                else:
                    first.set_exception(error)
                return
            self.nodes[index], self.ready[index] = node, True
            if not first.done():
                first.set_result(None)
                return
            logger.info(
                "Step %r: replica %d joined after %.2f s, on node %s.",
                self.name,
                index,
                time.monotonic() - began,
                node[:12],
            )
            wake()

        self._starting = [asyncio.create_task(one(i)) for i in range(self.replicas)]
        await first

    async def _start_one(self, index: int, candidates: list[str]) -> str:
        """Replica `index` started, on the node it returns. With several replicas the first
        try is pinned to the nodes in turn (Ray's soft affinity and `SPREAD` both let them
        gather on one node); a node without room, or a process that dies as it starts (up
        to `REPLICA_RESTARTS` times), lets Ray place the next try."""
        pinned = self.replicas > 1 and bool(candidates)
        for attempt in range(REPLICA_RESTARTS + 1):
            node = candidates[index % len(candidates)] if pinned and not attempt else None
            placement = (
                {}
                if node is None
                else {
                    "scheduling_strategy": NodeAffinitySchedulingStrategy(
                        node, soft=False, _fail_on_unavailable=True
                    )
                }
            )
            actor = self.actors[index] = self._new_actor(placement)
            try:
                return str(await actor.start.remote())
            except ActorUnschedulableError:
                ray.kill(actor)
                if node is None:
                    raise
                logger.info(
                    "Step %r: node %s has no room for replica %d now; Ray places it.",
                    self.name,
                    (node or "?")[:12],
                    index,
                )
            except RayActorError as exc:
                ray.kill(actor)
                if attempt == REPLICA_RESTARTS:
                    raise
                logger.warning(
                    "A Ray replica of step %r stopped as it started (%s); Ray places another.",
                    self.name,
                    type(exc).__name__,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def has_room(self) -> bool:
        """Whether a started replica can take another unit."""
        hold = self.per_replica if all(self.ready) else self.while_joining
        return any(ready and busy < hold for ready, busy in self._started())

    def _started(self) -> Iterator[tuple[bool, int]]:
        return zip(self.ready, self.busy, strict=True)

    def _least_busy(self) -> int:
        """The started replica with the fewest units in hand, taking turns among equals (so
        quick units do not all go to the first replica)."""
        fewest = min(busy for ready, busy in self._started() if ready)
        count = len(self.busy)
        self._turn = (self._turn + 1) % count
        return next(
            i
            for i in ((self._turn + k) % count for k in range(count))
            if self.ready[i] and self.busy[i] == fewest
        )

    def note(self, index: int, hashes: list[bytes], stats: RequestStats | None) -> None:
        """A replica gave a unit back: its requests, counters and node."""
        self.returned.extend(hashes)
        if stats is not None:
            self.stats[self.actors[index]._actor_id.hex()] = stats
        node = self.nodes[index] or "?"
        self.placements[node] = self.placements.get(node, 0) + 1

    async def run(
        self,
        function: Callable[..., Any],
        inputs: list[list[list[Row] | Piece]],
        hashes: list[bytes],
        part: str | None = None,
    ) -> Any:
        """`function(step, inputs)` on the least busy replica, its input batches rows or
        `Piece`s; the requests it made are added to `hashes`. `part`: the name a leaf's
        replica writes the rows as (a retry writes the same part again).

        A replica that dies is replaced (see the module docstring) and the unit runs again
        on its replacement (which read every journal when it started, the dead replica's
        included), up to `REPLICA_RESTARTS` times."""
        restarts = 0
        index = self._least_busy()
        while True:  # a retry goes to the replacement, which read the dead one's journal
            actor = self.actors[index]
            attempt = uuid.uuid4().hex
            self.busy[index] += 1
            try:
                result, made, stats = await actor.run.remote(
                    function, inputs, attempt, part, self.onward
                )
            except RayActorError as exc:
                if self.counter is not None:
                    await self.counter.abandon.remote(attempt)
                if restarts == REPLICA_RESTARTS:
                    raise self.lost(f"its replicas died {restarts + 1} times on one batch") from exc
                restarts += 1
                logger.warning(
                    "A Ray replica of step %r stopped (%s); starting a new one and running "
                    "its batch again.",
                    self.name,
                    type(exc).__name__,
                )
                await self.replace(index, actor)
                continue
            except RayTaskError as exc:
                if self.counter is not None:
                    await self.counter.abandon.remote(attempt)
                raise cause_of(exc, self.name) from None
            finally:
                self.busy[index] -= 1
                self._wake()  # a unit finished out of order records nothing to wake them
            if self.counter is not None:
                self._settle(attempt)
            self.note(index, made, stats)
            hashes.extend(made)
            return result

    def _settle(self, attempt: str) -> None:
        """Tell the counter of finished attempts, `SETTLE_EVERY` at a time (it holds the
        contents of at most that many finished ones; it ends with the pool)."""
        self._settled.append(attempt)
        if len(self._settled) >= SETTLE_EVERY:
            self.counter.settle.remote(self._settled)
            self._settled = []

    async def replace(self, index: int, dead: Any) -> None:
        """A started replica in place of `dead` (once, however many units it was running),
        on a node other than the one it died on whenever another can hold it."""
        async with self._replacing:
            if self.actors[index] is not dead:
                return
            lost = self.nodes[index]
            if lost is not None:
                self.suspect.add(lost)
            wanted = wanted_resources(self._options)
            problem = "no node can hold it"
            for pause in START_TRIES:
                fitting = nodes_fitting(wanted)
                candidates = [n for n in fitting if n not in self.suspect] or fitting
                if candidates:
                    node = candidates[index % len(candidates)]
                    strategy = NodeAffinitySchedulingStrategy(node, soft=False)
                    actor = self._new_actor({"scheduling_strategy": strategy})
                    started = None
                    try:
                        started = await asyncio.wait_for(
                            asyncio.wrap_future(actor.start.remote().future()), START_TIMEOUT
                        )
                    except (RayActorError, GetTimeoutError, TimeoutError) as exc:
                        self.suspect.add(node)
                        problem = f"a new replica on node {node[:12]} did not start ({exc})"
                    except RayTaskError as exc:
                        cause = cause_of(exc, self.name)
                        raise StillroomError(
                            f"Step {self.name!r}: a new Ray replica could not start: "
                            f"{describe_error(cause)}"
                        ) from None
                    finally:
                        if started is None:  # it failed, or the run ended as it started
                            ray.kill(actor)
                    if started is not None and self.closed:  # the run ended meanwhile
                        ray.kill(actor)
                        return
                    if started is not None:
                        self.actors[index], self.nodes[index] = actor, started
                        logger.warning(
                            "Step %r: replica %d now runs on node %s.",
                            self.name,
                            index,
                            started[:12],
                        )
                        return
                await asyncio.sleep(pause)
            raise self.lost(f"its replica on node {(lost or '?')[:12]} was lost and {problem}")

    def lost(self, what: str) -> ClusterLostError:
        return ClusterLostError(
            f"The Ray cluster cannot go on with step {self.name!r}: {what}. Every batch "
            f"recorded by the last checkpoint and every reply journaled is saved in "
            f"{self._state_url}. Add nodes with the resources the step asks for "
            f"({wanted_resources(self._options) or 'none'}) or lower them, and run the "
            "pipeline again with the same cache_dir and storage to resume; answered requests "
            "are not sent again."
        )

    async def unload(self) -> None:
        """Unload the started replicas; those still starting are stopped by `kill`."""
        waiting = [i for i, ready in enumerate(self.ready) if not ready and i not in self.failed]
        if waiting and any(self.ready):
            logger.warning(
                "Step %r ran on %d of its %d replicas: replica(s) %s had not started by the "
                "end (waiting for a node with room for %s, or still loading).",
                self.name,
                sum(self.ready),
                self.replicas,
                ", ".join(map(str, waiting)),
                wanted_resources(self._options) or "it",
            )
        try:
            await asyncio.gather(
                *(self.actors[i].unload.remote() for i, ready in enumerate(self.ready) if ready)
            )
        except (RayActorError, RayTaskError) as exc:
            logger.warning(
                "Unloading step %r failed: %s", self.name, describe_error(cause_of(exc, self.name))
            )

    def kill(self) -> None:
        """Stop the replicas, started or starting, and the counter (once: their counters and
        placements stay)."""
        if self.closed:
            return
        self.closed = True
        if self._first is not None and not self._first.done():
            self._first.cancel()  # `start` is still waiting for a first replica
        for task in self._starting:
            task.cancel()
        for actor in self.actors:
            if actor is not None:
                ray.kill(actor)
        if self.counter is not None:
            ray.kill(self.counter)
        self.counter = None


class RemoteBatches:
    """A generator step's batches, produced by its replica (called from a worker thread). A
    replica that dies is replaced and goes on from the rows already emitted."""

    def __init__(self, pool: ReplicaPool, node: Node, loop: asyncio.AbstractEventLoop) -> None:
        self.pool, self.node, self.loop = pool, node, loop
        self._start()

    def _start(self) -> None:
        ray.get(self.pool.actors[0].start_batches.remote(self.node.gen_offset))

    def next_batch(self, ledger: Ledger, limit: int | None) -> tuple[Any, bool] | None:
        """The next batch (None at the end), at most `limit` rows, its rows or a `Between`
        when they stay out of the driver; the requests it made go to `ledger`."""
        for restart in range(REPLICA_RESTARTS + 1):
            actor = self.pool.actors[0]
            try:
                item, hashes, stats = ray.get(actor.next_batch.remote(limit, self.pool.onward))
            except RayActorError as exc:
                if restart == REPLICA_RESTARTS:
                    raise self.pool.lost("its replica died too many times") from exc
                logger.warning(
                    "The Ray replica of generator %r stopped (%s); starting a new one from row %d.",
                    self.pool.name,
                    type(exc).__name__,
                    self.node.gen_offset,
                )
                asyncio.run_coroutine_threadsafe(self.pool.replace(0, actor), self.loop).result()
                self._start()
                continue
            except RayTaskError as exc:
                raise cause_of(exc, self.pool.name) from None
            ledger.hashes.extend(hashes)
            self.pool.note(0, hashes, stats)
            return item
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        try:
            ray.get(self.pool.actors[0].close_batches.remote(), timeout=30)
        except Exception as exc:
            logger.debug("Closing the batches of %r: %s", self.pool.name, exc)
