"""Leaf datasets written by the replicas: a leaf step's rows never go back to the driver.

A replica of a leaf step (one with no successor, that is not a generator or global step)
writes each unit's output rows itself as one part file under the run's storage,

    <root>/runs/<signature>/leaves/<step>/ray-<index>-<attempt>.<jsonl|parquet>

and returns a `LeafPart` (the part's name, its row count and the failed rows' errors)
instead of the rows. The driver records the parts in the order it records units (the
source order, as every other output), and the leaf's checkpointed state lists them: a
part written by a unit that no checkpoint recorded (its driver died, or the unit ran again
on another replica) is removed when the run resumes. When the run ends the driver copies
the recorded parts into the leaf's folder in `cache_dir`, where the Distiset reads them
after the writer's own files (rows a local run wrote before a resume on Ray).
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillroom.pipeline.failures import row_errors
from stillroom.pipeline.ray.journal import step_folder
from stillroom.pipeline.ray.state import StateRoot
from stillroom.pipeline.writers import dumps_rows, writing

if TYPE_CHECKING:
    from stillroom.pipeline.batch import Batch
    from stillroom.pipeline.writers import Encoded, LeafWriter
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

PART_PREFIX = "ray-"
"""Names of the parts replicas write (sorted after a local writer's `00000.jsonl`)."""


@dataclass
class LeafTarget:
    """Where and how a leaf's replicas write their parts."""

    url: str
    options: dict[str, Any]
    """fsspec's storage options for `url`."""
    folder: str
    """The leaf's folder under the root (a path of `url`'s file system)."""
    format: str
    """The run's storage format: "jsonl" or "parquet"."""


@dataclass
class LeafPart:
    """What a replica returns for a unit of a leaf step, in place of its rows."""

    name: str
    rows: int
    errors: list[str] = field(default_factory=list)
    """The error message of each failed row (the driver tallies them)."""


def write_part(
    root: StateRoot, target: LeafTarget, name: str, rows: list[Row], step: str
) -> LeafPart:
    """Write `rows` as the part `name` (its suffix added) under `target`; one atomic write.
    A Parquet part whose rows Arrow cannot type is written as JSONL, as the local writer does."""
    lines = dumps_rows(rows)
    suffix, data = ".jsonl", lines
    if target.format == "parquet" and rows:
        from stillroom.utils.arrow import UnsupportedRows

        try:
            suffix, data = ".parquet", _parquet(rows, lines)
        except UnsupportedRows as exc:
            logger.warning(
                "Part %s of step %r: Arrow cannot store these rows (%s); written as JSONL.",
                name,
                step,
                exc,
            )
    root.write(f"{target.folder}/{name}{suffix}", data)
    return LeafPart(name + suffix, len(rows), row_errors([rows], f"error_{step}"))


def _parquet(rows: list[Row], lines: bytes) -> bytes:
    import pyarrow.parquet as pq

    from stillroom.utils.arrow import SchemaBuilder, table_from_json_lines

    schema = SchemaBuilder()
    schema.add(rows)
    buffer = io.BytesIO()
    pq.write_table(table_from_json_lines(lines, schema.schema(), len(rows)), buffer)
    return buffer.getvalue()


def leaf_folder(root: StateRoot, signature: str, step: str) -> str:
    return root.join("runs", signature, "leaves", step_folder(step))


class ReplicaParts:
    """The driver's writer of a leaf whose replicas write its rows (see the module
    docstring). `base`, the local writer, keeps what the driver writes itself: the rows of
    a checkpoint taken by a local run before a resume on Ray."""

    def __init__(self, base: LeafWriter, root: StateRoot, folder: str) -> None:
        self.base, self.root, self.folder = base, root, folder
        self.format = base.format
        self.directory: Path = base.directory
        self.parts: list[tuple[str, int]] = []
        self._taken = 0

    @property
    def rows(self) -> int:
        return self.base.rows + sum(count for _, count in self.parts)

    def next_name(self) -> str:
        """The name of the next unit's part: numbered in the order units are taken (the
        order they are recorded), made unique by the attempt."""
        self._taken += 1
        return f"{PART_PREFIX}{self._taken:010d}-{uuid.uuid4().hex[:8]}"

    def add(self, part: LeafPart) -> None:
        self.parts.append((part.name, part.rows))

    def restore(self, state: dict[str, Any] | None, pending: list[Encoded]) -> None:
        """The base writer's restore, the recorded parts, and every other part removed
        (under the storage and in the leaf's folder)."""
        self.base.restore(state, pending)
        self.parts = [(name, count) for name, count in (state or {}).get("replica_parts", [])]
        self._taken = len(self.parts)
        keep = {name for name, _ in self.parts}
        self.root.remove(
            path for path in self.root.listing(self.folder) if path.rsplit("/", 1)[-1] not in keep
        )
        with writing(self.directory):
            for path in self.directory.iterdir():
                if path.name.startswith(PART_PREFIX) and path.name not in keep:
                    path.unlink()

    def write(self, batch: Batch) -> None:
        self.base.write(batch)

    def flush(self, force: bool = False) -> None:
        self.base.flush(force)

    def pending(self) -> list[Encoded]:
        return self.base.pending()

    def state(self) -> dict[str, Any]:
        return {**self.base.state(), "replica_parts": [list(part) for part in self.parts]}

    def files(self) -> list[Path]:
        return [*self.base.files(), *(self.directory / name for name, _ in self.parts)]

    def close(self) -> None:
        """Copy the recorded parts the leaf's folder does not have yet, then close the base."""
        with writing(self.directory):
            for name, _ in self.parts:
                local = self.directory / name
                if not local.exists():
                    temporary = self.directory / f".{name}.tmp"
                    self.root.fs.get_file(f"{self.folder}/{name}", str(temporary))
                    temporary.replace(local)
        self.base.close()
