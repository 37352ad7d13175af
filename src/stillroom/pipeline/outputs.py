"""The Distiset a run returns: its datasets, with the run's `pipeline.yaml` and
`pipeline.log` next to them (in the run's folder, as distilabel keeps them)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stillroom.constants import PIPELINE_CONFIG_FILENAME, PIPELINE_LOG_FILENAME
from stillroom.distiset import Distiset, SavablePipeline
from stillroom.distiset.create import pending_distiset
from stillroom.pipeline.logs import append_summary

if TYPE_CHECKING:
    from stillroom.pipeline.contracts import RunOutcome

logger = logging.getLogger("stillroom.pipeline")


def run_distiset(pipeline: SavablePipeline, outcome: RunOutcome) -> Distiset:
    """The Distiset of `outcome`: one DatasetDict per leaf, memory-mapped from the run's
    files, the `stillroom_metadata` column kept (it holds each failed row's error) unless
    the pipeline was built with `enable_metadata=False`. Both are made when first asked
    for: the DatasetDicts when a value is first used (`pending_distiset`), the pipeline's
    `pipeline.yaml` (next to them) when `pipeline_path` is first read."""
    folder = outcome.data_dir.parent
    log_path = folder / PIPELINE_LOG_FILENAME
    try:
        append_summary(log_path, outcome.summary.lines())
    except OSError as exc:
        logger.warning("The run's summary could not be added to %s: %s", log_path, exc)
    pipeline_yaml = folder / PIPELINE_CONFIG_FILENAME
    pipeline_yaml.unlink(missing_ok=True)  # an earlier run's, maybe of other parameters
    distiset = pending_distiset(
        outcome.data_dir,
        log_filename_path=log_path,
        enable_metadata=pipeline.enable_metadata,
    )
    distiset.summary = outcome.summary
    distiset.write_pipeline_yaml_to(pipeline, pipeline_yaml)
    return distiset
