"""The pipeline against its ceiling, a bare aiohttp loop, in the same run and on the same server.

The ceiling of the pipeline's hot path is what a client with nothing around its HTTP calls
achieves: `semaphore_baseline.py --client aiohttp`, an `asyncio.Semaphore` and one
`aiohttp.ClientSession` (the transport `OpenAILLM` sends on by default). This script runs
that loop and the pipeline (`LoadDataFromDicts >> TextGeneration(OpenAILLM)`, as in
`pipeline_openai.py`) one after the other, `--runs` times each, against one mock server
process, with the same prompts and the same concurrency. The order alternates between runs
(pipeline first in odd runs, the bare loop first in even ones), so a machine that gets busier
or quieter during the run does not favour either side.

Each measurement runs in a fresh Python process, so the peak resident memory reported is that
measurement's own and neither side inherits the other's imports or warm caches. The server's
counters are zeroed before each measurement (which also restarts every prompt's attempt
count, so both sides draw the same latencies) and read after it: requests per row, and the
most requests it saw in flight, which must not exceed `--concurrency`.

Per run it prints both throughputs, their ratio (pipeline over bare loop: 1.0 would mean the
engine costs nothing), each side's ratio to the physical limit when latency is not zero, the
client CPU time per row (`time.process_time` over `Pipeline.run`, or over the bare loop's
`asyncio.run`; threads included) and the CPU ratio (the bare loop's CPU per row over the
pipeline's, which other load on the machine disturbs far less than wall time: at 0 ms both
clients spend most of the run on their own CPU, so it is close to what the throughput ratio
is on an idle machine), the mock server's CPU time per row (the mean of both sides', with
psutil), requests per row, and each side's peak RSS; then the median, minimum and maximum
of each column over the runs. The pipeline's Distiset builds its datasets when first used, so
the summary also gives its peak RSS when `Pipeline.run` returned, the seconds its first
`distiset["default"]` took, and the ratio with that first use counted.

    python benchmarks/hot_path.py                               # zero latency, 5 runs
    python benchmarks/hot_path.py --scenario all                # zero, fixed 100 ms, lognormal
    python benchmarks/hot_path.py --scenario fixed-100ms --runs 3 --rows 2000

`--json PATH` also appends each run's pair of measurements to PATH as a JSON line
(`compare_versions.py` reads them to put two versions side by side).

For profiling, `--child pipeline` (or `--child bare`) runs one measurement in this process
against a server of its own and prints its JSON line, e.g.
`py-spy record -o profile.json --format speedscope -- python benchmarks/hot_path.py --child pipeline`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scenarios import SCENARIOS, Scenario, in_order_limit, peak_rss_mb, prompt

from stillroom.testing import start_server_process

HERE = Path(__file__).resolve().parent

HOT_PATH_SCENARIOS = ["zero", "fixed-100ms", "lognormal-500ms"]
"""The scenarios where the bare loop is a fair ceiling (it does not retry, so not the error one)."""

SIDES = ("pipeline", "bare")


def _children_peak_rss_mb() -> float:
    """Peak resident memory of the largest child this process waited for, in MB."""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(side: str, base_url: str, rows: int, concurrency: int, time_limit: float) -> dict:
    """One measurement in this process: seconds, failed rows, CPU seconds and peak RSS."""
    prompts = [prompt(r) for r in range(rows)]
    # Each side imports only what it uses (its peak RSS is its own), and before the CPU
    # time starts counting.
    import aiohttp  # noqa: F401 (what both sides send with)

    if side == "pipeline":
        from pipeline_openai import run_against

        measured = run_against(base_url, prompts, concurrency, time_limit)
        elapsed, cpu, failures, engine = measured[:4]
        rss_at_return, first_use = measured.rss_at_return_mb, measured.first_use
    else:
        from semaphore_baseline import send_all

        cpu_start = time.process_time()
        elapsed, _, failures = asyncio.run(
            asyncio.wait_for(send_all("aiohttp", base_url, rows, concurrency), time_limit)
        )
        cpu = time.process_time() - cpu_start
        engine = elapsed
        rss_at_return, first_use = peak_rss_mb(), 0.0
    return {
        "engine": engine,
        "rss_at_return_mb": rss_at_return,
        "first_use": first_use,
        "side": side,
        "elapsed": elapsed,
        "failures": failures,
        "cpu": cpu,
        "peak_rss_mb": peak_rss_mb(),
        # A pipeline that started processes of its own would show them here.
        "children_peak_rss_mb": _children_peak_rss_mb(),
    }


@dataclass(frozen=True)
class Measurement:
    side: str
    rows: int
    elapsed: float
    engine: float
    """Seconds to the last row written (the pipeline less building its Distiset)."""
    failures: int
    cpu: float
    server_cpu: float
    peak_rss_mb: float
    """Peak resident memory, after the rows were read through the Distiset."""
    rss_at_return_mb: float
    """Peak resident memory when `Pipeline.run` returned (the Distiset not used yet)."""
    first_use: float
    """Seconds the Distiset's first use took (its datasets are built then); 0 for the bare loop."""
    requests: int
    max_in_flight: int
    server_mean_latency: float
    concurrency: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed

    @property
    def limit_ratio(self) -> float | None:
        """Throughput over the physical limit's (rows x mean latency / concurrency)."""
        limit = self.rows * self.server_mean_latency / self.concurrency
        return limit / self.elapsed if limit else None


