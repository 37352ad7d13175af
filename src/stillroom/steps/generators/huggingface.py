"""Loaders for datasets on the Hugging Face Hub and in data files (local or remote)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GeneratorStep
from stillroom.steps.generators.batching import batches_with_last
from stillroom.steps.generators.file_formats import (
    file_format,
    first_columns,
    read_rows,
    resolve_files,
)
from stillroom.steps.typing import GeneratorStepOutput, Row, StepColumns

logger = logging.getLogger("stillroom.steps")


def _datasets(feature: str) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise MissingExtraError(feature, "hf", "datasets") from exc
    return datasets


class LoadDataFromHub(GeneratorStep):
    """Yield the rows of a dataset split from the Hugging Face Hub, through `datasets`.

    Needs the `[hf]` extra. `load()` opens the dataset (downloading it unless `streaming`);
    rows are then converted to dicts one batch at a time.

    Runtime parameters:
        - `batch_size`: rows per yielded batch.
        - `repo_id`: the dataset's repository id (required), or a local dataset folder.
        - `split`: the split to read (`"train"`).
        - `config`: the configuration, for datasets that have several.
        - `revision`: a branch, tag or commit of the dataset repository.
        - `streaming`: read the rows while downloading instead of downloading first.
        - `num_examples`: yield at most this many rows.
        - `storage_options`: options for the file system `datasets` reads through.

    Output columns:
        - dynamic: the dataset's columns.

    Example:
        ```python
        loader = LoadDataFromHub(repo_id="my-org/prompts", split="test", num_examples=100)
        loader.load()
        rows, is_last = next(loader.process())
        ```
    """

    repo_id: RuntimeParameter[str] = Field(
        default=None, description="Repository id of the dataset on the Hugging Face Hub."
    )
    split: RuntimeParameter[str] = Field(default="train", description="The split to load.")
    config: RuntimeParameter[str | None] = Field(
        default=None, description="The dataset configuration, if it has several."
    )
    revision: RuntimeParameter[str | None] = Field(
        default=None, description="Branch, tag or commit of the dataset; the latest if None."
    )
    streaming: RuntimeParameter[bool] = Field(
        default=False, description="Stream the rows instead of downloading the split first."
    )
    num_examples: RuntimeParameter[int | None] = Field(
        default=None, ge=0, description="Load at most this many rows; all when None."
    )
    storage_options: RuntimeParameter[dict[str, Any] | None] = Field(
        default=None,
        exclude=True,
        repr=False,
        description="Options for the file system backend (never dumped: may hold credentials).",
    )

    _dataset: Any = PrivateAttr(default=None)

    def load(self) -> None:
        """Open the split (and cut it to `num_examples`)."""
        datasets = _datasets(self._label())
        if not self.repo_id:
            raise StillroomError(
                f"{self._label()}: set repo_id, e.g. LoadDataFromHub(repo_id='org/name') or "
                "pipeline.run(parameters={step_name: {'repo_id': 'org/name'}})."
            )
        dataset = datasets.load_dataset(
            self.repo_id,
            self.config,
            split=self.split,
            revision=self.revision,
            streaming=self.streaming,
            storage_options=self.storage_options,
        )
        if self.num_examples is not None:
            if self.streaming:
                dataset = dataset.take(self.num_examples)
            else:
                dataset = dataset.select(range(min(self.num_examples, len(dataset))))
        self._dataset = dataset

    def unload(self) -> None:
        self._dataset = None

    @property
    def outputs(self) -> StepColumns:
        """The dataset's columns: from the opened dataset, else from its metadata if known."""
        if self._dataset is not None and self._dataset.column_names is not None:
            return list(self._dataset.column_names)
        if not self.repo_id:
            return []
        return list(_hub_columns(self.repo_id, self.config, self.revision))

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """`(rows, is_last)` batches of `batch_size` rows, from row `offset` on."""
        dataset = self._dataset
        if offset:
            if self.streaming:
                dataset = dataset.skip(offset)
            else:
                dataset = dataset.select(range(min(offset, len(dataset)), len(dataset)))
        yield from batches_with_last(_rows_of(dataset.iter(self.batch_size)), self.batch_size)


def _rows_of(batches: Iterable[dict[str, list[Any]]]) -> Iterator[Row]:
    """Column-oriented batches (`{"a": [1, 2]}`) as rows (`{"a": 1}`, `{"a": 2}`)."""
    for batch in batches:
        names = list(batch)
        for values in zip(*batch.values(), strict=True):
            yield dict(zip(names, values, strict=True))


_known_columns: dict[tuple[str, str | None, str | None], tuple[str, ...]] = {}


