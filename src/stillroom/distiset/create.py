"""`create_distiset`: the Distiset of a run's data folder (distilabel's helper, renamed).

Two layouts are read: stillroom's (`<data_dir>/<leaf>/<split>/NNNNN.jsonl|parquet`, what
`Pipeline.run` writes, or `<data_dir>/<leaf>/*.parquet` for a leaf written as part files with
no split folder: one "train" split) and distilabel's (`<data_dir>/steps_outputs/<leaf>/*.parquet`,
one "train" split). Each split's files become one Arrow file under `<data_dir>/.arrow/`, which
`datasets` memory-maps (see `arrow_files.py`); with `dataset_use_cache` an Arrow file built
from the same files is reused. `create_distiset` builds them at once; `pending_distiset`
(what `Pipeline.run` returns) when a value of the Distiset is first used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stillroom.constants import (
    PIPELINE_CONFIG_FILENAME,
    PIPELINE_LOG_FILENAME,
    STEPS_ARTIFACTS_PATH,
    STEPS_OUTPUTS_PATH,
    STILLROOM_METADATA_KEY,
)
from stillroom.distiset.arrow_files import split_folders
from stillroom.distiset.base import Distiset
from stillroom.distiset.io import ARROW_CACHE
from stillroom.distiset.pending import PendingLeaf, PendingSplit

logger = logging.getLogger("stillroom.distiset")


def _splits(data_dir: Path) -> dict[str, dict[str, Path]]:
    """Configuration -> split -> the folder of its data files, in either layout."""
    found: dict[str, dict[str, Path]] = {}
    outputs = data_dir / STEPS_OUTPUTS_PATH
    if outputs.is_dir():  # distilabel's
        for step in sorted(p for p in outputs.iterdir() if p.is_dir()):
            found[step.name] = {"train": step}
        return found
    for config in sorted(data_dir.iterdir()):
        if (
            not config.is_dir()
            or config.name.startswith(".")
            or config.name == STEPS_ARTIFACTS_PATH
        ):
            continue
        found[config.name] = split_folders(config)
    return found


def create_distiset(
    data_dir: Path,
    pipeline_path: Path | None = None,
    log_filename_path: Path | None = None,
    enable_metadata: bool = False,
    dataset_use_cache: bool = True,
    dag: Any = None,
) -> Distiset:
    """The Distiset of the run whose datasets are in `data_dir`, built now.

    `enable_metadata`: keep the `stillroom_metadata` column (dropped otherwise, as in
    distilabel). `pipeline_path` / `log_filename_path`: the run's `pipeline.yaml` and
    `pipeline.log`, by default those found next to `data_dir`. `dataset_use_cache`: reuse
    the Arrow files built before from the same data files. `dag` is accepted for
    distilabel's signature and not used.
    """
    distiset = pending_distiset(
        data_dir, pipeline_path, log_filename_path, enable_metadata, dataset_use_cache
    )
    distiset.resolve()
    return distiset


def pending_distiset(
    data_dir: Path,
    pipeline_path: Path | None = None,
    log_filename_path: Path | None = None,
    enable_metadata: bool = False,
    dataset_use_cache: bool = True,
) -> Distiset:
    """`create_distiset`'s Distiset with its datasets not built yet: each value is a
    `PendingLeaf`, built (and `datasets` imported) when a value is first used (see
    `pending.py`). What `Pipeline.run` returns."""
    data_dir = Path(data_dir)
    drop = () if enable_metadata else (STILLROOM_METADATA_KEY,)
    leaves: dict[str, PendingLeaf] = {}
    for config, splits in _splits(data_dir).items() if data_dir.is_dir() else ():
        pending = []
        for split, folder in splits.items():
            found = PendingSplit.of(split, folder, drop)
            if not found.files:
                logger.warning(
                    "No data files for step %r (split %r) in %s: did the step produce any rows?",
                    config,
                    split,
                    data_dir,
                )
                continue
            pending.append(found)
        if pending:
            arrow_dir = data_dir / ARROW_CACHE / config
            leaves[config] = PendingLeaf(config, tuple(pending), arrow_dir, drop, dataset_use_cache)
    if len(leaves) == 1 and "default" not in leaves:
        leaves["default"] = leaves.pop(next(iter(leaves)))
    distiset = Distiset()
    for name, leaf in leaves.items():
        distiset._set_pending(name, leaf)
    artifacts = data_dir / STEPS_ARTIFACTS_PATH
    if artifacts.is_dir() and any(artifacts.rglob("*")):
        distiset.artifacts_path = artifacts
    run_folder = data_dir.parent
    pipeline_path = pipeline_path or run_folder / PIPELINE_CONFIG_FILENAME
    if pipeline_path.is_file():
        distiset.pipeline_path = pipeline_path
    log_filename_path = log_filename_path or run_folder / PIPELINE_LOG_FILENAME
    if log_filename_path.is_file():
        distiset.log_filename_path = log_filename_path
    return distiset
