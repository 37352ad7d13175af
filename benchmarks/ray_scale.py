"""Ray against the local engine on one machine, and what each request costs in the journal.

Runs `LoadDataFromDicts >> TextGeneration(OpenAILLM(<mock server>))` with the same number of
requests in flight (`--concurrency`) on:

- the local engine;
- Ray, one node (a head started with `ray start`), one replica of the task;
- Ray, two nodes (a head and a second raylet on 127.0.0.1), two replicas of the task, one
  per node, each with half the requests in flight;

at 0 ms and at 100 ms of server latency, `--runs` times each, every row checked. It prints
the medians (and ranges) of rows/s, the ratio to the local engine and, at 100 ms, the wall
time over the physical limit (`rows x 0.1 / concurrency`); for Ray, the seconds spent
starting the task's first replica (a new worker process building and loading the step;
the other joins as it starts) and the rows/s of the rest of the run, apart, since the start-up does not shrink with the row count. Then
the CPU each kind of process used per 1,000 rows (driver, mock server, replicas, step
counter, raylets, GCS, Ray's other processes): on a machine with few cores this is what
decides the 0 ms figures. 10,000 rows (the default) is enough for the steady rate to show
beside a start-up of a second or two.

The driver connects again once the second node has joined, as a job submitted to a
two-node cluster would: Ray prestarts idle worker processes on each node when a driver
connects, which a replica then takes. `--cold-second-node` keeps the first connection, so
the second node has none and its replica starts a Python process from cold, as on a node
that joins a running job.

Ray starts its worker processes at nice 15 (`RAY_worker_niceness`, Ray's default), so on a
machine shared with other work they get less CPU than the local engine's process, which
runs at the caller's priority. The benchmark starts the cluster's workers at nice 0
(`--worker-niceness`, what a user's `ray start` gets with `RAY_worker_niceness=0`); pass 15
to see Ray's default.

Then it measures the per-request cost of the request path alone (no HTTP): keying, cache
lookup and recording a reply through `RequestCache.one`, over the local SQLite store and over
a Ray replica's own journal, and one round trip to a multi-replica step's counter actor.

    python benchmarks/ray_scale.py --rows 10000 --concurrency 50 --runs 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stillroom.models import OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import start_server_process


def build(
    cache: str, base_url: str, rows: int, concurrency: int, replicas: int, batch: int = 50
) -> Pipeline:
    llm = OpenAILLM(
        model="mock-model",
        base_url=base_url,
        api_key="dummy",
        max_concurrent_requests=max(1, concurrency // replicas),
        max_retries=0,
    )
    with Pipeline(name="bench-ray-scale", cache_dir=cache) as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"prompt {i}"} for i in range(rows)], batch_size=batch
        )
        load >> TextGeneration(llm=llm, input_batch_size=batch, resources={"replicas": replicas})
    return pipeline


class StartUp(logging.Handler):
    """Collects the seconds the Ray engine logs until each step's first replica started."""

    def __init__(self, meter: CpuMeter | None = None) -> None:
        super().__init__()
        self.seconds = 0.0
        self._meter = meter

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Ray replicas of"):
            self.seconds += float(record.args[1])  # type: ignore[index]
            if self._meter is not None:
                self._meter.mark()


