"""Two versions of stillroom side by side in one run: `hot_path.py` on each, interleaved.

Each version is a source tree (the folder holding the `stillroom` package, e.g. a checkout's
`src`). A run of a version is one `hot_path.py --runs 1` with that tree first on `PYTHONPATH`,
so its mock server, its pipeline and its bare loop all come from that version (a change to
the mock server shows on both sides of it). The versions take turns, the order reversed on
every other run, so a machine getting busier or quieter favours neither. The summary gives,
per version, the median and range over the runs of each side's time as a multiple of the
physical limit (`x limit`, 1.0 is perfect) and of the in-order limit, the pipeline's
throughput over the bare loop's, the client and server CPU per row and the pipeline's peak
RSS; the machine's load average is printed with every run.

    python benchmarks/compare_versions.py --before /tmp/base/src --scenario fixed-100ms --runs 3
    python benchmarks/compare_versions.py --before /tmp/base/src --scenario all --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIOS = ["zero", "fixed-100ms", "lognormal-500ms"]


def _run_once(source: Path, scenario: str, rows: int | None, time_limit: float) -> dict[str, Any]:
    """One `hot_path.py --runs 1` of `scenario` on the stillroom in `source`; its JSON line."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "pair.json"
        command = [sys.executable, str(HERE / "hot_path.py"), "--scenario", scenario]
        command += ["--runs", "1", "--json", str(out), "--time-limit", str(time_limit)]
        if rows:
            command += ["--rows", str(rows)]
        path = os.pathsep.join([str(source), str(HERE)])
        env = {**os.environ, "PYTHONPATH": path}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"hot_path.py failed on {source}:\n{done.stdout}\n{done.stderr}")
        result: dict[str, Any] = json.loads(out.read_text().splitlines()[-1])
        return result


def _limit(side: dict[str, Any]) -> float:
    """The physical limit of one measurement: rows x mean latency / concurrency."""
    return float(side["rows"] * side["server_mean_latency"] / side["concurrency"])


COLUMNS: list[tuple[str, str, Callable[[dict[str, Any]], float]]] = [
    ("pipeline x limit", ".3f", lambda r: r["pipeline"]["elapsed"] / _limit(r["pipeline"])),
    ("bare x limit", ".3f", lambda r: r["bare"]["elapsed"] / _limit(r["bare"])),
    ("pipeline x in-order", ".3f", lambda r: r["pipeline"]["elapsed"] / r["in_order_limit"]),
    ("bare x in-order", ".3f", lambda r: r["bare"]["elapsed"] / r["in_order_limit"]),
    ("pipeline rows/s", ",.0f", lambda r: r["pipeline"]["rows"] / r["pipeline"]["elapsed"]),
    ("bare rows/s", ",.0f", lambda r: r["bare"]["rows"] / r["bare"]["elapsed"]),
    ("ratio pipeline/bare", ".3f", lambda r: r["bare"]["elapsed"] / r["pipeline"]["elapsed"]),
    ("pipeline CPU us/row", ",.0f", lambda r: r["pipeline"]["cpu"] / r["pipeline"]["rows"] * 1e6),
    ("bare CPU us/row", ",.0f", lambda r: r["bare"]["cpu"] / r["bare"]["rows"] * 1e6),
    (
        "server CPU us/row",
        ",.0f",
        lambda r: (
            (r["pipeline"]["server_cpu"] + r["bare"]["server_cpu"])
            / 2
            / r["pipeline"]["rows"]
            * 1e6
        ),
    ),
    ("pipeline RSS at return MB", ".1f", lambda r: r["pipeline"]["rss_at_return_mb"]),
    ("pipeline peak RSS MB", ".1f", lambda r: r["pipeline"]["peak_rss_mb"]),
]
LATENCY_ONLY = {"pipeline x limit", "bare x limit", "pipeline x in-order", "bare x in-order"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier source tree")
    parser.add_argument(
        "--after",
        type=Path,
        default=HERE.parent / "src",
        help="the later source tree (default: this checkout's src)",
    )
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="fixed-100ms")
    parser.add_argument("--runs", type=int, default=3, help="runs of each version")
    parser.add_argument("--rows", type=int, default=None, help="default: the scenario's")
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args()
    versions = {"before": args.before.resolve(), "after": args.after.resolve()}
    for scenario in SCENARIOS if args.scenario == "all" else [args.scenario]:
        print(f"== {scenario}: before {versions['before']}, after {versions['after']}", flush=True)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in versions}
        for run in range(1, args.runs + 1):
            order = list(versions) if run % 2 else list(reversed(versions))
            for name in order:
                result = _run_once(versions[name], scenario, args.rows, args.time_limit)
                results[name].append(result)
                load = os.getloadavg()[0]
                pipe, bare = result["pipeline"], result["bare"]
                print(
                    f"  run {run} {name:<6} pipeline {pipe['elapsed']:7.3f} s, bare "
                    f"{bare['elapsed']:7.3f} s (limit {_limit(pipe):.3f} s), load {load:.2f}",
                    flush=True,
                )
        for label, fmt, value in COLUMNS:
            if label in LATENCY_ONLY and scenario == "zero":
                continue
            cells = []
            for name in versions:
                values = [value(r) for r in results[name]]
                cells.append(
                    f"{name} {format(statistics.median(values), fmt)} "
                    f"[{format(min(values), fmt)} - {format(max(values), fmt)}]"
                )
            print(f"  {label:<26} " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
