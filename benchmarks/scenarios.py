"""What the LLM benchmarks share: the latency scenarios, the physical limit, and the report.

Every benchmark that sends chat requests to the mock server (the plain semaphore baseline,
the pipeline benchmark) uses these, so their figures are comparable line by line.

The physical limit of a run is the time it cannot beat: `rows x mean latency / concurrency`,
with the mean of the latencies the server actually drew in that same run. With a long-tailed
latency it is out of reach: a slow request that starts late ends the run late. The in-order
limit is the time a client with no overhead at all takes when it sends rows in input order,
each as soon as one of the `concurrency` slots frees; the server's latency draws are a fixed
function of the prompt, so it can be computed exactly before the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import resource
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stillroom.testing import MockServerConfig
from stillroom.testing.draws import latency


@dataclass(frozen=True)
class Scenario:
    """A server latency setting and the default number of rows to send under it."""

    name: str
    description: str
    rows: int
    server_options: dict[str, Any] = field(default_factory=dict)


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("fixed-100ms", "fixed 100 ms latency", 5_000, {"latency": 0.1}),
        Scenario(
            "lognormal-500ms",
            "lognormal latency, mean 500 ms, sigma 1",
            2_000,
            {"latency": 0.5, "latency_sigma": 1.0},
        ),
        Scenario("zero", "0 ms latency", 5_000, {}),
        Scenario(
            "errors-10pct",
            "fixed 100 ms latency, 5% of requests answered 429 and 5% 500",
            2_000,
            {"latency": 0.1, "rate_429": 0.05, "rate_500": 0.05},
        ),
    )
}


@dataclass(frozen=True)
class Result:
    """The measurements of one benchmark run."""

    label: str
    scenario: Scenario
    rows: int
    concurrency: int
    elapsed: float
    server_mean_latency: float
    client_mean_latency: float
    requests_sent: int
    failures: int
    peak_rss_mb: float
    in_order_limit_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed

    @property
    def limit_seconds(self) -> float:
        """The physical limit: rows x mean server latency / concurrency."""
        return self.rows * self.server_mean_latency / self.concurrency

    @property
    def ratio(self) -> float | None:
        """Measured throughput over the limit's throughput (None when latency is 0)."""
        return self.limit_seconds / self.elapsed if self.limit_seconds else None

    def report(self) -> str:
        limit = (
            f"{self.rows / self.limit_seconds:,.0f} rows/s ({self.limit_seconds:.2f} s)"
            if self.limit_seconds
            else "none (0 ms latency)"
        )
        ratio = f"{self.ratio:.3f}" if self.ratio is not None else "n/a"
        if self.in_order_limit_seconds:
            in_order = (
                f"{self.rows / self.in_order_limit_seconds:,.0f} rows/s ({self.in_order_limit_seconds:.2f} s), "
                f"ratio to it {self.in_order_limit_seconds / self.elapsed:.3f}"
            )
        else:
            in_order = "none (0 ms latency)"
        lines = [
            f"== {self.label}: {self.scenario.description}, {self.rows} rows, concurrency {self.concurrency}, "
            f"server seed {self.scenario.server_options.get('seed', 0)}",
            f"elapsed              {self.elapsed:.2f} s",
            f"throughput           {self.rows_per_second:,.1f} rows/s",
            f"physical limit       {limit}",
            f"ratio to the limit   {ratio}",
            f"in-order limit       {in_order}",
            f"mean latency         server {self.server_mean_latency * 1000:.1f} ms, client round trip {self.client_mean_latency * 1000:.1f} ms",
            f"requests per row     {self.requests_sent / self.rows:.3f} ({self.failures} rows failed)",
            f"client peak RSS      {self.peak_rss_mb:.1f} MB",
        ]
        return "\n".join(lines)


def prompt(row: int) -> str:
    """The prompt of row `row`: distinct for every row, the same in every LLM benchmark."""
    return f"Write a short poem about row {row}."


def in_order_limit(scenario: Scenario, prompts: Sequence[str], concurrency: int) -> float:
    """Seconds a zero-overhead client needs to send `prompts` in order, `concurrency` at a time.

    Each prompt is a single user message sent once, so its latency is the server's draw for
    its first attempt.
    """
    config = MockServerConfig.from_options(**scenario.server_options)
    slots = [0.0] * concurrency
    for prompt in prompts:
        heapq.heappush(slots, heapq.heappop(slots) + latency(config, prompt, 1))
    return max(slots)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every LLM benchmark takes."""
    parser.add_argument(
        "--scenario",
        choices=[*SCENARIOS, "all"],
        default="all",
        help="server latency scenario (default: all, one after the other)",
    )
    parser.add_argument(
        "--rows", type=int, default=None, help="rows to send (default: the scenario's)"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at most")
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="abort a run after this many seconds"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the server's seed: which latency each prompt draws (default: 0)",
    )


def chosen(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios the command line asks for, with the server seed it names.

    At lognormal latency the seed decides which prompts draw the slowest latencies and so how
    far the in-order limit sits from the physical limit; compare seeds rather than one draw.
    """
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    return [
        dataclasses.replace(
            SCENARIOS[name],
            server_options={**SCENARIOS[name].server_options, "seed": args.seed},
        )
        for name in names
    ]
