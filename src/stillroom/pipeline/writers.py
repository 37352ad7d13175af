"""Writers of the leaf datasets, incremental and safe to resume.

JSONL is the default: it stores any row, costs nothing to import, and keeps the engine's
memory flat. Parquet is written on request (`storage_format="parquet"`, needs pyarrow, whose
import alone adds some 50 MB to the process).

JSONL appends each batch as it arrives; a checkpoint records the byte offset reached, and a
resumed run cuts the file back to it. Parquet (when pyarrow is installed) buffers rows, as
JSON lines, and writes numbered part files of about `rows_per_part` rows; the buffered rows
are part of each checkpoint, a checkpoint records the finished parts, and a resumed run
deletes any part written after it. A part whose rows Arrow cannot type consistently is written as JSONL instead,
so no row is ever dropped for its types.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from stillroom.errors import StorageError
from stillroom.utils.jsonl import json_lines

if TYPE_CHECKING:
    from stillroom.pipeline.batch import Batch
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

StorageFormat = Literal["jsonl", "parquet"]


def json_default(value: Any) -> Any:
    """JSON for the values rows commonly hold besides plain JSON types."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, default=json_default)
"""How `json_lines(rows, default=json_default)` writes a row, made once for every row."""


def dumps_rows(rows: list[Row]) -> bytes:
    """Rows as JSON lines; text UTF-8 cannot hold (lone surrogates) is `\\u`-escaped."""
    if not rows:
        return b""
    try:
        return ("\n".join(map(_ROW_ENCODER.encode, rows)) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return json_lines(rows, default=json_default)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OS error writing a dataset file becomes a `StorageError` naming the file."""
    try:
        yield
    except OSError as exc:
        raise StorageError("the dataset", path, exc) from exc


def resolve_format(requested: StorageFormat) -> StorageFormat:
    """Check that the requested format can be written (Parquet needs pyarrow)."""
    if requested not in ("jsonl", "parquet"):
        from stillroom.errors import StillroomError

        raise StillroomError(f"storage_format must be 'jsonl' or 'parquet', got {requested!r}.")
    if requested == "parquet":
        _require_pyarrow()
    return requested


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        from stillroom.errors import MissingExtraError

        raise MissingExtraError("Writing datasets as Parquet", "parquet", "pyarrow") from exc


class JsonlWriter:
    """Appends rows to `<directory>/00000.jsonl`."""

    format = "jsonl"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "00000.jsonl"
        self.rows = 0
        self._file: Any = None

    def restore(self, state: dict[str, Any] | None, pending: list[Any]) -> None:
        """Open for appending; with a checkpoint, cut the file back to where it was."""
        with writing(self.path):
            self.directory.mkdir(parents=True, exist_ok=True)
            if state is None:
                self.path.write_bytes(b"")
            else:
                self.rows = state["rows"]
                with open(self.path, "ab") as handle:
                    handle.truncate(state["offset"])
            self._file = open(self.path, "ab")  # noqa: SIM115 (closed in close())

    def write(self, batch: Batch) -> None:
        if batch.rows:
            with writing(self.path):
                self._file.write(dumps_rows(batch.rows))
            self.rows += len(batch.rows)

    def flush(self, force: bool = False) -> None:
        with writing(self.path):
            self._file.flush()

    def pending(self) -> list[Encoded]:
        return []

    def state(self) -> dict[str, Any]:
        return {"rows": self.rows, "offset": self._file.tell()}

    def files(self) -> list[Path]:
        return [self.path]

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with writing(self.path):
                file.close()


@dataclass(slots=True)
class Encoded:
    """A batch waiting in the Parquet writer, kept as JSON lines (a fraction of the dicts'
    memory); checkpoints store it as it is."""

    id: int
    seq: int
    count: int
    lines: bytes


class ParquetWriter:
    """Writes `<directory>/NNNNN.parquet` parts of about `rows_per_part` rows."""

    format = "parquet"

    def __init__(self, directory: Path, rows_per_part: int = 2000, max_age: float = 10.0) -> None:
        self.directory = directory
        self.rows_per_part = rows_per_part
        self.max_age = max_age
        self.rows = 0
        self.parts: list[str] = []
        self._buffer: list[Encoded] = []
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._reset_schema()

    def _reset_schema(self) -> None:
        from stillroom.utils.arrow import SchemaBuilder

        self._schema: SchemaBuilder | None = SchemaBuilder()
        self._unsupported = ""

    def _add_to_schema(self, rows: list[Row]) -> None:
        from stillroom.utils.arrow import UnsupportedRows

        if self._schema is None:
            return
        try:
            self._schema.add(rows)
        except UnsupportedRows as exc:
            self._schema, self._unsupported = None, str(exc)

    def restore(self, state: dict[str, Any] | None, pending: list[Encoded]) -> None:
        if state is not None:
            self.rows = state["rows"]
            self.parts = list(state["parts"])
        keep = set(self.parts)
        with writing(self.directory):
            self.directory.mkdir(parents=True, exist_ok=True)
            for path in self.directory.iterdir():
                if path.name not in keep:
                    path.unlink()
        for item in pending:
            self._add_to_schema([json.loads(line) for line in item.lines.splitlines()])
            self._buffer.append(item)
            self._buffered += item.count

    def write(self, batch: Batch) -> None:
        if batch.rows:
            self._add_to_schema(batch.rows)
            self._buffer.append(
                Encoded(batch.id, batch.seq, len(batch.rows), dumps_rows(batch.rows))
            )
            self._buffered += len(batch.rows)

    def flush(self, force: bool = False) -> None:
        """Write buffered rows as a part when there are enough, they are old, or `force`."""
        if not self._buffered:
            return
        due = self._buffered >= self.rows_per_part or (
            time.monotonic() - self._last_flush >= self.max_age
        )
        if not (force or due):
            return
        lines = b"".join(item.lines for item in self._buffer)
        with writing(self.directory):
            self.parts.append(self._write_part(lines, self._buffered, len(self.parts)))
        self.rows += self._buffered
        self._buffer, self._buffered = [], 0
        self._last_flush = time.monotonic()
        self._reset_schema()

    def _write_part(self, lines: bytes, count: int, index: int) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from stillroom.utils.arrow import UnsupportedRows, table_from_json_lines

        name = f"{index:05d}.parquet"
        temporary = self.directory / f".{name}.tmp"
        try:
            if self._schema is None:
                raise UnsupportedRows(self._unsupported)
            table = table_from_json_lines(lines, self._schema.schema(), count)
            pq.write_table(table, temporary, memory_pool=pa.system_memory_pool())
        except UnsupportedRows as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            logger.warning(
                "Part %d of %s: Arrow cannot store these rows (%s); written as JSONL instead.",
                index,
                self.directory,
                exc,
            )
            name = f"{index:05d}.jsonl"
            temporary = self.directory / f".{name}.tmp"
            temporary.write_bytes(lines)
        os.replace(temporary, self.directory / name)
        return name

    def pending(self) -> list[Encoded]:
        return list(self._buffer)

    def state(self) -> dict[str, Any]:
        return {"rows": self.rows, "parts": list(self.parts)}

    def files(self) -> list[Path]:
        return [self.directory / name for name in self.parts]

    def close(self) -> None:
        """Nothing is held open; buffered rows stay in the checkpoint until flushed."""


class LeafWriter(Protocol):
    """What the engine asks of a leaf's writer (`JsonlWriter`, `ParquetWriter`, or a
    distributed engine's own, such as Ray's `ReplicaParts`)."""

    format: str
    directory: Path

    @property
    def rows(self) -> int: ...

    def restore(self, state: dict[str, Any] | None, pending: list[Encoded]) -> None: ...

    def write(self, batch: Batch) -> None: ...

    def flush(self, force: bool = False) -> None: ...

    def pending(self) -> list[Encoded]: ...

    def state(self) -> dict[str, Any]: ...

    def files(self) -> list[Path]: ...

    def close(self) -> None: ...


def make_writer(fmt: StorageFormat, directory: Path) -> LeafWriter:
    return ParquetWriter(directory) if fmt == "parquet" else JsonlWriter(directory)
