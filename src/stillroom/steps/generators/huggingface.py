"""Loaders for datasets on the Hugging Face Hub, in data files, and saved to disk."""

from __future__ import annotations

import logging
from abc import ABC
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr

from stillroom.distiset import Distiset
from stillroom.errors import MissingExtraError, StillroomError, StillroomUserError, did_you_mean
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GeneratorStep
from stillroom.steps.generators.batching import batches_with_last
from stillroom.steps.generators.file_formats import (
    _is_remote,
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


class _DatasetLoader(GeneratorStep, ABC):
    """What the dataset loaders share: a row limit and the file system's options."""

    num_examples: RuntimeParameter[int | None] = Field(
        default=None, ge=0, description="Load at most this many rows; all when None."
    )
    storage_options: RuntimeParameter[dict[str, Any] | None] = Field(
        default=None,
        exclude=True,
        repr=False,
        description="Options for the file system backend, e.g. fsspec credentials (never "
        "dumped: they may hold secrets).",
    )


class LoadDataFromHub(_DatasetLoader):
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

    _dataset: Any = PrivateAttr(default=None)
    _in_memory: Any = PrivateAttr(default=None)
    """A `datasets.Dataset` handed over in code (`make_generator_step`): read, not opened."""

    def load(self) -> None:
        """Open the split (and cut it to `num_examples`)."""
        if self._in_memory is not None:
            self._dataset = _first_rows(self._in_memory, self.num_examples)
            return
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
        self._dataset = _first_rows(dataset, self.num_examples)

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
        yield from _dataset_batches(self._dataset, offset, self.batch_size)


def _first_rows(dataset: Any, num_examples: int | None) -> Any:
    """A `datasets` dataset (streamed or not) cut to its first `num_examples` rows."""
    return dataset if num_examples is None else dataset.take(num_examples)


def _dataset_batches(
    dataset: Any, offset: int, batch_size: int
) -> Iterator[tuple[list[Row], bool]]:
    """`(rows, is_last)` batches of a `datasets` dataset (streamed or not), from row `offset` on."""
    if offset:
        dataset = dataset.skip(offset)
    yield from batches_with_last(_rows_of(dataset.iter(batch_size)), batch_size)


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


class LoadDataFromFileSystem(_DatasetLoader):
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
        rows = _files_rows(self._files, self.storage_options, self.batch_size)
        yield from _row_batches(rows, self.outputs, offset, self.num_examples, self.batch_size)


def _files_rows(
    files: Iterable[tuple[str, str]], storage_options: dict[str, Any] | None, chunk_size: int
) -> Iterator[Row]:
    """The rows of `(path, format)` files, one after the other, read lazily."""
    return chain.from_iterable(
        read_rows(path, kind, storage_options, chunk_size=chunk_size) for path, kind in files
    )


def _row_batches(
    rows: Iterable[Row], columns: list[str], offset: int, num_examples: int | None, size: int
) -> Iterator[tuple[list[Row], bool]]:
    """Rows `offset` to `num_examples` in `(rows, is_last)` batches; a missing column is None."""
    selected = islice(rows, offset, num_examples)
    filled = ({**dict.fromkeys(columns), **row} for row in selected)
    yield from batches_with_last(filled, size)


class LoadDataFromDisk(_DatasetLoader):
    """Yield the rows of a dataset saved to a folder, by `datasets` or as a stillroom Distiset.

    Two kinds of folder are read:
        - one written by `datasets`' `Dataset.save_to_disk` or `DatasetDict.save_to_disk`
          (needs the `[hf]` extra). Rows are read from the memory-mapped Arrow files;
          `storage_options` lets `datasets` read a remote folder (`s3://...`).
        - with `is_distiset=True`, one written by `Distiset.save_to_disk` (stillroom's or
          distilabel's), or a pipeline run's data folder; `storage_options` lets it be read
          from a remote folder too.

    The folder, configuration and split are checked in `load()`, so a wrong name fails before
    any row is yielded, with the names that do exist.

    Runtime parameters:
        - `batch_size`: rows per yielded batch.
        - `dataset_path`: the folder (required).
        - `split`: the split; when unset, `"train"` if there is one, else the only split.
        - `config`: the Distiset configuration; when unset, `"default"`, else the only one.
        - `is_distiset`: whether the folder holds a Distiset (`False`).
        - `keep_in_memory`: read the whole split into memory at `load()`.
        - `num_examples`: yield at most this many rows.
        - `storage_options`: options for the file system `datasets` reads through.

    Output columns:
        - dynamic: the dataset's columns.

    Example:
        ```python
        loader = LoadDataFromDisk(dataset_path="runs/first", is_distiset=True, batch_size=64)
        loader.load()
        rows, is_last = next(loader.process())
        ```
    """

    dataset_path: RuntimeParameter[str | Path] = Field(
        default=None, description="The folder holding the saved dataset or Distiset."
    )
    split: RuntimeParameter[str | None] = Field(
        default=None, description="The split; 'train' (or the only split) when None."
    )
    config: RuntimeParameter[str | None] = Field(
        default=None,
        description="The Distiset configuration; 'default' (or the only one) when None.",
    )
    is_distiset: RuntimeParameter[bool] = Field(
        default=False, description="Whether the folder was written by Distiset.save_to_disk."
    )
    keep_in_memory: RuntimeParameter[bool | None] = Field(
        default=None, description="Read the whole split into memory when loading."
    )

    _dataset: Any = PrivateAttr(default=None)
    _columns: list[str] = PrivateAttr(default_factory=list)
    _columns_of: tuple[Any, ...] | None = PrivateAttr(default=None)

    def load(self) -> None:
        """Check the folder, open the split, and cut it to `num_examples`."""
        self.unload()
        self._check_source()
        if self.is_distiset:
            split = self._distiset_split(self.keep_in_memory)
        else:
            split = self._saved_split(self.keep_in_memory)
        self._dataset = _first_rows(split, self.num_examples)
        self._columns = list(self._dataset.column_names)
        self._columns_of = self._source_key()

    def unload(self) -> None:
        self._dataset = None
        self._columns_of = None

    @property
    def outputs(self) -> StepColumns:
        """The split's columns; read from the folder before `load()`, empty if it cannot be."""
        if self._columns_of != self._source_key():
            if not self.dataset_path:
                return []
            try:
                self._check_source()
                if self.is_distiset:
                    split = self._distiset_split(keep_in_memory=False)
                else:
                    split = self._saved_split(keep_in_memory=False)
                columns = list(split.column_names)
            except (StillroomError, OSError) as exc:
                logger.debug("columns of %s unknown before loading: %s", self.dataset_path, exc)
                return []
            self._columns = columns
            self._columns_of = self._source_key()
        return list(self._columns)

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """`(rows, is_last)` batches of `batch_size` rows, from row `offset` on."""
        if self._dataset is None:
            raise StillroomError(f"{self._label()}: call load() before process().")
        yield from _dataset_batches(self._dataset, offset, self.batch_size)

    def _source_key(self) -> tuple[Any, ...]:
        return (str(self.dataset_path), self.is_distiset, self.config, self.split)

    def _check_source(self) -> None:
        """Errors that need no reading: a missing path, a config without a Distiset..."""
        label, path = self._label(), self.dataset_path
        if not path:
            raise StillroomError(
                f"{label}: set dataset_path to the folder a dataset was saved to, e.g. "
                "LoadDataFromDisk(dataset_path='data/my-dataset')."
            )
        if self.config is not None and not self.is_distiset:
            raise StillroomError(
                f"{label}: config={self.config!r} picks a configuration of a Distiset; set "
                "is_distiset=True if the folder holds one, or leave config unset."
            )
        if not _is_remote(str(path)) and not Path(path).exists():
            raise FileNotFoundError(
                f"{label}: dataset_path {str(path)!r} does not exist. Give the folder that "
                "save_to_disk wrote."
            )

    def _saved_split(self, keep_in_memory: bool | None) -> Any:
        """The split of a `datasets` folder (a `Dataset`, or one split of a `DatasetDict`)."""
        datasets = _datasets(self._label())
        path = str(self.dataset_path)
        try:
            saved = datasets.load_from_disk(
                path, keep_in_memory=keep_in_memory, storage_options=self.storage_options
            )
        except FileNotFoundError as exc:
            raise StillroomError(
                f"{self._label()}: {path!r} holds no dataset written by datasets' "
                f"save_to_disk ({exc}). If Distiset.save_to_disk wrote it, set is_distiset=True."
            ) from exc
        if isinstance(saved, datasets.DatasetDict):
            return saved[_pick(self._label(), "split", self.split, list(saved), "train", path)]
        own_split = str(saved.split) if saved.split is not None else None
        if self.split is not None and self.split != own_split:
            raise StillroomError(
                f"{self._label()}: {path!r} holds a single dataset, not a DatasetDict of "
                f"splits, so split={self.split!r} cannot be chosen; leave split unset."
            )
        return saved

    def _distiset_split(self, keep_in_memory: bool | None) -> Any:
        """The chosen configuration and split of a saved Distiset."""
        label, root = self._label(), str(self.dataset_path)
        try:
            distiset = Distiset.load_from_disk(
                root, keep_in_memory=keep_in_memory, storage_options=self.storage_options
            )
        except StillroomError as exc:
            hint = (
                " It was saved by datasets: set is_distiset=False."
                if "datasets'" in str(exc)
                else ""
            )
            raise StillroomError(
                f"{label}: {root!r} holds no Distiset: expected one folder per configuration, "
                f"as Distiset.save_to_disk writes.{hint}"
            ) from exc
        config = _pick(label, "config", self.config, list(distiset), "default", root)
        chosen = distiset[config]
        if not isinstance(chosen, dict):
            if self.split is not None and self.split != "train":
                raise StillroomError(
                    f"{label}: configuration {config!r} of {root!r} is a single dataset, not a "
                    f"DatasetDict of splits, so split={self.split!r} cannot be chosen."
                )
            return chosen
        split = _pick(label, "split", self.split, list(chosen), "train", f"{root}/{config}")
        return chosen[split]


def _pick(
    label: str, what: str, wanted: str | None, available: list[str], default: str, where: str
) -> str:
    """The configuration or split to read: `wanted`, else `default`, else the only one."""
    if wanted is None:
        if default in available:
            return default
        if len(available) == 1:
            return available[0]
        raise StillroomUserError(
            f"{label}: {where!r} has several {what}s ({', '.join(available)}) and none is "
            f"named {default!r}; set {what} to one of them."
        )
    if wanted not in available:
        raise StillroomUserError(
            f"{label}: no {what} {wanted!r} in {where!r}; available: "
            f"{', '.join(available)}.{did_you_mean(wanted, available)}"
        )
    return wanted
