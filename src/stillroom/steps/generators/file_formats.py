"""Finding data files and reading their rows lazily: JSON Lines, JSON, CSV/TSV and Parquet.

Rows are produced one at a time (Parquet: one record batch at a time), so a loader holds a
batch in memory, not the file. The exception is a `.json` file holding one JSON array,
which the standard library can only parse whole; prefer JSON Lines for big data.
Paths with a scheme (`s3://`, `gs://`, `memory://`...) go through `fsspec`, which the
`[hf]` extra installs; a `.gz` suffix is decompressed on the fly for the text formats.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from stillroom.errors import InvalidRowsError, MissingExtraError, StillroomError
from stillroom.steps.typing import Row

FILETYPES = ("jsonl", "json", "csv", "tsv", "parquet")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_GLOB_CHARS = frozenset("*?[")


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _fsspec(feature: str) -> Any:
    try:
        import fsspec
    except ImportError as exc:
        raise MissingExtraError(feature, "hf", "fsspec") from exc
    return fsspec


def _known_suffix(path: str) -> bool:
    name = path.lower().removesuffix(".gz")
    return any(name.endswith(suffix) for suffix in _SUFFIXES)


def _visible(path: str) -> bool:
    """Hidden and marker files (`.DS_Store`, `_SUCCESS`) are not data."""
    return not Path(path).name.startswith((".", "_"))


def resolve_files(
    label: str,
    data_files: str | Path | Sequence[str | Path],
    storage_options: dict[str, Any] | None,
) -> list[str]:
    """The data files named by a path, a directory, a glob, or a list of those, in order.

    A directory gives every file with a known suffix below it (sorted); a glob (`*`, `?`,
    `[`, `**` for any depth) every file it matches (sorted). Naming nothing is an error.
    """
    entries = [data_files] if isinstance(data_files, str | Path) else list(data_files)
    files: list[str] = []
    for entry in entries:
        found = _resolve_one(str(entry), storage_options or {})
        if not found:
            raise FileNotFoundError(
                f"{label}: data_files {str(entry)!r} matches no data file. Give a file, a "
                f"directory holding {'/'.join(FILETYPES)} files, or a glob such as 'data/*.jsonl'."
            )
        files.extend(f for f in found if f not in files)
    return files


def _resolve_one(entry: str, storage_options: dict[str, Any]) -> list[str]:
    has_glob = any(char in entry for char in _GLOB_CHARS)
    if _is_remote(entry):
        fs, root = _fsspec(f"Reading {entry!r}").core.url_to_fs(entry, **storage_options)
        if has_glob:
            matches = sorted(fs.glob(root))
        elif fs.isdir(root):
            matches = sorted(p for p in fs.find(root) if _known_suffix(p))
        else:
            matches = [root] if fs.exists(root) else []
        return [fs.unstrip_protocol(p) for p in matches if _visible(p) and not fs.isdir(p)]
    local = str(Path(entry.removeprefix("file://")).expanduser())
    if has_glob:
        return sorted(p for p in glob.glob(local, recursive=True) if Path(p).is_file())
    path = Path(local)
    if path.is_dir():
        return sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file() and _known_suffix(str(p)) and _visible(str(p))
        )
    return [local] if path.is_file() else []


def file_format(label: str, path: str, filetype: str | None) -> str:
    """The format to read `path` as: `filetype` when given, else its suffix (`.gz` ignored)."""
    if filetype is not None:
        kind = filetype.lower().lstrip(".")
        if kind not in FILETYPES:
            raise StillroomError(
                f"{label}: unknown filetype {filetype!r}; use one of {list(FILETYPES)}."
            )
        return kind
    name = path.lower().removesuffix(".gz")
    for suffix, kind in _SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    raise StillroomError(
        f"{label}: cannot tell the format of {path!r} from its name; set filetype to one of "
        f"{list(FILETYPES)}."
    )


@contextmanager
def _opened(path: str, storage_options: dict[str, Any] | None) -> Iterator[IO[bytes]]:
    """The file's bytes (decompressed for `.gz`); everything opened is closed on exit."""
    if _is_remote(path):
        source = _fsspec(f"Reading {path!r}").open(path, mode="rb", **(storage_options or {}))
    else:
        source = open(path.removeprefix("file://"), "rb")  # noqa: SIM115 (closed below)
    with source as raw:
        if path.lower().endswith(".gz"):
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield raw


def read_rows(
    path: str, kind: str, storage_options: dict[str, Any] | None, chunk_size: int = 1024
) -> Generator[Row, None, None]:
    """The rows of one file, read lazily; malformed content raises naming file and line."""
    with _opened(path, storage_options) as handle:
        if kind == "parquet":
            yield from _parquet_rows(handle, chunk_size)
            return
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        if kind == "jsonl":
            yield from _json_lines(path, text)
        elif kind == "json":
            yield from _json_document(path, text.read())
        else:
            yield from _csv_rows(path, text, "\t" if kind == "tsv" else ",")


def first_columns(path: str, kind: str, storage_options: dict[str, Any] | None) -> list[str]:
    """The columns of a file: the Parquet schema, or the keys of its first row."""
    if kind == "parquet":
        pq = _pyarrow_parquet()
        with _opened(path, storage_options) as handle:
            return list(pq.ParquetFile(handle).schema_arrow.names)
    rows = read_rows(path, kind, storage_options)
    try:
        return list(next(rows, {}))
    finally:
        rows.close()


def _as_row(path: str, where: str, value: Any) -> Row:
    if not isinstance(value, dict):
        raise InvalidRowsError(
            f"{path} {where} holds a JSON {type(value).__name__}, not an object; each row must "
            'be an object such as {"instruction": "..."}.'
        )
    return value


def _json_lines(path: str, lines: Iterator[str] | IO[str]) -> Iterator[Row]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRowsError(
                f"{path} line {number} is not valid JSON ({exc.msg}): {line.strip()[:80]!r}"
            ) from exc
        yield _as_row(path, f"line {number}", value)


def _json_document(path: str, content: str) -> Iterator[Row]:
    """A JSON array of rows, one (possibly pretty-printed) object, or JSON Lines."""
    stripped = content.lstrip()
    if not stripped:
        return
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if stripped.startswith("["):
            raise InvalidRowsError(f"{path} is not valid JSON ({exc})") from exc
        # Several objects, one per line: JSON Lines saved with a .json suffix.
        yield from _json_lines(path, io.StringIO(content))
        return
    if isinstance(document, list):
        for index, value in enumerate(document):
            yield _as_row(path, f"item {index}", value)
    else:
        yield _as_row(path, "document", document)


def _csv_rows(path: str, text: IO[str], delimiter: str) -> Iterator[Row]:
    reader = csv.DictReader(text, delimiter=delimiter)
    for row in reader:
        if None in row:
            raise InvalidRowsError(
                f"{path} line {reader.line_num} has more fields than the header "
                f"{reader.fieldnames}."
            )
        yield dict(row)


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtraError("Reading Parquet files", "parquet", "pyarrow") from exc
    return pq


def _parquet_rows(handle: IO[bytes], chunk_size: int) -> Iterator[Row]:
    parquet = _pyarrow_parquet().ParquetFile(handle)
    for batch in parquet.iter_batches(batch_size=chunk_size):
        yield from batch.to_pylist()
