"""Saving a Distiset to a folder or an fsspec URL, and reading it back.

The layout is distilabel's, so that either library reads the other's folders:

    <distiset>/
        <config>/                 one per configuration, as `datasets` saves a DatasetDict
                                  (or a Dataset): dataset_dict.json, <split>/data-*.arrow...
        distiset_configs/         README.md (the card), pipeline.yaml, pipeline.log
        artifacts/                <step>/<artifact>/... when the steps wrote any

`datasets.load_from_disk("<distiset>/<config>")` reads one configuration on its own. A folder
whose configurations hold `<split>/` folders of JSONL/Parquet files, or the part files
directly (a run's data folder, or what stillroom saved before it wrote `datasets`' format), is
read too: its files are turned into Arrow files kept in `<folder>/.arrow/`.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stillroom.constants import (
    DISTISET_ARTIFACTS_FOLDER,
    DISTISET_CONFIG_FOLDER,
    PIPELINE_CONFIG_FILENAME,
    PIPELINE_LOG_FILENAME,
)
from stillroom.distiset.arrow_files import arrow_file, source_files, split_folders
from stillroom.errors import StillroomError

ARROW_CACHE = ".arrow"
"""Where the Arrow files made from a folder's JSONL/Parquet files are kept, in that folder."""

CARD_FILENAME = "README.md"

_LOCAL_PROTOCOLS = ("file", "local")


def _file_system(url: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return fs, path


def _is_local(fs: Any) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return any(p in _LOCAL_PROTOCOLS for p in protocols)


def save(
    datasets: Mapping[str, Any],
    target: str,
    *,
    datasets_options: dict[str, Any],
    storage_options: dict[str, Any] | None,
    card_text: str | None,
    pipeline_path: Path | None,
    log_filename_path: Path | None,
    artifacts_path: Path | None,
) -> None:
    """Write `datasets` and the run's files to `target` (a folder or an fsspec URL)."""
    for name, dataset in datasets.items():
        options = dict(datasets_options)
        if isinstance(dataset, dict) and isinstance(options.get("num_shards"), int):
            options["num_shards"] = dict.fromkeys(dataset, options["num_shards"])  # per split
        dataset.save_to_disk(posixpath.join(target, name), **options)
    fs, root = _file_system(target, storage_options)
    configs = posixpath.join(root, DISTISET_CONFIG_FOLDER)
    fs.makedirs(configs, exist_ok=True)
    if card_text is not None:
        with fs.open(posixpath.join(configs, CARD_FILENAME), "wb") as handle:
            handle.write(card_text.encode("utf-8"))
    for source, name in (
        (pipeline_path, PIPELINE_CONFIG_FILENAME),
        (log_filename_path, PIPELINE_LOG_FILENAME),
    ):
        if source is not None and source.is_file():
            with fs.open(posixpath.join(configs, name), "wb") as handle:
                handle.write(source.read_bytes())
    if artifacts_path is not None and artifacts_path.is_dir():
        _put_tree(fs, artifacts_path, posixpath.join(root, DISTISET_ARTIFACTS_FOLDER))


def _put_tree(fs: Any, source: Path, target: str) -> None:
    """Copy every file under the local folder `source` to `target` on `fs`."""
    fs.makedirs(target, exist_ok=True)
    for path in sorted(source.rglob("*")):
        if path.is_file():
            relative = path.relative_to(source).as_posix()
            destination = posixpath.join(target, relative)
            fs.makedirs(posixpath.dirname(destination), exist_ok=True)
            fs.put_file(str(path), destination)


@dataclass
class Loaded:
    """What `load` found: the datasets and the paths of the run's files."""

    datasets: dict[str, Any] = field(default_factory=dict)
    pipeline_path: Path | None = None
    log_filename_path: Path | None = None
    artifacts_path: Path | None = None


def load(
    distiset_path: str | os.PathLike[str],
    keep_in_memory: bool | None = None,
    storage_options: dict[str, Any] | None = None,
    download_dir: str | os.PathLike[str] | None = None,
) -> Loaded:
    """Read a saved Distiset; a remote one is first copied to `download_dir` (or to a new
    temporary folder), as distilabel does, and mapped from there."""
    url = str(distiset_path)
    fs, root = _file_system(url, storage_options)
    if not fs.isdir(root):
        raise StillroomError(
            f"Distiset.load_from_disk: {url!r} is not a folder. Give the folder (or URL) that "
            "Distiset.save_to_disk wrote, or a pipeline run's data folder."
        )
    for marker in ("dataset_dict.json", "state.json"):
        if fs.isfile(posixpath.join(root, marker)):
            raise StillroomError(
                f"Distiset.load_from_disk: {url!r} was saved by datasets' save_to_disk (it holds "
                f"{marker}), not by Distiset.save_to_disk: read it with datasets.load_from_disk."
            )
    if _is_local(fs):
        local = Path(root)
    else:
        local = Path(download_dir) if download_dir else Path(tempfile.mkdtemp(prefix="distiset-"))
        _get_tree(fs, root, local)
    loaded = Loaded()
    for folder in sorted(local.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if folder.name == DISTISET_CONFIG_FOLDER:
            for name, attribute in (
                (PIPELINE_CONFIG_FILENAME, "pipeline_path"),
                (PIPELINE_LOG_FILENAME, "log_filename_path"),
            ):
                if (folder / name).is_file():
                    setattr(loaded, attribute, folder / name)
        elif folder.name == DISTISET_ARTIFACTS_FOLDER:
            loaded.artifacts_path = folder
        else:
            dataset = _load_config(folder, local, keep_in_memory)
            if dataset is not None:
                loaded.datasets[folder.name] = dataset
    if not loaded.datasets:
        raise StillroomError(
            f"Distiset.load_from_disk: {url!r} holds no dataset: expected one folder per "
            "configuration, as Distiset.save_to_disk writes (each saved by datasets' "
            "save_to_disk, or holding <split>/ folders of .jsonl/.parquet files)."
        )
    return loaded


def _get_tree(fs: Any, root: str, local: Path) -> None:
    """Copy every file under `root` on `fs` into the local folder `local`."""
    root = root.rstrip("/")
    for remote in fs.find(root):
        relative = posixpath.relpath(remote, root)
        destination = local / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(remote, str(destination))


def _load_config(folder: Path, root: Path, keep_in_memory: bool | None) -> Any:
    """One configuration: saved by `datasets`, or `<split>/` folders of data files (None
    when it holds neither)."""
    import datasets

    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        return datasets.load_from_disk(str(folder), keep_in_memory=keep_in_memory)
    splits = {}
    for name, split in split_folders(folder).items():
        files = source_files(split)
        if files:
            target = root / ARROW_CACHE / folder.name / f"{name}.arrow"
            splits[name] = from_files(files, target, name, drop=(), use_cache=True)
    return datasets.DatasetDict(splits) if splits else None


def from_files(
    files: list[Path], target: Path, split: str, drop: tuple[str, ...], use_cache: bool
) -> Any:
    """A `datasets.Dataset` memory-mapped from the Arrow file made of `files` at `target`."""
    import datasets

    path = arrow_file(files, target, drop, use_cache)
    return datasets.Dataset.from_file(str(path), split=datasets.NamedSplit(split))
