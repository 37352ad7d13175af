"""What the viewer reads: a directory of datasets, page by page, without loading it whole.

Every layout the viewer understands is read here, so that a change of the on-disk layout is a
change of this module only:

- a run's data directory as the engine writes it (`<data>/<config>/<split>/NNNNN.jsonl` or
  `.parquet` parts, growing while the run goes on; see `pipeline/writers.py`), given as the
  data directory, the run directory above it, or a pipeline's directory (its latest run);
- a folder saved with `Distiset.save_to_disk`: the same part files, or Hugging Face `datasets`
  Arrow folders (`<config>/<split>/state.json`), opened with `datasets.load_from_disk`
  (memory-mapped, imported only then).

A run's progress and summary are in `status.json` next to its data (`RUN_STATUS_FILE`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stillroom.constants import RUN_STATUS_FILE, STILLROOM_METADATA_KEY
from stillroom.errors import MissingExtraError, StillroomError
from stillroom.utils.metadata import metadata_errors

DATA_SUFFIXES = (".jsonl", ".parquet")
ARROW_MARKER = "state.json"
"""A split saved by `datasets.Dataset.save_to_disk` holds this file beside its Arrow files."""


def row_errors(row: dict[str, Any]) -> dict[str, Any]:
    """The `error_<step>` entries of a row's metadata that hold an error (a failed row)."""
    return metadata_errors(row.get(STILLROOM_METADATA_KEY))


class SplitReader(Protocol):
    """One split's rows, counted and read from a row index on."""

    def count(self) -> int: ...

    def rows(self, start: int = 0) -> Iterator[dict[str, Any]]: ...


class PartFiles:
    """A split stored as JSONL/Parquet parts, possibly still being written.

    Counts are kept per file and extended by the bytes added since the last call, so polling
    a growing file costs only what was appended. A JSONL line without its newline (a write in
    progress) is not a row yet.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counts: dict[str, tuple[int, int]] = {}  # name -> (bytes counted, rows)

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            path
            for path in self.directory.iterdir()
            if path.suffix in DATA_SUFFIXES and not path.name.startswith(".")
        )

    def _file_count(self, path: Path) -> int:
        if path.suffix == ".parquet":
            known = self._counts.get(path.name)
            if known is None:
                import pyarrow.parquet as pq  # parts are final once renamed into place

                known = (0, pq.ParquetFile(path).metadata.num_rows)
                self._counts[path.name] = known
            return known[1]
        done, rows = self._counts.get(path.name, (0, 0))
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            if size < done:  # cut back (a resumed run): count again
                done, rows = 0, 0
            handle.seek(done)
            added = handle.read(size - done)
        complete = added.rfind(b"\n") + 1
        rows += sum(1 for line in added[:complete].split(b"\n") if line.strip())
        self._counts[path.name] = (done + complete, rows)
        return rows

    def count(self) -> int:
        return sum(self._file_count(path) for path in self.files())

    def rows(self, start: int = 0) -> Iterator[dict[str, Any]]:
        skip = start
        for path in self.files():
            in_file = self._file_count(path)
            if skip >= in_file:
                skip -= in_file
                continue
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    yield from batch.slice(skip).to_pylist()
                    skip = 0
                continue
            limit = self._counts[path.name][0]
            with open(path, "rb") as handle:
                for line in handle:
                    limit -= len(line)
                    if limit < 0:
                        break
                    if not line.strip():
                        continue
                    if skip:
                        skip -= 1
                        continue
                    yield json.loads(line)


class ArrowSplit:
    """A split saved by Hugging Face `datasets` (memory-mapped Arrow files)."""

    def __init__(self, directory: Path) -> None:
        try:
            import datasets
        except ImportError as exc:
            raise MissingExtraError("Viewing a dataset saved as Arrow", "hf", "datasets") from exc
        self.dataset = datasets.load_from_disk(str(directory))

    def count(self) -> int:
        return int(self.dataset.num_rows)

    def rows(self, start: int = 0) -> Iterator[dict[str, Any]]:
        total = self.count()
        for begin in range(start, total, 256):
            columns = self.dataset[begin : min(begin + 256, total)]
            names = list(columns)
            for values in zip(*(columns[name] for name in names), strict=True):
                yield dict(zip(names, values, strict=True))


@dataclass
class Page:
    """Rows `offset`.. of a split after its filters: (row index, row) pairs, how many rows
    matched the filters, how many the split has, and the columns seen."""

    rows: list[tuple[int, dict[str, Any]]]
    matched: int
    total: int
    columns: list[str] = field(default_factory=list)


class DataSource:
    """The datasets under `path` (see the module docstring for what `path` may be)."""

    def __init__(self, path: str | Path, run_dir: Path | None = None) -> None:
        self.path = Path(path).expanduser()
        self.root: Path
        self.run_dir: Path | None
        if run_dir is not None:  # a run that may not have written anything yet
            self.root, self.run_dir = run_dir / "data", run_dir
        else:
            self.root, self.run_dir = _locate(self.path)
        self._readers: dict[tuple[str, str], SplitReader] = {}

    @classmethod
    def for_run(cls, run_dir: Path) -> DataSource:
        """The datasets of the run whose directory is `run_dir`, as it writes them."""
        return cls(run_dir, run_dir=run_dir)

    def splits(self) -> dict[str, list[str]]:
        """Configuration -> its split names, as on disk now (a run adds them as it goes)."""
        found: dict[str, list[str]] = {}
        if not self.root.is_dir():
            return found
        for config in sorted(p for p in self.root.iterdir() if p.is_dir()):
            names = [s.name for s in sorted(config.iterdir()) if _is_split(s)]
            if names:
                found[config.name] = names
        return found

    def reader(self, config: str, split: str) -> SplitReader:
        if split not in self.splits().get(config, []):
            raise StillroomError(f"No split {config}/{split} in {self.root}.")
        key = (config, split)
        reader = self._readers.get(key)
        if reader is None:
            directory = self.root / config / split
            arrow = (directory / ARROW_MARKER).exists()
            reader = ArrowSplit(directory) if arrow else PartFiles(directory)
            self._readers[key] = reader
        return reader

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            config: {split: self.reader(config, split).count() for split in names}
            for config, names in self.splits().items()
        }

    def page(
        self,
        config: str,
        split: str,
        offset: int = 0,
        limit: int = 50,
        failed_only: bool = False,
        query: str = "",
    ) -> Page:
        """One page of rows, filtered to failed rows and/or rows with a value holding `query`
        (case-insensitive), reading the split once from start to end when filtering."""
        reader = self.reader(config, split)
        total = reader.count()
        needle = query.casefold()
        rows: list[tuple[int, dict[str, Any]]] = []
        if not failed_only and not needle:
            for index, row in enumerate(reader.rows(offset), start=offset):
                if len(rows) >= limit or index >= total:
                    break
                rows.append((index, row))
            return Page(rows, total, total, _columns(rows))
        matched = 0
        for index, row in enumerate(reader.rows()):
            if index >= total:
                break
            if failed_only and not row_errors(row):
                continue
            if needle and not any(needle in text.casefold() for text in _texts(row)):
                continue
            if offset <= matched < offset + limit:
                rows.append((index, row))
            matched += 1
        return Page(rows, matched, total, _columns(rows))

    def status(self) -> dict[str, Any] | None:
        """The run's `status.json` (progress, then summary), if there is one."""
        for directory in (self.run_dir, self.root):
            if directory is None:
                continue
            path = directory / RUN_STATUS_FILE
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            return data if isinstance(data, dict) else None
        return None


