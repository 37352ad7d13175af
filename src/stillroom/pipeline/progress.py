"""What a run shows while it runs and when it ends.

On a terminal: a rich progress bar per step (rows done / expected, requests in flight,
errors, tokens), refreshed a few times a second from counters the engine keeps anyway (no
per-row work). Elsewhere: one log line every `log_interval` seconds. Either way, at most one
warning per step every few seconds about failed rows and retries (see `failures.py`). At
the end: a summary of rows written, failed rows with their first error messages, retries,
requests, tokens per model and wall time; its first line says whether rows failed.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Literal

from stillroom.pipeline.logs import SUMMARY_LOGGER, console

# `as` re-export: the runner imports `RunSummary` from here.
from stillroom.run_summary import RunSummary as RunSummary
from stillroom.steps.tasks.base import _Task

if TYPE_CHECKING:
    from stillroom.pipeline.failures import FailureWatch
    from stillroom.pipeline.nodes import Node

logger = logging.getLogger("stillroom.pipeline")
summary_logger = logging.getLogger(SUMMARY_LOGGER)

ProgressMode = Literal["rich", "log", "off"]


def choose_mode(requested: bool | None) -> ProgressMode:
    if requested is False:
        return "off"
    if requested is None and not sys.stderr.isatty():
        return "log"
    return "rich"


def _tokens(count: int) -> str:
    return f"{count / 1000:.1f}k" if count >= 10_000 else str(count)


class ProgressReporter:
    """Draws (or logs) progress from the engine's counters when asked to refresh."""

    def __init__(
        self,
        nodes: list[Node],
        mode: ProgressMode,
        log_interval: float = 10.0,
        failures: FailureWatch | None = None,
    ) -> None:
        self.nodes = nodes
        self.mode = mode
        self.log_interval = log_interval
        self.failures = failures
        self._last_log = time.monotonic()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def start(self) -> None:
        if self.mode != "rich":
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console(),
            refresh_per_second=4,
        )
        for node in self.nodes:
            self._tasks[node.name] = self._progress.add_task(
                node.name, total=node.expected_rows, info=""
            )
        self._progress.start()

    @staticmethod
    def _info(node: Node) -> str:
        parts = []
        stats = node.request_stats
        if stats is not None:
            parts.append(f"in flight {stats.in_flight}")
            parts.append(f"tokens {_tokens(stats.input_tokens + stats.output_tokens)}")
            if stats.cache_hits:
                parts.append(f"cached {stats.cache_hits}")
        if node.stats.failed_rows:
            parts.append(f"errors {node.stats.failed_rows}")
        return " · ".join(parts)

    def refresh(self) -> None:
        if self.failures is not None:
            self.failures.poll()
        if self.mode == "rich" and self._progress is not None:
            for node in self.nodes:
                self._progress.update(
                    self._tasks[node.name], completed=node.rows_done, info=self._info(node)
                )
        elif self.mode == "log" and time.monotonic() - self._last_log >= self.log_interval:
            self._last_log = time.monotonic()
            logger.info("progress: %s", self.line())

    def line(self) -> str:
        parts = []
        for node in self.nodes:
            total = f"/{node.expected_rows}" if node.expected_rows is not None else ""
            info = self._info(node)
            parts.append(f"{node.name} {node.rows_done}{total}" + (f" ({info})" if info else ""))
        return " | ".join(parts)

    def stop(self, summary: RunSummary | None) -> None:
        if self._progress is not None:
            self.refresh()
            self._progress.stop()
            self._progress = None
        elif self.mode == "log":
            logger.info("progress: %s", self.line())  # where every step ended
        if summary is None or self.mode == "off":
            return
        if self.mode == "rich":
            console().print(
                "\n".join(summary.lines()), markup=False, highlight=False, soft_wrap=True
            )
        else:
            for line in summary.lines():
                summary_logger.info("%s", line)


def estimate_rows(nodes: dict[str, Node], row_limit: int | None) -> None:
    """Set each step's `expected_rows` (the progress bars' totals) when the data says so: a
    generator's list of rows (or a dry run's limit), times a task's generations below it."""
    for node in nodes.values():
        step = node.step
        if node.kind == "generator":
            data = getattr(step, "data", None)
            known = [len(data)] if isinstance(data, list) else []
            limit = [row_limit] if row_limit is not None else []
            node.expected_rows = min(known + limit, default=None)
        elif node.kind != "global" and node.preds:
            first = nodes[node.preds[0]]
            expected = first.expected_rows
            task = first.step if isinstance(first.step, _Task) else None
            if expected is not None and task is not None and not task.group_generations:
                expected *= task.num_generations
            node.expected_rows = expected
