"""`Distiset`: the datasets a pipeline run produced, one per leaf step (mirrors distilabel).

A `Distiset` maps a configuration name to its splits: `distiset["default"]["train"]` when
the pipeline has one leaf step, `distiset["<leaf step>"]["train"]` when it has several. Each
split is a `RowDataset` over the JSONL/Parquet files the run wrote, read lazily, so returning
a Distiset costs no memory. `to_hf()` and `push_to_hub()` use Hugging Face `datasets`
(the `[hf]` extra), imported only when called.

On disk: `<path>/<config>/<split>/NNNNN.jsonl|parquet`; `save_to_disk` adds the
`pipeline.yaml` that made it.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.run_summary import RunSummary

logger = logging.getLogger("stillroom.distiset")

_DATA_SUFFIXES = (".parquet", ".jsonl")


def _import_datasets(feature: str) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise MissingExtraError(feature, "hf", "datasets") from exc
    return datasets


class RowDataset:
    """One split of a dataset: rows (dicts) stored in JSONL and/or Parquet files."""

    def __init__(self, files: list[Path]) -> None:
        self.files = list(files)
        self._num_rows: int | None = None
        self._rows: list[dict[str, Any]] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._rows is not None:
            yield from self._rows
            return
        for path in self.files:
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                for batch in pq.ParquetFile(path).iter_batches():
                    yield from batch.to_pylist()
            else:
                with open(path, encoding="utf-8") as handle:
                    for line in handle:
                        if line.strip():
                            yield json.loads(line)

    @property
    def num_rows(self) -> int:
        if self._num_rows is None:
            total = 0
            for path in self.files:
                if path.suffix == ".parquet":
                    import pyarrow.parquet as pq

                    total += pq.ParquetFile(path).metadata.num_rows
                else:
                    with open(path, "rb") as handle:
                        total += sum(1 for line in handle if line.strip())
            self._num_rows = total
        return self._num_rows

    def __len__(self) -> int:
        return self.num_rows

    def to_list(self) -> list[dict[str, Any]]:
        """All rows in memory (read once, then kept)."""
        if self._rows is None:
            self._rows = list(self)
        return self._rows

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.column_names:
                raise KeyError(f"No column {key!r}; columns: {self.column_names}")
            return [row.get(key) for row in self]
        return self.to_list()[key]

    @property
    def column_names(self) -> list[str]:
        """Every column any row has, in first-seen order."""
        columns: dict[str, None] = {}
        for row in self:
            columns.update(dict.fromkeys(row))
        return list(columns)

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError as exc:
            raise MissingExtraError("RowDataset.to_pandas()", "hf", "pandas") from exc
        return pd.DataFrame(self.to_list())

    def to_hf(self) -> Any:
        """This split as a Hugging Face `datasets.Dataset`."""
        datasets = _import_datasets("Converting a dataset to Hugging Face datasets")
        return datasets.Dataset.from_list(self.to_list())

    def __repr__(self) -> str:
        return f"RowDataset(num_rows={self.num_rows}, files={len(self.files)})"


class SavablePipeline(Protocol):
    """What a Distiset needs of the pipeline that made it: its name, and `save` for
    `save_to_disk` (a structural type, so that this module never imports the pipeline)."""

    @property
    def name(self) -> str: ...

    def save(self, path: str | Path) -> Path: ...


class Distiset(dict[str, dict[str, RowDataset]]):
    """Configuration name -> {split name -> RowDataset}; `summary` describes the run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.summary: RunSummary | None = None
        self.path: Path | None = None
        self.pipeline: SavablePipeline | None = None

    @classmethod
    def load_from_disk(cls, path: str | Path) -> Distiset:
        """Read a Distiset written by a run or by `save_to_disk`."""
        root = Path(path)
        if not root.is_dir():
            raise StillroomError(f"{root} is not a directory holding a Distiset.")
        distiset = cls()
        for config in sorted(p for p in root.iterdir() if p.is_dir()):
            splits = {}
            for split in sorted(p for p in config.iterdir() if p.is_dir()):
                files = sorted(
                    f
                    for f in split.iterdir()
                    if f.suffix in _DATA_SUFFIXES and not f.name.startswith(".")
                )
                splits[split.name] = RowDataset(files)
            if splits:
                distiset[config.name] = splits
        distiset.path = root
        return distiset

    def save_to_disk(self, path: str | Path) -> Path:
        """Copy the data files to `path`, with the `pipeline.yaml` that made them."""
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        for config, splits in self.items():
            for split, dataset in splits.items():
                directory = target / config / split
                if directory.exists():
                    shutil.rmtree(directory)
                directory.mkdir(parents=True)
                for file in dataset.files:
                    shutil.copy2(file, directory / file.name)
        if self.pipeline is not None:
            try:
                self.pipeline.save(target / "pipeline.yaml")
            except StillroomError as exc:
                logger.warning("pipeline.yaml not written (the pipeline cannot be dumped): %s", exc)
        elif self.path is not None and (self.path / "pipeline.yaml").exists():
            shutil.copy2(self.path / "pipeline.yaml", target / "pipeline.yaml")
        return target

    def to_hf(self) -> dict[str, Any]:
        """Configuration name -> Hugging Face `datasets.DatasetDict`."""
        datasets = _import_datasets("Converting a Distiset to Hugging Face datasets")
        return {
            config: datasets.DatasetDict({split: ds.to_hf() for split, ds in splits.items()})
            for config, splits in self.items()
        }

    def push_to_hub(
        self, repo_id: str, private: bool = False, token: str | None = None, **kwargs: Any
    ) -> None:
        """Upload every configuration to one Hub dataset repository (via `datasets`)."""
        for config, dataset_dict in self.to_hf().items():
            dataset_dict.push_to_hub(
                repo_id, config_name=config, private=private, token=token, **kwargs
            )

    def __repr__(self) -> str:
        lines = ["Distiset({"]
        for config, splits in self.items():
            inner = ", ".join(f"{split!r}: {ds!r}" for split, ds in splits.items())
            lines.append(f"    {config!r}: {{{inner}}},")
        lines.append("})")
        return "\n".join(lines)
