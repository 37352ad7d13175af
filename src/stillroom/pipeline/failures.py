"""What failed in a run, while it runs: periodic reports, and when to stop.

A row whose request (or step) failed goes on with `None` outputs and the error in its
metadata's `error_<step>`; the engine hands each such message to its step's `ErrorTally`
(see `stillroom.run_summary`, where the summary keeps it).

`FailureWatch` turns the tallies and the LLMs' retry counters into at most one WARNING per
step every `REPORT_INTERVAL` seconds, instead of a line per failed row or retry (those are
logged at DEBUG by the code that sees them), and `exceeds` says when a step failed too often
to go on (`Pipeline.run(max_failed_fraction=...)`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# `as` re-exports: the engine imports `ErrorTally` from here.
from stillroom.run_summary import ErrorTally as ErrorTally
from stillroom.run_summary import describe_retries
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.utils.metadata import first_error

if TYPE_CHECKING:
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")

MIN_ROWS = 50
"""Rows a step must have produced before `max_failed_fraction` can stop the run, so that a
first unlucky batch does not."""

REPORT_INTERVAL = 10.0
"""Seconds between two failure reports of the same step."""


def exceeds(failed: int, rows: int, threshold: float | None) -> bool:
    """Whether `failed` of `rows` is over `threshold` (a fraction), once `MIN_ROWS` are done."""
    return threshold is not None and rows >= MIN_ROWS and failed > threshold * rows


def retry_counter(step: Any) -> Any | None:
    """The `retries` counter of a task's LLM (`counts`, `take_since_last()`), if it has one."""
    return getattr(getattr(step, "llm", None), "retries", None)


class FailureWatch:
    """Each step's `ErrorTally`, its retries this run, and the periodic WARNING about both."""

    def __init__(self, steps: Mapping[str, Any], interval: float = REPORT_INTERVAL) -> None:
        self.interval = interval
        self.tallies = {name: ErrorTally() for name in steps}
        self.retries: dict[str, dict[str, int]] = {}
        self._counters = {
            name: counter
            for name, step in steps.items()
            if (counter := retry_counter(step)) is not None
        }
        for counter in self._counters.values():
            counter.take_since_last()  # retries made before this run are not its own
        now = time.monotonic()
        self._since = dict.fromkeys(steps, now)
        self._reported = dict.fromkeys(steps, float("-inf"))

    def poll(self, now: float | None = None) -> None:
        """Log what failed or was retried since a step's last report, if that was at least
        `interval` seconds ago (so the first trouble shows at once, then in summaries)."""
        now = time.monotonic() if now is None else now
        for name, tally in self.tallies.items():
            if now - self._reported[name] < self.interval:
                continue
            retried = self._take_retries(name)
            failed, first = tally.take_recent()
            if not failed and not retried:
                continue
            parts = []
            if failed:
                parts.append(f"{failed:,} rows failed (first: {first})")
            if retried:
                parts.append(f"retried {describe_retries(retried)}")
            seconds = max(1, round(now - self._since[name]))
            logger.warning("step %r, last %d s: %s", name, seconds, "; ".join(parts))
            self._reported[name] = self._since[name] = now

    def finish(self) -> dict[str, dict[str, int]]:
        """Every step's retries this run by kind ('429', '500', 'timeout'...), for the summary."""
        for name in self._counters:
            self._take_retries(name)
        return {name: counts for name, counts in self.retries.items() if counts}

    def _take_retries(self, name: str) -> dict[str, int]:
        counter = self._counters.get(name)
        if counter is None:
            return {}
        taken: dict[str, int] = {k: v for k, v in counter.take_since_last().items() if v}
        total = self.retries.setdefault(name, {})
        for kind, count in taken.items():
            total[kind] = total.get(kind, 0) + count
        return taken


def count_failed(outputs: list[list[Row]], key: str, tally: ErrorTally) -> int:
    """Rows of `outputs` whose metadata holds an error under `key`, their messages tallied."""
    errors = row_errors(outputs, key)
    for error in errors:
        tally.add(error)
    return len(errors)


def row_errors(outputs: list[list[Row]], key: str) -> list[str]:
    """The error under `key` in the metadata of each failed row of `outputs`."""
    return [
        error
        for rows in outputs
        for row in rows
        if (error := first_error(row.get(METADATA_COLUMN), key)) is not None
    ]
