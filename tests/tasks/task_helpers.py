"""Helpers for the built-in task tests: run a task on rows with a scripted mock LLM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stillroom.steps.tasks.base import METADATA_COLUMN, _Task


def run(task: _Task, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Load the task and return the rows `process` yields for `rows` (one batch)."""
    task.load()
    return [row for batch in task.process(rows) for row in batch]


def meta(row: dict[str, Any], task: _Task, key: str) -> Any:
    """The metadata entry `key` (e.g. "error", "raw_output") this task wrote into `row`; for
    grouped generations (a list of dicts, one per generation), the list of their entries."""
    metadata = row[METADATA_COLUMN]
    if isinstance(metadata, list):
        return [item.get(f"{key}_{task.name}") for item in metadata]
    return metadata.get(f"{key}_{task.name}")


def run_in_pipeline(
    make_task: Callable[[], _Task], rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Rows a pipeline of `LoadDataFromDicts(rows) >> task` (or the generator task alone, when
    `rows` is None) writes to its dataset; `make_task` builds the task inside the pipeline."""
    from stillroom.pipeline import Pipeline
    from stillroom.steps import LoadDataFromDicts

    with Pipeline(name="task-test") as pipeline:
        task = make_task()
        if rows is not None:
            LoadDataFromDicts(data=rows) >> task
    distiset = pipeline.run(use_cache=False, progress=False)
    return list(distiset["default"]["train"].to_list())
