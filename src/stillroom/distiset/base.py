"""The `Distiset` class: a dict of Hugging Face datasets, one per leaf step of a run.

`distiset["default"]` (one leaf) or `distiset["<leaf step>"]` (several) is a
`datasets.DatasetDict` whose `"train"` split is a `datasets.Dataset` memory-mapped from the
run's files; a value may also be a plain `Dataset` (built by hand, as distilabel allows).
Saving, loading and pushing live in `io.py` and `hub.py`, the card in `card.py`; this
module only holds the mapping and what it knows about the run (paths, summary, citations).
`datasets` is imported by the methods that need it, never by importing this module.
"""

from __future__ import annotations

import html
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stillroom.constants import DISTISET_CONFIG_FOLDER, PIPELINE_CONFIG_FILENAME
from stillroom.distiset import card, hub, io
from stillroom.distiset.pending import PendingLeaf
from stillroom.errors import StillroomError
from stillroom.run_summary import RunSummary

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger("stillroom.distiset")

_RESOLVING = threading.Lock()
"""Held while pending values are built, so that two threads do not build the same one."""

_MISSING = object()
"""`pop`'s default when none is given."""

_WAITING: weakref.WeakValueDictionary[int, Distiset] = weakref.WeakValueDictionary()
"""The Distisets with values still to build, by id (a dict is not hashable; an entry goes
when its Distiset does), for `build_pending_distisets`."""


def build_pending_distisets(data_dir: Path) -> None:
    """Build the pending values of every Distiset read from `data_dir`, before a new run
    changes or removes the files there: a Distiset returned by a run keeps that run's rows
    when the same pipeline runs again in this process, as if it had been built at once."""
    for distiset in list(_WAITING.values()):
        if any(
            leaf.reads_from(data_dir)
            for leaf in dict.values(distiset)
            if isinstance(leaf, PendingLeaf)
        ):
            try:
                distiset.resolve()
            except Exception as exc:  # the new run goes on; that Distiset raises when used
                logger.warning(
                    "The datasets of an earlier run's Distiset, read from %s, could not be "
                    "built before this run rewrites that folder: %s",
                    data_dir,
                    exc,
                )


class SavablePipeline(Protocol):
    """What a Distiset needs of the pipeline that made it: its name, and `save` to write
    its `pipeline.yaml` (a structural type, so that this module never imports the pipeline)."""

    @property
    def name(self) -> str: ...

    enable_metadata: bool
    """Whether the metadata column is kept in the Distiset."""

    def save(self, path: str | Path) -> Path: ...


