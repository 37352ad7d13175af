"""What a run shows while it runs and when it ends.

On a terminal: a rich progress bar per step (rows done / expected, rows/s and ETA, requests
really in flight, tokens, replies from the cache with the tokens they saved, cost so far
where the model's prices are known, errors), plus an overall bar when there are several
steps. Elsewhere: one log line every `log_interval` seconds. Either way, at most one warning
per step every few seconds about failed rows and retries (see `failures.py`). The figures
come from counters the engine keeps anyway; a tick reads them at most `DRAW_INTERVAL` times a
second (no per-row work). When the runner gives it a `status_file`, the same figures are
written there about once a second as JSON (for `stillroom view`), then the final summary.

At the end: the summary (see `stillroom.run_summary`): rows written, failed rows with their
first error messages, retries, requests, tokens per model, cache savings, cost, and a table
of rows, failed rows, retries, wall time, tokens and cost per step. `progress=False` hides
the bars, not the summary.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from stillroom.models.llms.pricing import cost
from stillroom.pipeline.logs import SUMMARY_LOGGER, console

# `as` re-export: the runner imports `RunSummary` from here.
from stillroom.run_summary import RunSummary as RunSummary
from stillroom.run_summary import StepSummary
from stillroom.steps.tasks.base import _Task

if TYPE_CHECKING:
    from stillroom.pipeline.failures import FailureWatch
    from stillroom.pipeline.nodes import Node
    from stillroom.pipeline.requests import RequestStats

logger = logging.getLogger("stillroom.pipeline")
summary_logger = logging.getLogger(SUMMARY_LOGGER)

ProgressMode = Literal["rich", "log", "off"]

DRAW_INTERVAL = 0.25
"""Seconds between two readings of the counters (the engine ticks every 0.1 s)."""

STATUS_INTERVAL = 1.0
"""Seconds between two writes of the status file."""

RATE_WINDOW = 20
"""Samples (one per `DRAW_INTERVAL` at most) the rows/s are measured over: about 5 s."""


def choose_mode(requested: bool | None) -> ProgressMode:
    if requested is False:
        return "off"
    if requested is None and not sys.stderr.isatty():
        return "log"
    return "rich"


def _tokens(count: int) -> str:
    return f"{count / 1000:.1f}k" if count >= 10_000 else f"{count:,}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def in_flight(stats: RequestStats) -> tuple[int, int]:
    """(requests really in flight, requests waiting for a slot): an LLM that answers one
    request at a time (llama.cpp) or `max_concurrent_requests` at once has at most that many
    in flight, whatever the engine handed it."""
    limit = stats.limit if stats.limit is not None else stats.in_flight
    active = min(stats.in_flight, limit)
    return active, stats.in_flight - active


class _Rate:
    """Rows per second over the last few seconds, and the time left at that pace."""

    __slots__ = ("samples",)

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)

    def add(self, now: float, rows: int) -> None:
        self.samples.append((now, rows))

    def per_second(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (start, first), (end, last) = self.samples[0], self.samples[-1]
        return (last - first) / (end - start) if end > start else 0.0

    def eta(self, rows: int, expected: int | None) -> float | None:
        rate = self.per_second()
        if expected is None or rate <= 0 or rows >= expected:
            return None
        return (expected - rows) / rate


class ProgressReporter:
    """Draws (or logs) progress from the engine's counters when asked to refresh."""

    def __init__(
        self,
        nodes: list[Node],
        mode: ProgressMode,
        log_interval: float = 10.0,
        failures: FailureWatch | None = None,
        status_file: Path | None = None,
    ) -> None:
        self.nodes = nodes
        self.mode = mode
        self.log_interval = log_interval
        self.failures = failures
        self.status_file = status_file
        """Where `stillroom view` reads the run's progress (set by the runner)."""
        self.pipeline = ""
        self._started = self._last_draw = self._last_status = time.monotonic()
        self._last_log = self._started
        self._rates = {node.name: _Rate() for node in nodes}
        self._finished: dict[str, float] = {}
        self._leaves = [node for node in nodes if not node.succs]
        self._overall = _Rate()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def start(self) -> None:
        self._started = time.monotonic()
        self._write_status("running", None)
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
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[pace]}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console(),
            refresh_per_second=4,
        )
        if len(self.nodes) > 1:
            self._tasks[""] = self._progress.add_task(
                "all", total=self._leaves_expected(), pace="", info=""
            )
        for node in self.nodes:
            self._tasks[node.name] = self._progress.add_task(
                node.name, total=node.expected_rows, pace="", info=""
            )
        self._progress.start()

    def _leaves_expected(self) -> int | None:
        expected = [node.expected_rows for node in self._leaves]
        return None if None in expected else sum(e for e in expected if e is not None)

    # --- figures ----------------------------------------------------------------------------

    def _sample(self, now: float) -> None:
        for node in self.nodes:
            self._rates[node.name].add(now, node.rows_done)
            if node.done and node.name not in self._finished:
                self._finished[node.name] = now - self._started
        self._overall.add(now, sum(node.rows_done for node in self._leaves))

    def _pace(self, rate: _Rate, rows: int, expected: int | None) -> str:
        per_second = rate.per_second()
        if not per_second:
            return ""
        eta = rate.eta(rows, expected)
        return f"{per_second:,.1f} rows/s" + (f" ETA {_duration(eta)}" if eta is not None else "")

    @staticmethod
    def _info(node: Node) -> str:
        parts = []
        stats = node.request_stats
        if stats is not None:
            active, waiting = in_flight(stats)
            parts.append(f"in flight {active}" + (f" (+{waiting} queued)" if waiting else ""))
            parts.append(
                f"tokens {_tokens(stats.input_tokens)} in, {_tokens(stats.output_tokens)} out"
            )
            if stats.cache_hits:
                parts.append(
                    f"{stats.cache_hits:,} from cache, {stats.cached_tokens:,} tokens saved"
                )
            spent = cost(stats.prices, stats.input_tokens, stats.output_tokens)
            if spent is not None:
                parts.append(f"${spent:,.4f}")
        if node.stats.failed_rows:
            parts.append(f"errors {node.stats.failed_rows:,}")
        return " · ".join(parts)

    def refresh(self) -> None:
        if self.failures is not None:
            self.failures.poll()
        now = time.monotonic()
        if now - self._last_draw < DRAW_INTERVAL:
            return
        self._last_draw = now
        self._sample(now)
        if self.mode == "rich" and self._progress is not None:
            self._draw()
        elif self.mode == "log" and now - self._last_log >= self.log_interval:
            self._last_log = now
            logger.info("progress: %s", self.line())
        if self.status_file is not None and now - self._last_status >= STATUS_INTERVAL:
            self._last_status = now
            self._write_status("running", None)

    def _draw(self) -> None:
        update = self._progress.update
        if "" in self._tasks:
            rows = sum(node.rows_done for node in self._leaves)
            update(
                self._tasks[""],
                completed=rows,
                total=self._leaves_expected(),
                pace=self._pace(self._overall, rows, self._leaves_expected()),
            )
        for node in self.nodes:
            update(
                self._tasks[node.name],
                completed=node.rows_done,
                pace=self._pace(self._rates[node.name], node.rows_done, node.expected_rows),
                info=self._info(node),
            )

    def line(self) -> str:
        parts = []
        for node in self.nodes:
            total = f"/{node.expected_rows}" if node.expected_rows is not None else ""
            pace = self._pace(self._rates[node.name], node.rows_done, node.expected_rows)
            info = " · ".join(part for part in (pace, self._info(node)) if part)
            parts.append(f"{node.name} {node.rows_done}{total}" + (f" ({info})" if info else ""))
        return " | ".join(parts)

    def steps(self) -> list[dict[str, Any]]:
        """Each step's figures now, as plain data (the status file's `steps`)."""
        now = time.monotonic()
        figures = []
        for node in self.nodes:
            rate = self._rates[node.name]
            stats = node.request_stats
            entry: dict[str, Any] = {
                "name": node.name,
                "rows": node.rows_done,
                "expected": node.expected_rows,
                "failed_rows": node.stats.failed_rows,
                "rate": round(rate.per_second(), 2),
                "wall_time": self._finished.get(node.name, now - self._started),
            }
            eta = rate.eta(node.rows_done, node.expected_rows)
            entry["eta"] = _duration(eta) if eta is not None else None
            if stats is not None:
                entry.update(
                    in_flight=in_flight(stats)[0],
                    sent=stats.sent,
                    cache_hits=stats.cache_hits,
                    cached_tokens=stats.cached_tokens,
                    input_tokens=stats.input_tokens,
                    output_tokens=stats.output_tokens,
                    cost=cost(stats.prices, stats.input_tokens, stats.output_tokens),
                )
            figures.append(entry)
        return figures

    def step_summaries(self, retries: dict[str, dict[str, int]]) -> dict[str, StepSummary]:
        """The summary's per-step figures (`retries`: the run's, by step and kind)."""
        self._sample(time.monotonic())
        now = time.monotonic() - self._started
        summaries = {}
        for node in self.nodes:
            stats = node.request_stats
            step = StepSummary(
                rows=node.stats.rows_out,
                failed_rows=node.stats.failed_rows,
                retries=sum(retries.get(node.name, {}).values()),
                wall_time=self._finished.get(node.name, now),
            )
            if stats is not None:
                step.input_tokens, step.output_tokens = stats.input_tokens, stats.output_tokens
                step.cache_hits, step.cached_tokens = stats.cache_hits, stats.cached_tokens
                step.cost = cost(stats.prices, stats.input_tokens, stats.output_tokens)
            summaries[node.name] = step
        return summaries

    def _write_status(self, state: str, summary: RunSummary | None) -> None:
        """The status file, replaced atomically; a failure to write it is only logged
        (the viewer is a convenience, the run goes on)."""
        if self.status_file is None:
            return
        data: dict[str, Any] = {"pipeline": self.pipeline, "state": state, "steps": self.steps()}
        if summary is not None:
            data["headline"] = summary.headline()
            data["summary"] = summary.lines()
        temporary = self.status_file.with_name(f".{self.status_file.name}.tmp")
        try:
            temporary.write_text(json.dumps(data, default=str), encoding="utf-8")
            os.replace(temporary, self.status_file)
        except OSError as exc:
            logger.debug("status file %s not written: %s", self.status_file, exc)

    def stop(self, summary: RunSummary | None) -> None:
        if summary is not None:
            self._write_status("finished" if summary.completed else "stopped", summary)
        else:
            self._write_status("stopped", None)
        if self._progress is not None:
            self._last_draw = float("-inf")
            self.refresh()
            self._progress.stop()
            self._progress = None
        elif self.mode == "log":
            logger.info("progress: %s", self.line())  # where every step ended
        if summary is None:
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
            # a routed step gets the batches its predecessor's routing function picks
            expected = first.expected_rows if first.routing is None else None
            task = first.step if isinstance(first.step, _Task) else None
            if expected is not None and task is not None and not task.group_generations:
                expected *= task.num_generations
            node.expected_rows = expected
