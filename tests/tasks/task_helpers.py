"""Helpers for the built-in task tests: run a task on rows with a scripted mock LLM."""

from __future__ import annotations

from typing import Any

from stillroom.steps.tasks.base import METADATA_COLUMN, _Task


def run(task: _Task, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Load the task and return the rows `process` yields for `rows` (one batch)."""
    task.load()
    return [row for batch in task.process(rows) for row in batch]


def meta(row: dict[str, Any], task: _Task, key: str) -> Any:
    """The metadata entry `key` (e.g. "error", "raw_output") this task wrote into `row`."""
    return row[METADATA_COLUMN].get(f"{key}_{task.name}")