class Distiset(dict[str, Any]):
    """Configuration name -> `datasets.DatasetDict` (or `datasets.Dataset`).

    Besides the datasets: `summary` (the run's `RunSummary`, None when loaded from disk),
    `pipeline_path` (its `pipeline.yaml`), `log_filename_path` (its `pipeline.log`),
    `artifacts_path` (the steps' artifacts, if any) and `citations` (BibTeX entries put in
    the dataset card).

    The Distiset of a run is lazy: its values are stored as `PendingLeaf`s and built, all
    at once and in place, by `resolve()`, which every method that hands out a value calls
    first (`[]`, `get`, `values`, `items`, `pop`, `copy`, `==`, `|`, repr, pickling, and
    saving or pushing through them). Its keys are known at once (`len`, `in`, `keys`,
    iterating over names build nothing). `__iter__` is overridden so that `dict(d)`,
    `{**d}` and `other.update(d)` read the values through `__getitem__`: for a dict subclass
    that keeps `dict.__iter__`, CPython copies the stored values directly. Pickling and
    `copy.copy` go through `items()`. Only calling `dict`'s own methods on it
    (`dict.values(d)`) can see a `PendingLeaf`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.summary: RunSummary | None = None
        self.pipeline: SavablePipeline | None = None
        self.license: str | None = None
        self._pipeline_path: Path | None = None
        self._pipeline_yaml_target: Path | None = None
        self._log_filename_path: Path | None = None
        self._artifacts_path: Path | None = None
        self._citations: list[str] | None = None

    # --- values built on first use (see pending.py) ------------------------------------

    def _set_pending(self, name: str, leaf: PendingLeaf) -> None:
        """Store `leaf` under `name`, to be built by `resolve()` when a value is first used."""
        dict.__setitem__(self, name, leaf)
        _WAITING[id(self)] = self

    def resolve(self) -> None:
        """Build every pending value, in place and in order; nothing to do when none is."""
        if not any(isinstance(v, PendingLeaf) for v in dict.values(self)):
            return
        with _RESOLVING:
            for name, value in list(dict.items(self)):
                if isinstance(value, PendingLeaf):
                    dict.__setitem__(self, name, value.build())
            _WAITING.pop(id(self), None)

    def __getitem__(self, name: str) -> Any:
        self.resolve()
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        self.resolve()
        return dict.get(self, name, default)

    def values(self) -> Any:
        self.resolve()
        return dict.values(self)

    def items(self) -> Any:
        self.resolve()
        return dict.items(self)

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        self.resolve()
        return dict.pop(self, name) if default is _MISSING else dict.pop(self, name, default)

    def popitem(self) -> tuple[str, Any]:
        self.resolve()
        return dict.popitem(self)

    def setdefault(self, name: str, default: Any = None) -> Any:
        self.resolve()
        return dict.setdefault(self, name, default)

    def copy(self) -> dict[str, Any]:
        """A plain dict of the same values (as `dict.copy`, and distilabel's Distiset)."""
        self.resolve()
        return dict.copy(self)

    def __iter__(self) -> Iterator[str]:
        # Same iteration as dict's; overriding it makes CPython copy a Distiset (`dict(d)`,
        # `{**d}`, `update`, `|`) through keys() and __getitem__, which build the values.
        return dict.__iter__(self)

    def __eq__(self, other: object) -> bool:
        self.resolve()
        if isinstance(other, Distiset):
            other.resolve()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __or__(self, other: Any) -> Any:
        self.resolve()
        return dict.__or__(self, other)

    # --- what the Distiset knows about its run -------------------------------------------

    @property
    def pipeline_path(self) -> Path | None:
        """The `pipeline.yaml` of the pipeline that made these datasets, if known. A run's
        Distiset writes it into the run's folder when first asked (dumping a pipeline whose
        steps hold their data can take a while, so a run does not pay for it up front)."""
        self._write_pipeline_yaml()
        return self._pipeline_path

    @pipeline_path.setter
    def pipeline_path(self, path: str | os.PathLike[str]) -> None:
        self._pipeline_path = Path(path)

    def _write_pipeline_yaml(self) -> None:
        """Write the pipeline's `pipeline.yaml` if that is still to do (once)."""
        if self._pipeline_path is None and self._pipeline_yaml_target is not None:
            target, self._pipeline_yaml_target = self._pipeline_yaml_target, None
            if self.pipeline is not None:
                try:
                    self._pipeline_path = self.pipeline.save(target)
                except Exception as exc:  # a pipeline holding a function cannot be dumped
                    logger.warning(
                        "pipeline.yaml not written (the pipeline cannot be dumped): %s", exc
                    )

    def write_pipeline_yaml_to(self, pipeline: SavablePipeline, target: Path) -> None:
        """Make `pipeline` the one that made these datasets; its `pipeline.yaml` is written to
        `target` when `pipeline_path` is first read."""
        self.pipeline = pipeline
        self._pipeline_yaml_target = target

    @property
    def log_filename_path(self) -> Path | None:
        """The `pipeline.log` the run wrote, if known."""
        return self._log_filename_path

    @log_filename_path.setter
    def log_filename_path(self, path: str | os.PathLike[str]) -> None:
        self._log_filename_path = Path(path)

    @property
    def artifacts_path(self) -> Path | None:
        """The folder of the steps' artifacts (`<step>/<artifact>/metadata.json`), if any."""
        return self._artifacts_path

    @artifacts_path.setter
    def artifacts_path(self, path: str | os.PathLike[str]) -> None:
        self._artifacts_path = Path(path)

    @property
    def citations(self) -> list[str] | None:
        """BibTeX entries for the dataset card (sorted, without duplicates)."""
        return self._citations

    @citations.setter
    def citations(self, entries: list[str]) -> None:
        self._citations = sorted(set(entries))

    def __getstate__(self) -> dict[str, Any]:
        """The attributes that are pickled (or copied by `copy`): all but the pipeline
        object, which holds locks and clients; its `pipeline.yaml` is written first, so
        that `pipeline_path` goes along. The values go through `items()`, built."""
        self._write_pipeline_yaml()
        return {**vars(self), "pipeline": None}

    # --- datasets ----------------------------------------------------------------------

    def train_test_split(
        self, train_size: float, shuffle: bool = True, seed: int | None = None
    ) -> Self:
        """Split every configuration into `"train"` and `"test"` (`train_size`: the
        fraction kept for training, strictly between 0 and 1), in place; returns self.

        A configuration that is a `DatasetDict` is split from its `"train"` split."""
        if not 0 < train_size < 1:
            raise StillroomError(
                f"train_test_split(train_size={train_size!r}): give the fraction of rows "
                "kept for training, a number strictly between 0 and 1 (e.g. 0.8)."
            )
        for name, dataset in list(self.items()):
            if isinstance(dataset, dict):
                if "train" not in dataset:
                    raise StillroomError(
                        f"train_test_split: configuration {name!r} has no 'train' split to "
                        f"split (its splits: {sorted(dataset)})."
                    )
                dataset = dataset["train"]
            self[name] = dataset.train_test_split(train_size=train_size, shuffle=shuffle, seed=seed)
        return self

    def transform_columns_to_image(self, columns: str | list[str]) -> Self:
        """Decode the base64 images held in `columns` and type those columns as
        `datasets.Image`, in every configuration and split (needs Pillow); returns self."""
        from stillroom.distiset.images import columns_to_image

        names = [columns] if isinstance(columns, str) else list(columns)
        for name, dataset in list(self.items()):
            if isinstance(dataset, dict):
                for split in list(dataset):
                    dataset[split] = columns_to_image(dataset[split], names)
            else:
                self[name] = columns_to_image(dataset, names)
        return self

    # --- saving, loading, pushing ------------------------------------------------------

    def save_to_disk(
        self,
        distiset_path: str | os.PathLike[str],
        max_shard_size: str | int | None = None,
        num_shards: int | None = None,
        num_proc: int | None = None,
        storage_options: dict[str, Any] | None = None,
        save_card: bool = True,
        save_pipeline_config: bool = True,
        save_pipeline_log: bool = True,
    ) -> Path | str:
        """Write the Distiset to a local folder or an fsspec URL (`s3://...`, `memory://...`)
        in distilabel's layout: `<config>/` as `datasets` saves it, and
        `distiset_configs/{README.md,pipeline.yaml,pipeline.log}`, `artifacts/`.
        Returns the folder (a `Path`; a URL is returned as given)."""
        target = str(distiset_path)
        io.save(
            self,
            target,
            datasets_options={
                "max_shard_size": max_shard_size,
                "num_shards": num_shards,
                "num_proc": num_proc,
                "storage_options": storage_options,
            },
            storage_options=storage_options,
            card_text=str(self._card(Path(target).name, on_disk=True)) if save_card else None,
            pipeline_path=self.pipeline_path if save_pipeline_config else None,
            log_filename_path=self.log_filename_path if save_pipeline_log else None,
            artifacts_path=self.artifacts_path,
        )
        return target if "://" in target else Path(target)

    @classmethod
    def load_from_disk(
        cls,
        distiset_path: str | os.PathLike[str],
        keep_in_memory: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        download_dir: str | os.PathLike[str] | None = None,
    ) -> Self:
        """Read a Distiset saved by `save_to_disk` (stillroom's or distilabel's), from a
        local folder or an fsspec URL; a remote one is first copied to `download_dir` (a
        temporary folder by default)."""
        loaded = io.load(distiset_path, keep_in_memory, storage_options, download_dir)
        distiset = cls(loaded.datasets)
        if loaded.pipeline_path is not None:
            distiset.pipeline_path = loaded.pipeline_path
        if loaded.log_filename_path is not None:
            distiset.log_filename_path = loaded.log_filename_path
        if loaded.artifacts_path is not None:
            distiset.artifacts_path = loaded.artifacts_path
        return distiset

    def push_to_hub(
        self,
        repo_id: str,
        private: bool = False,
        token: str | None = None,
        generate_card: bool = True,
        include_script: bool = False,
        **kwargs: Any,
    ) -> None:
        """Upload each configuration to the Hub dataset repository `repo_id` (as a config of
        that name), then the artifacts, the pipeline's `pipeline.yaml` and `pipeline.log`,
        the running script with `include_script=True`, and the dataset card with
        `generate_card=True`. `token`: else `$HF_TOKEN` or the saved login. `kwargs` go to
        `DatasetDict.push_to_hub`."""
        hub.push(
            self,
            repo_id,
            private=private,
            token=token,
            card=(lambda script: self._card(repo_id, script)) if generate_card else None,
            include_script=include_script,
            pipeline_path=self.pipeline_path,
            log_filename_path=self.log_filename_path,
            artifacts_path=self.artifacts_path,
            **kwargs,
        )

    def _card(self, repo_id: str, script: str | None = None, on_disk: bool = False) -> Any:
        """The dataset card (`huggingface_hub.DatasetCard`); `on_disk`: for a saved folder,
        whose `pipeline.yaml` is in `distiset_configs/`."""
        return card.dataset_card(
            self,
            repo_id,
            pipeline_path=self.pipeline_path,
            summary=self.summary,
            citations=self.citations,
            license=self.license,
            script=script,
            artifacts=card.artifacts_metadata(self.artifacts_path),
            config_location=f"{DISTISET_CONFIG_FOLDER}/{PIPELINE_CONFIG_FILENAME}"
            if on_disk
            else None,
        )

    # --- display -----------------------------------------------------------------------

    def __repr__(self) -> str:
        body = "\n".join(f"{name}: {dataset}" for name, dataset in self.items())
        indented = "\n".join("    " + line for line in body.splitlines())
        return f"Distiset({{\n{indented}\n}})"

    def _repr_html_(self) -> str:
        """A small table for notebooks: one line per configuration and split."""
        cells = []
        for name, dataset in self.items():
            parts = dataset.items() if isinstance(dataset, dict) else [("", dataset)]
            for split, data in parts:
                columns = ", ".join(getattr(data, "column_names", []) or [])
                cells.append(
                    "<tr>"
                    + "".join(
                        f"<td>{html.escape(str(v))}</td>"
                        for v in (name, split, f"{len(data):,}", columns)
                    )
                    + "</tr>"
                )
        head = "".join(f"<th>{h}</th>" for h in ("configuration", "split", "rows", "columns"))
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(cells)}</tbody></table>" + (
            f"<p>{html.escape(self.summary.headline())}</p>" if self.summary else ""
        )