class CpuMeter:
    """Core-seconds used during a run by each kind of process: this driver, the mock server,
    and the Ray cluster's (step replicas, step counters, raylets, GCS, the rest: agents and
    idle workers). Sampled every 0.2 s, as replicas end with the run; a process's title says
    what it is (a worker is `ray::IDLE` until it holds an actor)."""

    def __init__(self, server_pids: list[int], cluster: Any = None, threads: bool = False) -> None:
        import psutil

        self._psutil = psutil
        self._threads = threads
        self._thread_used: dict[tuple[int, int], tuple[str, float]] = {}
        """With `threads`: per (pid, thread id), its kind and name, and its core-seconds."""
        self._thread_base: dict[tuple[int, int], float] = {}
        self._lock = threading.Lock()
        self.marked: dict[str, float] = {}
        """Core-seconds per kind from the start to `mark()` (the first replica's start-up)."""
        self._fixed = {os.getpid(): "driver", **dict.fromkeys(server_pids, "mock server")}
        self._cluster = cluster
        self._kinds: dict[int, str] = {}
        self._used: dict[int, float] = {}
        self._base: dict[int, float] = {}
        self._done = threading.Event()
        self._sample()
        self._base = dict(self._used)
        self._thread_base = {key: used for key, (_, used) in self._thread_used.items()}
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _processes(self) -> list[Any]:
        found = [self._psutil.Process(pid) for pid in self._fixed]
        if self._cluster is not None:
            found.extend(self._cluster.processes())
        return found

    def _kind(self, process: Any) -> str:
        if process.pid in self._fixed:
            return self._fixed[process.pid]
        title = " ".join(process.cmdline())
        if title.startswith("ray::StepReplica"):
            return "replicas"
        if title.startswith("ray::StepCounter"):
            return "step counter"
        if process.name() == "raylet":
            return "raylets"
        if "gcs_server" in title:
            return "GCS"
        return "Ray, other"

    def _sample(self) -> None:
        with self._lock:
            self._sample_all()

    def _sample_all(self) -> None:
        for process in self._processes():
            with contextlib.suppress(self._psutil.Error):
                times = process.cpu_times()
                kind = self._kind(process)
                if self._kinds.get(process.pid, "Ray, other") == "Ray, other":
                    self._kinds[process.pid] = kind
                self._used[process.pid] = times.user + times.system
                if self._threads:
                    self._sample_threads(process, self._kinds[process.pid])

    def _sample_threads(self, process: Any, kind: str) -> None:
        """Each thread's core-seconds, under its kind and its name (`/proc/.../comm`,
        digits dropped: Ray numbers its pool threads)."""
        for thread in process.threads():
            try:
                name = Path(f"/proc/{process.pid}/task/{thread.id}/comm").read_text().strip()
            except OSError:
                continue
            name = "main (Python)" if thread.id == process.pid else re.sub(r"[0-9]+$", "", name)
            self._thread_used[(process.pid, thread.id)] = (
                f"{kind}: {name}",
                thread.user_time + thread.system_time,
            )

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            self._sample()

    def mark(self) -> None:
        """Note the core-seconds used so far (as the replicas have started)."""
        self._sample()
        self.marked = self._totals()

    def stop(self) -> dict[str, float]:
        """Core-seconds per kind since the meter started."""
        self._done.set()
        self._thread.join()
        self._sample()
        return self._totals()

    def _totals(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for pid, seconds in self._used.items():
            kind = self._kinds[pid]
            used[kind] = used.get(kind, 0.0) + seconds - self._base.get(pid, 0.0)
        return used

    def threads(self) -> dict[str, float]:
        """Core-seconds per kind of process and thread name since the meter started (after
        `stop`; with `threads`)."""
        used: dict[str, float] = {}
        for key, (name, seconds) in self._thread_used.items():
            used[name] = used.get(name, 0.0) + seconds - self._thread_base.get(key, 0.0)
        return used


@dataclass
class Figures:
    """One run of one scenario."""

    rate: float
    """Rows/s over the whole run (the engine's wall time, start-up included)."""
    start_up: float
    """Seconds spent starting Ray replicas (0 locally)."""
    steady: float
    """Rows/s once the first replica had started."""
    cpu: dict[str, float]
    """Core-seconds per kind of process (`CpuMeter`)."""
    cpu_start_up: dict[str, float]
    """Of which spent until the first replica had started."""


def measure(label: str, run: Any, rows: int, meter: CpuMeter) -> Figures:
    start_up = StartUp(meter)
    pipeline_log = logging.getLogger("stillroom.pipeline")
    pipeline_log.addHandler(start_up)
    started = time.perf_counter()
    try:
        distiset = run()
    finally:
        pipeline_log.removeHandler(start_up)
        cpu = meter.stop()
    elapsed = time.perf_counter() - started
    written = distiset["default"]["train"]
    if [row["instruction"] for row in written] != [f"prompt {i}" for i in range(rows)]:
        raise SystemExit(f"{label}: rows missing or out of order")
    if any(row["generation"] is None for row in written):
        raise SystemExit(f"{label}: some rows failed")
    engine = distiset.summary.wall_time if distiset.summary is not None else elapsed
    steady = rows / (engine - start_up.seconds)
    return Figures(rows / engine, start_up.seconds, steady, cpu, meter.marked)


def pipelines(args: argparse.Namespace) -> None:
    """Each scenario at 0 and 100 ms, `--runs` times: one server process per latency, one
    Ray cluster (the second raylet joins after the one-node runs), this process its driver
    throughout."""
    import ray

    from stillroom.testing.ray_cluster import LocalCluster

    latencies = tuple(float(ms) / 1000 for ms in args.latencies.split(","))
    results: dict[tuple[float, str], list[Figures]] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            latency: stack.enter_context(start_server_process(latency=latency))
            for latency in latencies
        }
        cluster: LocalCluster | None = None

        def one(label: str, latency: float, replicas: int, on_ray: bool) -> None:
            with tempfile.TemporaryDirectory() as cache:
                url = servers[latency].base_url
                pipeline = build(cache, url, args.rows, args.concurrency, replicas, args.batch_size)
                runner = pipeline.ray().run if on_ray else pipeline.run
                meter = CpuMeter([servers[latency].pid], cluster)
                figures = measure(
                    label, lambda: runner(use_cache=False, progress=False), args.rows, meter
                )
                results.setdefault((latency, label), []).append(figures)

        for _ in range(args.runs):
            for latency in latencies:
                one("local engine", latency, 1, on_ray=False)
        # read by `ray start` from its environment (Ray's default is 15)
        os.environ["RAY_worker_niceness"] = str(args.worker_niceness)  # noqa: SIM112 (Ray's name)
        cluster = LocalCluster(head_cpus=2)
        stack.callback(cluster.stop)
        ray.init(address=cluster.address, log_to_driver=False)
        stack.callback(ray.shutdown)
        for _ in range(0 if args.skip_one_node else args.runs):
            for latency in latencies:
                one("Ray, one node", latency, 1, on_ray=True)
        cluster.add_node("second", cpus=2)
        if not args.cold_second_node:
            # a job submitted to a two-node cluster: Ray prestarts idle workers on every node
            # when a driver connects, so neither replica starts a Python process from cold
            ray.shutdown()
            ray.init(address=cluster.address, log_to_driver=False)
        for _ in range(args.runs):
            for latency in latencies:
                one("Ray, two nodes", latency, 2, on_ray=True)
        counter_round_trip(min(args.requests, 2000))
    report(results, args)