def _hub_columns(repo_id: str, config: str | None, revision: str | None) -> tuple[str, ...]:
    """A dataset's columns from its metadata, without downloading data; () when unknown.

    Used before `load()` so a pipeline can check its column flow. Any failure (offline, a
    dataset without declared features) only means "unknown": `load()` reports real errors.
    Known columns are remembered for the process; unknown ones are asked again next time.
    """
    key = (repo_id, config, revision)
    if key not in _known_columns:
        try:
            builder = _datasets("LoadDataFromHub").load_dataset_builder(
                repo_id, config, revision=revision
            )
            features = builder.info.features
        except Exception as exc:
            logger.debug("columns of %s unknown before loading: %s", repo_id, exc)
            return ()
        if not features:
            return ()
        _known_columns[key] = tuple(features)
    return _known_columns[key]


class LoadDataFromFileSystem(GeneratorStep):
    """Yield the rows of JSON Lines, JSON, CSV/TSV or Parquet files, batch by batch.

    `data_files` is a file, a directory (every data file below it), a glob such as
    `"data/**/*.jsonl"`, or a list of those; remote paths (`s3://...`) work through
    `fsspec` with `storage_options`. Files are read lazily in order, so only a batch is in
    memory at a time (except a `.json` file holding one array, parsed whole). The format
    comes from each file's suffix (`.gz` is decompressed), or from `filetype`. Parquet needs
    the `[parquet]` extra. CSV values are strings, as CSV has no types; cast them downstream
    if needed. The first row's columns are the step's outputs: a later row that lacks one
    of them gets `None` there.

    Runtime parameters:
        - `batch_size`: rows per yielded batch.
        - `data_files`: the file(s) to read (required).
        - `split`: accepted for compatibility; files make up a single `"train"` split.
        - `streaming`: accepted for compatibility; files are always read lazily.
        - `num_examples`: yield at most this many rows.
        - `filetype`: `jsonl`, `json`, `csv`, `tsv` or `parquet`, to override suffixes.
        - `storage_options`: fsspec options (credentials...) for remote paths.

    Output columns:
        - dynamic: the columns of the first row.

    Example:
        ```python
        loader = LoadDataFromFileSystem(data_files="prompts/*.jsonl", batch_size=100)
        loader.load()
        rows, is_last = next(loader.process())
        ```
    """

    data_files: RuntimeParameter[str | Path | list[str | Path]] = Field(
        default=None, description="A file, directory or glob (or a list of them) to load."
    )
    split: RuntimeParameter[str] = Field(
        default="train", description="The split: data files form one split, 'train'."
    )
    streaming: RuntimeParameter[bool] = Field(
        default=False, description="Kept for compatibility: files are always read lazily."
    )
    num_examples: RuntimeParameter[int | None] = Field(
        default=None, ge=0, description="Load at most this many rows; all when None."
    )
    storage_options: RuntimeParameter[dict[str, Any] | None] = Field(
        default=None,
        exclude=True,
        repr=False,
        description="fsspec options for remote paths (never dumped: may hold credentials).",
    )
    filetype: RuntimeParameter[str | None] = Field(
        default=None, description="The files' format; inferred from their suffix when None."
    )

    _files: list[tuple[str, str]] = PrivateAttr(default_factory=list)
    _columns: list[str] | None = PrivateAttr(default=None)

    def load(self) -> None:
        """Find the files and check that their formats are known."""
        if self.split != "train":
            raise StillroomError(
                f"{self._label()}: data files form a single split named 'train'; got "
                f"split={self.split!r}. Point data_files at the files of the split you want."
            )
        self._columns = None
        self._files = self._find_files()

    def unload(self) -> None:
        self._files = []

    def _find_files(self) -> list[tuple[str, str]]:
        if self.data_files is None or self.data_files == []:
            raise StillroomError(
                f"{self._label()}: set data_files to a file, directory or glob, e.g. "
                "LoadDataFromFileSystem(data_files='data/*.jsonl')."
            )
        paths = resolve_files(self._label(), self.data_files, self.storage_options)
        return [(path, file_format(self._label(), path, self.filetype)) for path in paths]

    @property
    def outputs(self) -> StepColumns:
        """The columns of the first row of the first file (read once, then remembered)."""
        if self._columns is None:
            if self.data_files is None:
                return []
            path, kind = (self._files or self._find_files())[0]
            self._columns = first_columns(path, kind, self.storage_options)
        return list(self._columns)

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """`(rows, is_last)` batches of `batch_size` rows, from row `offset` on."""
        columns = self.outputs
        rows = chain.from_iterable(
            read_rows(path, kind, self.storage_options, chunk_size=self.batch_size)
            for path, kind in self._files
        )
        selected = islice(rows, offset, self.num_examples)
        filled = ({**dict.fromkeys(columns), **row} for row in selected)
        yield from batches_with_last(filled, self.batch_size)