def _texts(value: Any) -> Iterator[str]:
    """Every value held in a row, as text (the keys are not searched: every row has them)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)
    elif value is not None:
        yield value if isinstance(value, str) else str(value)


def _is_split(path: Path) -> bool:
    if not path.is_dir():
        return False
    return (path / ARROW_MARKER).exists() or any(
        child.suffix in DATA_SUFFIXES for child in path.iterdir()
    )


def _columns(rows: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """Columns in first-seen order, the metadata column last."""
    seen: dict[str, None] = {}
    for _, row in rows:
        seen.update(dict.fromkeys(row))
    seen.pop(STILLROOM_METADATA_KEY, None)
    return (
        [*seen, STILLROOM_METADATA_KEY]
        if any(STILLROOM_METADATA_KEY in r for _, r in rows)
        else list(seen)
    )


def _locate(path: Path) -> tuple[Path, Path | None]:
    """(directory holding the configs, the run's directory if `path` is a run's)."""
    if not path.exists():
        raise StillroomError(f"{path} does not exist: give a run's directory or a saved dataset.")
    if (path / "data").is_dir():  # a run directory
        return path / "data", path
    if path.name == "data" and any((path.parent / n).exists() for n in (RUN_STATUS_FILE, ".lock")):
        return path, path.parent
    runs = [p for p in path.iterdir() if p.is_dir() and (p / "data").is_dir()]
    if runs:  # a pipeline's directory: its latest run
        latest = max(runs, key=lambda p: (p / "data").stat().st_mtime)
        return latest / "data", latest
    return path, None


def latest_run(root: Path) -> Path | None:
    """The run directory most recently written under a cache root (`stillroom view` alone)."""
    runs = list(root.glob("pipelines/*/*/data"))
    if not runs:
        return None
    return max(runs, key=lambda p: p.stat().st_mtime).parent