def _spread(values: list[float], form: str) -> str:
    """The median, and the range when there are several values."""
    middle = format(statistics.median(values), form)
    if len(values) == 1:
        return middle
    return f"{middle} ({format(min(values), form)}-{format(max(values), form)})"


def report(results: dict[tuple[float, str], list[Figures]], args: argparse.Namespace) -> None:
    """Rows/s, against the local engine and the physical limit, start-up and steady rows/s:
    medians (ranges) over the runs; then the core-seconds per 1,000 rows of each process."""
    print(f"{args.rows} rows, {args.concurrency} requests in flight, {args.runs} run(s) each")
    for (latency, label), runs in results.items():
        local = statistics.median(f.rate for f in results[(latency, "local engine")])
        line = f"{latency * 1000:>4.0f} ms  {label:<15} {_spread([f.rate for f in runs], '.0f')} rows/s"
        line += f", {_spread([f.rate / local for f in runs], '.2f')}x local"
        if latency:
            limit = args.rows * latency / args.concurrency
            walls = [args.rows / f.rate / limit for f in runs]
            line += f", wall {_spread(walls, '.2f')}x the physical limit"
        if label != "local engine":
            line += f"; start-up {_spread([f.start_up for f in runs], '.2f')} s"
            line += f", then {_spread([f.steady for f in runs], '.0f')} rows/s"
        print(line, flush=True)
    print("core-seconds per 1,000 rows (median over the runs), by process:")
    for (latency, label), runs in results.items():
        kinds = sorted({kind for f in runs for kind in f.cpu})
        parts = [
            f"{kind} {statistics.median(f.cpu.get(kind, 0.0) for f in runs) / args.rows * 1000:.2f}"
            for kind in kinds
        ]
        total = statistics.median(sum(f.cpu.values()) for f in runs) / args.rows * 1000
        print(f"{latency * 1000:>4.0f} ms  {label:<15} total {total:.2f}: {', '.join(parts)}")