def _server_cpu(pid: int) -> float:
    """CPU seconds the server process has used so far (nan without psutil)."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _measure_in_child(
    side: str, server, rows: int, concurrency: int, time_limit: float
) -> Measurement:
    server.reset()
    server_cpu = _server_cpu(server.pid)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        side,
        "--base-url",
        server.base_url,
        "--rows",
        str(rows),
        "--concurrency",
        str(concurrency),
        "--time-limit",
        str(time_limit),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=time_limit + 120)
    if done.returncode != 0:
        raise SystemExit(f"the {side} measurement failed:\n{done.stdout}\n{done.stderr[-4000:]}")
    server_cpu = _server_cpu(server.pid) - server_cpu
    child = json.loads(done.stdout.strip().splitlines()[-1])
    stats = server.stats(include_prompts=False)
    if stats.max_in_flight > concurrency:
        raise SystemExit(
            f"{side}: the server saw {stats.max_in_flight} requests in flight, over {concurrency}"
        )
    return Measurement(
        side=side,
        rows=rows,
        elapsed=child["elapsed"],
        engine=child["engine"],
        failures=child["failures"],
        cpu=child["cpu"],
        server_cpu=server_cpu,
        peak_rss_mb=max(child["peak_rss_mb"], child["children_peak_rss_mb"]),
        rss_at_return_mb=child["rss_at_return_mb"],
        first_use=child["first_use"],
        requests=stats.requests_total,
        max_in_flight=stats.max_in_flight,
        server_mean_latency=stats.mean_latency,
        concurrency=concurrency,
    )


def _append_json(
    path: str, scenario: Scenario, concurrency: int, pair: dict[str, Measurement]
) -> None:
    """One JSON line: the scenario, its in-order limit and both sides' measurements."""
    rows = pair["pipeline"].rows
    line = {
        "scenario": scenario.name,
        "in_order_limit": in_order_limit(scenario, [prompt(r) for r in range(rows)], concurrency),
        **{side: dataclasses.asdict(m) for side, m in pair.items()},
    }
    with open(path, "a") as out:
        out.write(json.dumps(line) + "\n")


def _spread(values: Sequence[float], fmt: str) -> str:
    return (
        f"median {format(statistics.median(values), fmt)} "
        f"[{format(min(values), fmt)} - {format(max(values), fmt)}]"
    )


