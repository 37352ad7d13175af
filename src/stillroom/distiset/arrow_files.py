"""A split's JSONL/Parquet files -> one Arrow file that `datasets` memory-maps.

The run writes each leaf's rows as JSONL (or Parquet parts). To hand them to `datasets`
without holding them as Python objects, this module writes them once into an Arrow IPC
stream file (the format `datasets` keeps its own cache in) and `Dataset.from_file` maps
it: the rows stay on disk, and the process only pays for the pages it reads.

Two passes over the files, each one row (or one Parquet batch) at a time:

1. the schema: the type of each column, unified over every row (`stillroom.utils.arrow`);
   a column whose rows disagree (a string here, a number there) is kept as JSON text, with
   a warning naming it, rather than dropped or failing the run;
2. the data: JSONL is parsed by pyarrow's JSON reader against that exact schema, in blocks
   (so strings that look like dates stay strings), Parquet batches are cast to it.

The Arrow file is replaced atomically, so a Distiset still mapping an older one keeps
reading it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillroom.utils.arrow import UnsupportedRows, table_from_json_lines, type_of, unify

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger("stillroom.distiset")

SOURCE_SUFFIXES = (".jsonl", ".parquet")
"""The data files a run writes, read in the natural order of their names."""

BLOCK_BYTES = 8 * 1024 * 1024
"""JSONL is parsed in blocks of about this many bytes (whole lines)."""

_FORMAT_VERSION = 1
"""Bumped when the Arrow files this module writes change, so cached ones are rebuilt."""


def _natural(path: Path) -> list[str | int]:
    """`path`'s name as text and numbers, so that `part-2` sorts before `part-10`."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def source_files(directory: Path) -> list[Path]:
    """The data files of one split in the natural order of their names (`00001.jsonl`,
    or part files as another writer numbers them: `part-2` before `part-10`); hidden and
    temporary files left out."""
    return sorted(
        (
            path
            for path in directory.iterdir()
            if path.is_file() and path.suffix in SOURCE_SUFFIXES and not path.name.startswith(".")
        ),
        key=_natural,
    )


def split_folders(config: Path) -> dict[str, Path]:
    """Split name -> the folder of its data files, for one configuration's folder: its
    `<split>/` folders, or the folder itself as `"train"` when it holds the part files
    directly (a leaf written by a writer that makes no split folder)."""
    splits = {
        split.name: split
        for split in sorted(config.iterdir())
        if split.is_dir() and not split.name.startswith(".")
    }
    if not splits and source_files(config):
        splits = {"train": config}
    return splits


def _json_lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                yield line if line.endswith(b"\n") else line + b"\n"


class _Columns:
    """Column name -> Arrow type over all rows seen; columns that disagree become text."""

    def __init__(self) -> None:
        self.types: dict[str, pa.DataType] = {}
        self.as_text: dict[str, str] = {}

    def add(self, name: str, kind: pa.DataType) -> None:
        import pyarrow as pa

        if name in self.as_text:
            return
        try:
            self.types[name] = unify(self.types.get(name, pa.null()), kind)
        except UnsupportedRows as exc:
            self.types[name] = pa.string()
            self.as_text[name] = str(exc)

    def add_value(self, name: str, value: Any) -> None:
        import pyarrow as pa

        try:
            kind = type_of(value)
        except UnsupportedRows as exc:
            if name not in self.as_text:
                self.types[name] = pa.string()
                self.as_text[name] = str(exc)
            return
        self.add(name, kind)

    def schema(self) -> pa.Schema:
        import pyarrow as pa

        return pa.schema([pa.field(name, kind) for name, kind in self.types.items()])


def infer_columns(files: list[Path]) -> _Columns:
    """Pass 1: the type of every column of `files`."""
    import pyarrow.parquet as pq

    columns = _Columns()
    for path in files:
        if path.suffix == ".parquet":
            for field in pq.read_schema(path):
                columns.add(field.name, field.type)
            continue
        for block in _line_blocks(path):
            _infer_block(columns, block)
    return columns


def _line_blocks(path: Path) -> Iterator[list[bytes]]:
    """The lines of a JSONL file, in blocks of about `BLOCK_BYTES`."""
    block: list[bytes] = []
    size = 0
    for line in _json_lines(path):
        block.append(line)
        size += len(line)
        if size >= BLOCK_BYTES:
            yield block
            block, size = [], 0
    if block:
        yield block


def _infer_block(columns: _Columns, lines: list[bytes]) -> None:
    """Add the column types of one block of lines to `columns`.

    pyarrow's JSON reader infers the block's schema in C++, some ten times faster than
    typing each value in Python; its dates and timestamps are taken back as strings (the
    rows hold JSON text, and a string that looks like a date must stay one). A block it
    cannot type (a column changing type, an integer past 64 bits, a lone surrogate) is typed
    row by row instead, which keeps such columns as JSON text with a warning.
    """
    import pyarrow as pa
    import pyarrow.json as pa_json

    data = b"".join(lines)
    try:
        schema = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(block_size=max(len(data), 1 << 20)),
            parse_options=pa_json.ParseOptions(newlines_in_values=False),
        ).schema
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        for line in lines:
            for name, value in json.loads(line).items():
                columns.add_value(name, value)
        return
    for field in schema:
        columns.add(field.name, _dates_as_text(field.type))