class _Echo:
    """A no-op actor: what one call costs Ray alone."""

    def echo(self, value: Any) -> Any:
        return value


def cpu_breakdown(args: argparse.Namespace) -> None:
    """Where the CPU of a 0 ms run goes: the local engine, then Ray on two nodes (workers
    prestarted), `--runs` times each, core-seconds per 1,000 rows for each kind of process
    and, inside the driver and the replicas, each thread (Python's main thread against Ray's
    own: its core worker, gRPC, the event loop that serves the actor's async methods); then
    what one no-op actor call costs the whole cluster, and the calls a row makes."""
    import ray

    from stillroom.testing.ray_cluster import LocalCluster

    rows, results = args.rows, {}
    threads: dict[str, list[dict[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(start_server_process(latency=0.0))
        cluster: LocalCluster | None = None

        def one(label: str, replicas: int, on_ray: bool) -> None:
            with tempfile.TemporaryDirectory() as cache:
                pipeline = build(
                    cache, server.base_url, rows, args.concurrency, replicas, args.batch_size
                )
                runner = pipeline.ray().run if on_ray else pipeline.run
                meter = CpuMeter([server.pid], cluster, threads=True)
                figures = measure(
                    label, lambda: runner(use_cache=False, progress=False), rows, meter
                )
                results.setdefault((0.0, label), []).append(figures)
                threads.setdefault(label, []).append(meter.threads())

        for _ in range(args.runs):
            one("local engine", 1, on_ray=False)
        os.environ["RAY_worker_niceness"] = str(args.worker_niceness)  # noqa: SIM112 (Ray's name)
        cluster = LocalCluster(head_cpus=2)
        stack.callback(cluster.stop)
        cluster.add_node("second", cpus=2)
        ray.init(address=cluster.address, log_to_driver=False)
        stack.callback(ray.shutdown)
        for _ in range(args.runs):
            one("Ray, two nodes", 2, on_ray=True)
        call = actor_call_cost(cluster, server.pid)
    report(results, args)
    for runs in results.values():
        if runs[0].cpu_start_up:
            kinds = sorted({kind for f in runs for kind in f.cpu_start_up})
            parts = [
                f"{kind} {statistics.median(f.cpu_start_up.get(kind, 0.0) for f in runs):.2f}"
                for kind in kinds
            ]
            total = statistics.median(sum(f.cpu_start_up.values()) for f in runs)
            print(
                f"of which until the first replica had started (core-s): {total:.2f}: "
                + ", ".join(parts)
            )
    for label, runs in threads.items():
        print(f"{label}: core-seconds per 1,000 rows by thread (median; 0.01 and more)")
        names = sorted({name for run in runs for name in run})
        for name in names:
            used = statistics.median(run.get(name, 0.0) for run in runs) / rows * 1000
            if used >= 0.01:
                print(f"    {name:<50} {used:.3f}")
    units = math.ceil(rows / args.batch_size)
    print(
        f"one no-op actor call (ray.get of .remote, driver to a replica on the other node): "
        f"{call * 1000:.2f} core-ms over every process; a run makes per unit of {args.batch_size} rows one "
        f"call to a replica and, with two replicas, one to settle and one or two to the step "
        f"counter per replica: about {3 * units} calls for {rows} rows, "
        f"{3 * units * call / rows * 1e6:.1f} core-us per row"
    )


def actor_call_cost(cluster: Any, server_pid: int, count: int = 1000) -> float:
    """Core-seconds one no-op actor call (driver to an actor on the second node, argument
    and result a few bytes) costs every process of the cluster together."""
    import ray

    echo = ray.remote(num_cpus=0)(_Echo).options(scheduling_strategy="SPREAD").remote()
    ray.get(echo.echo.remote(b"warm"))
    meter = CpuMeter([server_pid], cluster)
    for i in range(count):
        ray.get(echo.echo.remote(i))
    used = sum(meter.stop().values())
    ray.kill(echo)
    return used / count


def request_path(count: int) -> None:
    """Microseconds per request through `RequestCache.one` (a miss: key, lookup, record)."""
    from stillroom.models import AsyncMockLLM
    from stillroom.pipeline.ray.journal import ReplicaJournal
    from stillroom.pipeline.ray.state import StateRoot
    from stillroom.pipeline.requests import Ledger, RequestCache
    from stillroom.pipeline.store import SQLiteStore

    task = TextGeneration(name="bench", llm=AsyncMockLLM())
    reply = {
        "generations": ["an answer"],
        "statistics": {"input_tokens": [3], "output_tokens": [2]},
    }

    async def send() -> Any:
        return reply

    async def through(cache: RequestCache) -> float:
        ledger = Ledger()
        started = time.perf_counter()
        for i in range(count):
            await cache.one({"input": f"prompt {i}", "call": {}}, ledger, send)
        return (time.perf_counter() - started) / count * 1e6

    with tempfile.TemporaryDirectory() as directory:
        store = SQLiteStore(Path(directory) / "local")
        local = asyncio.run(through(RequestCache(store, "run", task, True)))
        store.close()
        root = StateRoot(str(Path(directory) / "ray"))
        journal = ReplicaJournal(root, "bench", {}, {})
        replica = asyncio.run(through(RequestCache(journal, "run", task, True)))
        journal.close()
    print(f"request path, local SQLite store:     {local:6.1f} us/request")
    print(f"request path, Ray replica's journal:  {replica:6.1f} us/request")


def counter_round_trip(count: int) -> None:
    """Microseconds per call to a multi-replica step's counter actor, one at a time."""
    import ray

    from stillroom.pipeline.ray.actors import StepCounterActor

    counter = StepCounterActor.remote({})
    ray.get(counter.occurrences.remote([(b"warm", None)]))
    started = time.perf_counter()
    for i in range(count):
        ray.get(counter.occurrences.remote([(i.to_bytes(16, "little"), None)]))
    per = (time.perf_counter() - started) / count * 1e6
    ray.kill(counter)
    print(f"multi-replica step counter round trip: {per:6.1f} us/request (one at a time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=2, help="runs of each scenario")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--latencies", default="0,100", help="server latencies in ms, comma-separated"
    )
    parser.add_argument(
        "--batch-size", type=int, default=50, help="rows per batch of the generator and the task"
    )
    parser.add_argument("--requests", type=int, default=20000, help="for the request path")
    parser.add_argument("--skip-pipelines", action="store_true")
    parser.add_argument("--skip-one-node", action="store_true", help="two-node runs only")
    parser.add_argument(
        "--cold-second-node",
        action="store_true",
        help="keep the driver's connection when the second node joins (a node added while "
        "the job runs, with no idle worker prestarted: its replica starts one from cold)",
    )
    parser.add_argument(
        "--worker-niceness",
        type=int,
        default=0,
        help="RAY_worker_niceness for the cluster's workers (Ray's own default: 15)",
    )
    parser.add_argument(
        "--cpu-breakdown",
        action="store_true",
        help="only the 0 ms local and two-node runs, with each process's and thread's CPU, "
        "and what one actor call costs",
    )
    args = parser.parse_args()
    if args.cpu_breakdown:
        cpu_breakdown(args)
        return
    request_path(args.requests)
    if not args.skip_pipelines:
        pipelines(args)


if __name__ == "__main__":
    main()
