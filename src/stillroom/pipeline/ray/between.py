"""Rows between two steps on Ray: from replica to replica, never through the driver.

A replica of a step whose output goes to other steps puts each output batch in its node's
object store (`ray.put`: the replica owns it), writes it once as a part under the run's
storage,

    <root>/runs/<signature>/between/<step>-<uuid>.pkl

and returns a `Between` (the reference, the part's path, the row count and the failed rows'
errors) instead of the rows. The driver keeps it in the batch in place of the rows
(`RemoteRows`) and hands it on as a `Piece` to a replica of the next step, which fetches the
rows from the object store, or reads the part when the reference is lost (the replica that
owned it died or was stopped with its load group, or its node was lost). A checkpoint
pickles a `RemoteRows` as its part's path and count, so a resumed run's replicas read the
part; the driver removes a part once a checkpoint no longer names it. Parts are pickled with
`utils/safe_pickle.py`, whose loader refuses any class outside the data types rows hold (the
storage may be writable by others: reading a part never runs code).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import ray
from ray.exceptions import GetTimeoutError, ObjectLostError

from stillroom.errors import StillroomError
from stillroom.pipeline.failures import row_errors
from stillroom.pipeline.ray.journal import step_folder
from stillroom.utils import safe_pickle

if TYPE_CHECKING:
    from stillroom.pipeline.ray.state import StateRoot
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

FETCH_TIMEOUT = 30.0
"""Seconds a replica waits for a batch from the object store before reading its part."""


@dataclass
class RowStore:
    """Where the replicas write and read the parts of the batches between steps."""

    url: str
    options: dict[str, Any]
    """fsspec's storage options for `url`."""
    folder: str
    """`runs/<signature>/between` under the root (a path of `url`'s file system)."""


@dataclass
class Piece:
    """A batch a replica fetches: its object reference (in a list, so Ray passes it as a
    reference; empty when none is left, e.g. after a resume) and its part's path."""

    refs: list[Any]
    path: str


@dataclass
class Between:
    """What a replica returns for an output batch that goes to other steps."""

    refs: list[Any]
    path: str
    rows: int
    errors: list[str] = field(default_factory=list)
    """The error message of each failed row (the driver tallies them)."""


class RemoteRows(Sequence["Row"]):
    """A batch's rows as the driver holds them: where they are, and how many. Iterating
    fetches them (nothing in the engine does: replicas fetch the rows they run)."""

    def __init__(self, refs: list[Any], path: str, count: int, errors: list[str]) -> None:
        self.refs, self.path, self.size, self.errors = refs, path, count, errors

    @classmethod
    def of(cls, between: Between) -> RemoteRows:
        return cls(between.refs, between.path, between.rows, between.errors)

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        if isinstance(index, slice) and index.indices(self.size) == (0, self.size, 1):
            return self  # the whole batch (a generator's, cut to the row limit by its replica)
        if not self.refs:
            raise StillroomError(f"The rows of part {self.path} are not in Ray's object store.")
        rows: list[Row] = ray.get(self.refs[0])
        return rows[index]

    def piece(self) -> Piece:
        return Piece(self.refs, self.path)

    def __reduce__(self) -> tuple[Any, ...]:
        """A checkpoint keeps the part's path and the count, never the reference."""
        return RemoteRows, ([], self.path, self.size, [])


def spill(root: StateRoot, store: RowStore, step: str, rows: list[Row]) -> Between | None:
    """`rows` put in the object store and written as a part; None (the rows go back to the
    driver, as before) when they cannot be pickled or hold a class that saved state may not
    (`safe_pickle`)."""
    try:
        data = safe_pickle.dumps(rows)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        logger.warning(
            "Step %r: a batch cannot be pickled (%s); its rows go through the driver.", step, exc
        )
        return None
    path = f"{store.folder}/{step_folder(step)}-{uuid.uuid4().hex}.pkl"
    root.write(path, data)
    return Between([ray.put(rows)], path, len(rows), row_errors([rows], f"error_{step}"))


async def fetch(root: StateRoot | None, piece: list[Row] | Piece) -> list[Row]:
    """The rows of one input batch: the driver's own, from the object store, or from the
    part when the reference is lost."""
    if not isinstance(piece, Piece):
        return piece
    if piece.refs:
        try:
            rows: list[Row] = await asyncio.wait_for(_awaitable(piece.refs[0]), FETCH_TIMEOUT)
            return rows
        except (ObjectLostError, GetTimeoutError, TimeoutError) as exc:
            logger.warning("Batch %s is lost from Ray (%s); reading its part.", piece.path, exc)
    if root is None:
        raise StillroomError(f"The replica cannot read part {piece.path}: it has no storage.")
    data = await asyncio.to_thread(root.read, piece.path)
    if data is None:
        raise StillroomError(
            f"The part {piece.path} of a batch between two steps is missing from the run's "
            "storage; run the pipeline again with the same storage to resume."
        )
    loaded: list[Row] = safe_pickle.loads(data, piece.path)
    return loaded


async def _awaitable(ref: Any) -> Any:
    return await ref