def _dates_as_text(kind: pa.DataType) -> pa.DataType:
    """`kind` with every date or timestamp inside it made a string."""
    import pyarrow as pa

    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind):
        return pa.string()
    if pa.types.is_struct(kind):
        return pa.struct(
            [
                pa.field(kind.field(i).name, _dates_as_text(kind.field(i).type))
                for i in range(kind.num_fields)
            ]
        )
    if pa.types.is_list(kind):
        return pa.list_(_dates_as_text(kind.value_type))
    return kind


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(value: Any, path: Path) -> Any:
    """`value` with each lone surrogate (valid JSON, not valid UTF-8) replaced by U+FFFD,
    which Arrow's UTF-8 strings can hold; the file keeps the original."""
    if isinstance(value, str):
        if _SURROGATE.search(value) is None:
            return value
        logger.warning(
            "%s holds text with a lone surrogate (\\ud800-\\udfff), which Arrow cannot store: it "
            "is replaced by U+FFFD in the dataset (the file keeps the original).",
            path,
        )
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {k: _valid_text(v, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v, path) for v in value]
    return value


def _jsonl_tables(path: Path, schema: pa.Schema, as_text: set[str]) -> Iterator[pa.Table]:
    """A JSONL file as tables of about `BLOCK_BYTES`, typed as `schema`."""
    import pyarrow as pa

    def table(block: list[bytes]) -> pa.Table:
        if not as_text:
            try:
                return table_from_json_lines(b"".join(block), schema, len(block))
            except UnsupportedRows:
                pass  # text Arrow cannot hold (a lone surrogate): the rows are read below
        rows = [_valid_text(json.loads(line), path) for line in block]
        for row in rows:
            for name in as_text:
                if name in row:
                    row[name] = _as_text(row[name])
        return pa.Table.from_pylist(rows, schema=schema)

    for block in _line_blocks(path):
        yield table(block)


def _parquet_tables(path: Path, schema: pa.Schema, as_text: set[str]) -> Iterator[pa.Table]:
    """A Parquet file's batches, with every column of `schema` (missing ones as nulls)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches():
        table = pa.Table.from_batches([batch])
        arrays = []
        for field in schema:
            if field.name not in table.column_names:
                arrays.append(pa.nulls(table.num_rows, field.type))
            elif field.name in as_text:
                values = [_as_text(v) for v in table.column(field.name).to_pylist()]
                arrays.append(pa.array(values, pa.string()))
            else:
                arrays.append(table.column(field.name).cast(field.type))
        yield pa.Table.from_arrays(arrays, schema=schema)


def write_arrow(files: list[Path], target: Path, drop: tuple[str, ...] = ()) -> int:
    """Pass 1 and 2: write the rows of `files` to the Arrow stream file `target`, without
    the columns in `drop`; return the number of rows written."""
    import pyarrow as pa

    columns = infer_columns(files)
    for name, reason in columns.as_text.items():
        logger.warning(
            "Column %r of %s holds values of different types (%s): it is stored as JSON text.",
            name,
            target.parent,
            reason,
        )
    schema = columns.schema()
    as_text = set(columns.as_text)
    kept = [name for name in schema.names if name not in drop]
    out_schema = pa.schema([schema.field(name) for name in kept])
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    rows = 0
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_stream(sink, out_schema) as writer:
        for path in files:
            tables = (
                _parquet_tables(path, schema, as_text)
                if path.suffix == ".parquet"
                else _jsonl_tables(path, schema, as_text)
            )
            for table in tables:
                writer.write_table(table.select(kept), max_chunksize=1000)
                rows += table.num_rows
    os.replace(temporary, target)
    return rows


def fingerprint(files: list[Path], drop: tuple[str, ...]) -> str:
    """What the Arrow file was built from: each source's name, size and time, the columns
    dropped and this module's format version."""
    described = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return json.dumps({"version": _FORMAT_VERSION, "files": described, "drop": list(drop)})


def arrow_file(files: list[Path], target: Path, drop: tuple[str, ...], use_cache: bool) -> Path:
    """`target`, (re)built from `files` unless `use_cache` and it was built from the same
    files (`fingerprint`)."""
    stamp = target.with_suffix(".source.json")
    wanted = fingerprint(files, drop)
    if use_cache and target.exists() and stamp.exists() and stamp.read_text() == wanted:
        return target
    write_arrow(files, target, drop)
    stamp.write_text(wanted)
    return target