def compare(
    scenario: Scenario,
    rows: int,
    concurrency: int,
    runs: int,
    time_limit: float,
    json_path: str | None = None,
) -> None:
    """`runs` interleaved pairs of measurements against one server process, printed as they
    come; with `json_path`, each pair is also appended there as one JSON line."""
    print(
        f"== {scenario.description}, {rows} rows, concurrency {concurrency}, {runs} runs, "
        f"server seed {scenario.server_options.get('seed', 0)}",
        flush=True,
    )
    latency = scenario.server_options.get("latency", 0.0)
    print(
        f"{'run':>3} {'first':>8} {'pipeline rows/s':>16} {'bare rows/s':>12} {'ratio':>6}"
        + (f" {'pipe/limit':>10} {'bare/limit':>10}" if latency else "")
        + f" {'pipe CPU us/row':>15} {'bare CPU us/row':>15} {'CPU ratio':>9} {'server us/row':>13}"
        + f" {'pipe RSS MB':>11} {'bare RSS MB':>11}"
        + f" {'req/row':>7}",
        flush=True,
    )
    pairs: list[dict[str, Measurement]] = []
    with start_server_process(**scenario.server_options) as server:
        for run in range(1, runs + 1):
            order = SIDES if run % 2 else tuple(reversed(SIDES))
            pair = {
                side: _measure_in_child(side, server, rows, concurrency, time_limit)
                for side in order
            }
            pairs.append(pair)
            if json_path:
                _append_json(json_path, scenario, concurrency, pair)
            pipe, bare = pair["pipeline"], pair["bare"]
            line = (
                f"{run:>3} {order[0]:>8} {pipe.rows_per_second:>16,.1f} {bare.rows_per_second:>12,.1f}"
                f" {pipe.rows_per_second / bare.rows_per_second:>6.3f}"
            )
            if latency:
                line += f" {pipe.limit_ratio:>10.3f} {bare.limit_ratio:>10.3f}"
            line += (
                f" {pipe.cpu / rows * 1e6:>15,.0f} {bare.cpu / rows * 1e6:>15,.0f}"
                f" {bare.cpu / pipe.cpu:>9.3f}"
                f" {(pipe.server_cpu + bare.server_cpu) / 2 / rows * 1e6:>13,.0f}"
                f" {pipe.peak_rss_mb:>11.1f} {bare.peak_rss_mb:>11.1f}"
                f" {pipe.requests / rows:>7.3f}"
            )
            failed = pipe.failures + bare.failures
            if failed:
                line += f"  ({pipe.failures} pipeline and {bare.failures} bare-loop rows failed)"
            print(line, flush=True)

    def column(side: str, value) -> list[float]:
        return [value(pair[side]) for pair in pairs]

    ratios = [p["pipeline"].rows_per_second / p["bare"].rows_per_second for p in pairs]
    engine_ratios = [p["bare"].elapsed / p["pipeline"].engine for p in pairs]
    print(
        f"pipeline rows/s      {_spread(column('pipeline', Measurement.rows_per_second.fget), ',.1f')}"
    )
    print(
        f"bare loop rows/s     {_spread(column('bare', Measurement.rows_per_second.fget), ',.1f')}"
    )
    print(f"ratio pipeline/bare  {_spread(ratios, '.3f')}")
    print(f"  engine only/bare   {_spread(engine_ratios, '.3f')}  (Pipeline.run less the Distiset)")
    used_ratios = [
        p["bare"].elapsed / (p["pipeline"].elapsed + p["pipeline"].first_use) for p in pairs
    ]
    print(
        f"  with first use     {_spread(used_ratios, '.3f')}  (Pipeline.run and the first "
        "distiset['default'], which builds the datasets)"
    )
    first_uses = column("pipeline", lambda m: m.first_use)
    print(f"first use of Distiset {_spread(first_uses, '.2f')} s")
    if latency:
        for side in SIDES:
            print(
                f"{side + ' / limit':<20} {_spread(column(side, Measurement.limit_ratio.fget), '.3f')}"
            )
        # The time a zero-overhead client sending in input order needs (see scenarios.py).
        in_order = in_order_limit(scenario, [prompt(r) for r in range(rows)], concurrency)
        for side in SIDES:
            times = column(side, lambda m: m.elapsed / in_order)
            print(f"{side + ' time/in-order':<20} {_spread(times, '.3f')}")
    for side in SIDES:
        print(
            f"{side + ' CPU us/row':<20} "
            f"{_spread(column(side, lambda m: m.cpu / m.rows * 1e6), ',.0f')}"
        )
    cpu_ratios = [p["bare"].cpu / p["pipeline"].cpu for p in pairs]
    print(f"CPU ratio bare/pipe  {_spread(cpu_ratios, '.3f')}")
    servers = [(p["pipeline"].server_cpu + p["bare"].server_cpu) / 2 / rows * 1e6 for p in pairs]
    print(f"server CPU us/row    {_spread(servers, ',.0f')}")
    print(f"pipeline peak RSS MB {_spread(column('pipeline', lambda m: m.peak_rss_mb), '.1f')}")
    print(
        f"  at run's return    {_spread(column('pipeline', lambda m: m.rss_at_return_mb), '.1f')}"
        "  (before the Distiset was used)"
    )
    print(
        f"bare peak RSS MB     {_spread(column('bare', lambda m: m.peak_rss_mb), '.1f')}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        choices=[*HOT_PATH_SCENARIOS, "all"],
        default="zero",
        help="server latency scenario (default: zero; all: the three in turn)",
    )
    parser.add_argument(
        "--rows", type=int, default=None, help="rows per measurement (default: the scenario's)"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at most")
    parser.add_argument("--runs", type=int, default=5, help="measurements of each side")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=300.0,
        help="abort a measurement after this many seconds",
    )
    parser.add_argument("--seed", type=int, default=0, help="the server's seed")
    parser.add_argument(
        "--child",
        choices=SIDES,
        default=None,
        help="run one measurement of this side in this process and print it as JSON",
    )
    parser.add_argument(
        "--json",
        default=None,
        help="also append each run's pair of measurements to this file as a JSON line",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="with --child: the server to send to (default: start one for the scenario)",
    )
    args = parser.parse_args()
    names = HOT_PATH_SCENARIOS if args.scenario == "all" else [args.scenario]
    scenarios = [
        dataclasses.replace(
            SCENARIOS[name], server_options={**SCENARIOS[name].server_options, "seed": args.seed}
        )
        for name in names
    ]
    if args.child:
        scenario = scenarios[0]
        rows = args.rows or scenario.rows
        if args.base_url:
            result = measure(args.child, args.base_url, rows, args.concurrency, args.time_limit)
        else:
            with start_server_process(**scenario.server_options) as server:
                result = measure(
                    args.child, server.base_url, rows, args.concurrency, args.time_limit
                )
        print(json.dumps(result), flush=True)
        return
    for scenario in scenarios:
        compare(
            scenario,
            args.rows or scenario.rows,
            args.concurrency,
            args.runs,
            args.time_limit,
            args.json,
        )


if __name__ == "__main__":
    main()
