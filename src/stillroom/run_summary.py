"""The outcome of a run, as `Pipeline.run` reports it and `distiset.summary` keeps it.

Plain data below the pipeline layer, so that `stillroom.distiset` can name its type without
importing the engine: per step, rows written, rows failed with their first distinct error
messages (an `ErrorTally`, bounded: a dead server repeating one message 100,000 times costs a
few strings), retries by kind, and the run's request and token counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stillroom.constants import STILLROOM_METADATA_KEY

MAX_MESSAGES = 5
"""Distinct error messages a step keeps (with counts); later ones are only counted."""

MAX_MESSAGE_LENGTH = 300
"""Characters of a message kept: an HTML error page is not worth more."""


def shorten(message: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


@dataclass
class ErrorTally:
    """A step's failed rows by error message: at most `MAX_MESSAGES` kept, the rest `other`.

    `recent`/`recent_first` count the rows since the last `take_recent()` (the periodic
    report) and the first message among them.
    """

    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0
    recent: int = 0
    recent_first: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.other

    def add(self, message: str) -> None:
        message = shorten(message)
        if message in self.counts:
            self.counts[message] += 1
        elif len(self.counts) < MAX_MESSAGES:
            self.counts[message] = 1
        else:
            self.other += 1
        self.recent += 1
        if self.recent_first is None:
            self.recent_first = message

    def take_recent(self) -> tuple[int, str | None]:
        """Rows failed since the previous call, and the first message among them."""
        taken = (self.recent, self.recent_first)
        self.recent, self.recent_first = 0, None
        return taken

    def lines(self, indent: str) -> list[str]:
        lines = [f"{indent}{count:,} rows: {message}" for message, count in self.counts.items()]
        if self.other:
            lines.append(f"{indent}{self.other:,} rows: other errors")
        return lines


def describe_retries(counts: Mapping[str, int]) -> str:
    """`{'429': 50, '500': 7}` -> '57 requests (429: 50, 500: 7)'."""
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    kinds = ", ".join(f"{kind}: {count:,}" for kind, count in ordered)
    return f"{sum(counts.values()):,} requests ({kinds})"


@dataclass
class StepSummary:
    """One step's figures at the end of a run: rows it produced, rows kept with an error,
    requests retried, seconds from the run's start until it finished, tokens sent and
    received, requests answered from the cache with the tokens they saved, and the cost in
    US dollars (None when the model's prices are unknown; see `models/llms/pricing.py`)."""

    rows: int = 0
    failed_rows: int = 0
    retries: int = 0
    wall_time: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_hits: int = 0
    cached_tokens: int = 0
    cost: float | None = None


STEP_COLUMNS = ("rows", "failed", "retries", "time", "tokens in", "tokens out", "cost")


def step_table(steps: Mapping[str, StepSummary], indent: str = "  ") -> list[str]:
    """The per-step figures as an aligned text table (a header and one line per step)."""
    cells = [
        [
            name,
            f"{step.rows:,}",
            f"{step.failed_rows:,}",
            f"{step.retries:,}",
            f"{step.wall_time:.1f}s",
            f"{step.input_tokens:,}",
            f"{step.output_tokens:,}",
            "-" if step.cost is None else f"${step.cost:,.4f}",
        ]
        for name, step in steps.items()
    ]
    header = ["step", *STEP_COLUMNS]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = "  ".join(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return f"{indent}{first}  {rest}"

    return [line(header), *(line(row) for row in cells)]


@dataclass
class RunSummary:
    """The outcome of `Pipeline.run`: also available as `distiset.summary`.

    `failed_rows`: rows kept with an error, per step; `error_messages`: per step, the first
    distinct messages with their counts; `retries`: per step, requests retried by kind
    ('429', '500', 'timeout'...); `stop_reason`: why the run stopped early, if it did so by
    itself (`max_failed_fraction`).
    """

    pipeline: str
    wall_time: float
    rows: dict[str, int] = field(default_factory=dict)
    failed_rows: dict[str, int] = field(default_factory=dict)
    error_messages: dict[str, ErrorTally] = field(default_factory=dict)
    retries: dict[str, dict[str, int]] = field(default_factory=dict)
    requests_sent: int = 0
    cache_hits: int = 0
    failed_requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    resumed: bool = False
    interrupted: bool = False
    completed: bool = True
    stop_reason: str | None = None
    steps: dict[str, StepSummary] = field(default_factory=dict)
    """Per step: rows, failed rows, retries, wall time, tokens, cache hits and cost."""
    placements: dict[str, dict[str, int]] = field(default_factory=dict)
    """On Ray: per step, the units (batches) each Ray node ran, by node id."""

    @property
    def cost(self) -> float | None:
        """Dollars spent by the steps whose prices are known; None if none are."""
        known = [step.cost for step in self.steps.values() if step.cost is not None]
        return sum(known) if known else None

    @property
    def total_failed_rows(self) -> int:
        return sum(self.failed_rows.values())

    def headline(self) -> str:
        failed = self.total_failed_rows
        rows = f"{failed:,} failed row" + ("s" if failed != 1 else "")
        if not self.completed:
            state = "stopped before the end" + (f" ({rows})" if failed else "")
        else:
            state = f"finished with {rows}" if failed else "completed"
        resumed = " (resumed from its checkpoint)" if self.resumed else ""
        return f"Pipeline {self.pipeline!r} {state} in {self.wall_time:.1f}s{resumed}"

    def lines(self) -> list[str]:
        lines = [self.headline()]
        for name, count in self.rows.items():
            lines.append(f"  dataset {name!r}: {count} rows")
        for name, count in self.failed_rows.items():
            if count:
                lines.append(
                    f"  step {name!r}: {count} rows kept with an error (see {STILLROOM_METADATA_KEY})"
                )
                tally = self.error_messages.get(name)
                if tally is not None:
                    lines.extend(tally.lines("    "))
        for name, counts in self.retries.items():
            lines.append(f"  step {name!r}: retried {describe_retries(counts)}")
        kinds = ", ".join(f"{name}: {count}" for name, count in sorted(self.errors.items()))
        lines.append(
            f"  LLM requests: {self.requests_sent} sent, {self.cache_hits} from cache, "
            f"{self.failed_requests} failed" + (f" ({kinds})" if kinds else "")
        )
        for model, counts in self.tokens.items():
            lines.append(f"  tokens for {model}: {counts['input']} in, {counts['output']} out")
        saved = sum(step.cached_tokens for step in self.steps.values())
        if self.cache_hits:
            lines.append(
                f"  {self.cache_hits:,} replies from the cache, {saved:,} tokens saved "
                "(not sent again, not paid again)"
            )
        if self.cost is not None:
            lines.append(
                f"  cost: ${self.cost:,.4f} (list prices; see stillroom.models.llms.pricing)"
            )
        if self.steps:
            lines.extend(step_table(self.steps))
        if self.stop_reason is not None:
            lines.append(f"  Stopped: {self.stop_reason}.")
            lines.append(
                "  Fix the cause and run the pipeline again: answered requests come from the "
                "cache, failed rows are sent again."
            )
        elif not self.completed:
            lines.append("  Run the pipeline again to resume where it stopped.")
        elif self.total_failed_rows:
            lines.append(
                "  Run the pipeline again to retry the failed rows (the others come from the cache)."
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data: the fields, the headline and the printed lines."""
        data = asdict(self)
        data["headline"] = self.headline()
        data["lines"] = self.lines()
        data["cost"] = self.cost
        return data

    def __str__(self) -> str:
        return "\n".join(self.lines())
