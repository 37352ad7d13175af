"""Checkpoints: the engine's state and unfinished batches, saved in the cache database.

The engine runs on one thread, so a checkpoint taken between two events is a consistent
snapshot: each generator's offset, each step's position, every batch a step has not finished
(in a slot, in a unit being processed, or waiting in a Parquet writer), and the writers'
state. A batch is written once, in the first checkpoint that finds it, and deleted by the
first one that no longer does; batches that pass through between two checkpoints are never
written at all. The commit that saves a checkpoint also commits the cached replies.

The state and batches are pickled with `utils/safe_pickle.py`, whose loader refuses any class
outside the data types rows hold (the cache directory may be writable by others: loading
it never runs code); a batch holding another class is not checkpointed, the run says which.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from stillroom.utils import safe_pickle

if TYPE_CHECKING:
    from stillroom.pipeline.contracts import Store
    from stillroom.pipeline.nodes import Node

logger = logging.getLogger("stillroom.pipeline")


def checkpoint_source(store: Store, signature: str) -> str:
    """Where `store` keeps the checkpoint of pipeline `signature`, for error messages."""
    location = getattr(store, "checkpoint_path", None)
    if callable(location):
        return str(location(signature))
    return f"the checkpoint of pipeline {signature} in {getattr(store, 'path', store)}"


class Checkpointer:
    """Saves and loads one run's checkpoints (keyed by the pipeline signature)."""

    def __init__(self, store: Store, signature: str) -> None:
        self.store = store
        self.signature = signature
        self._stored: set[tuple[str, int]] = set()
        self._warned = False

    def load(self, batches: list[tuple[str, int, bytes]]) -> dict[str, list[Any]]:
        """Location -> the unfinished batches saved there, in the order they were made."""
        pending: dict[str, list[Any]] = {}
        source = checkpoint_source(self.store, self.signature)
        for location, batch_id, data in batches:
            batch = safe_pickle.loads(data, f"{source} (batch {batch_id} of {location})")
            pending.setdefault(location, []).append(batch)
            self._stored.add((location, batch_id))
        return pending

    def save(self, nodes: Iterable[Node], state: dict[str, Any], status: str) -> bool:
        """Write and commit a checkpoint; False (the previous one stays valid) when some
        rows cannot be pickled, or hold a class that saved state may not (`safe_pickle`)."""
        placements: dict[tuple[str, int], Any] = {}
        for node in nodes:
            for location, batch in node.pending():
                placements[(location, batch.id)] = batch
        try:
            added = [
                (location, batch_id, safe_pickle.dumps(batch))
                for (location, batch_id), batch in placements.items()
                if (location, batch_id) not in self._stored
            ]
            raw_state = safe_pickle.dumps(state)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "Cannot checkpoint: some rows cannot be pickled (%s). The run continues, "
                    "but could only resume from an earlier point.",
                    exc,
                )
            return False
        removed = self._stored - placements.keys()
        self.store.save_run(self.signature, status, raw_state, added, removed, time.time())
        self.store.commit()
        self._stored = set(placements)
        return True
