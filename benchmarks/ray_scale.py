"""Ray against the local engine on one machine, and what each request costs in the journal.

Runs `LoadDataFromDicts >> TextGeneration(OpenAILLM(<mock server>))` with the same number of
requests in flight (`--concurrency`) on:

- the local engine;
- Ray, one node (a head started with `ray start`), one replica of the task;
- Ray, two nodes (a head and a second raylet on 127.0.0.1), two replicas of the task, one
  per node, each with half the requests in flight;

at 0 ms and at 100 ms of server latency, every row checked, and prints rows/s and the ratio
to the local engine. At 100 ms the physical limit is `rows x 0.1 / concurrency`. For Ray it
also prints the seconds spent starting the replicas (building and loading the steps in new
worker processes) and the rows/s of the rest of the run.

Ray starts its worker processes at nice 15 (`RAY_worker_niceness`), so on a machine shared
with other work they get less CPU than the local engine's process, which runs at the
caller's priority; `--worker-niceness 0` starts the cluster's workers at nice 0.

Then it measures the per-request cost of the request path alone (no HTTP): keying, cache
lookup and recording a reply through `RequestCache.one`, over the local SQLite store and over
a Ray replica's own journal, and one round trip to a multi-replica step's counter actor.

    python benchmarks/ray_scale.py --rows 3000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from stillroom.models import OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import start_server_process


def build(cache: str, base_url: str, rows: int, concurrency: int, replicas: int) -> Pipeline:
    llm = OpenAILLM(
        model="mock-model",
        base_url=base_url,
        api_key="dummy",
        max_concurrent_requests=max(1, concurrency // replicas),
        max_retries=0,
    )
    with Pipeline(name="bench-ray-scale", cache_dir=cache) as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"prompt {i}"} for i in range(rows)], batch_size=50
        )
        load >> TextGeneration(llm=llm, input_batch_size=50, resources={"replicas": replicas})
    return pipeline


class StartUp(logging.Handler):
    """Collects the seconds the Ray engine logs for starting each step's replicas."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Ray replicas of"):
            self.seconds += float(record.args[1])  # type: ignore[index]


def measure(label: str, run: Any, rows: int) -> tuple[float, float]:
    """rows/s of the whole run, and seconds spent starting Ray replicas (0 locally)."""
    start_up = StartUp()
    pipeline_log = logging.getLogger("stillroom.pipeline")
    pipeline_log.addHandler(start_up)
    started = time.perf_counter()
    try:
        distiset = run()
    finally:
        pipeline_log.removeHandler(start_up)
    elapsed = time.perf_counter() - started
    written = distiset["default"]["train"]
    if [row["instruction"] for row in written] != [f"prompt {i}" for i in range(rows)]:
        raise SystemExit(f"{label}: rows missing or out of order")
    if any(row["generation"] is None for row in written):
        raise SystemExit(f"{label}: some rows failed")
    engine = distiset.summary.wall_time if distiset.summary is not None else elapsed
    return rows / engine, start_up.seconds


def pipelines(args: argparse.Namespace) -> None:
    """Each scenario at 0 and 100 ms: one server process per latency, one Ray cluster (the
    second raylet joins after the one-node runs), this process its driver throughout."""
    import contextlib

    import ray

    from stillroom.testing.ray_cluster import LocalCluster

    latencies = (0.0, 0.1)
    results: dict[float, dict[str, tuple[float, float]]] = {latency: {} for latency in latencies}
    with contextlib.ExitStack() as stack:
        servers = {
            latency: stack.enter_context(start_server_process(latency=latency))
            for latency in latencies
        }

        def one(label: str, latency: float, replicas: int, on_ray: bool) -> None:
            with tempfile.TemporaryDirectory() as cache:
                url = servers[latency].base_url
                pipeline = build(cache, url, args.rows, args.concurrency, replicas)
                runner = pipeline.ray().run if on_ray else pipeline.run
                results[latency][label] = measure(
                    label, lambda: runner(use_cache=False, progress=False), args.rows
                )

        for latency in latencies:
            one("local engine", latency, 1, on_ray=False)
        if args.worker_niceness is not None:  # read by `ray start` from its environment
            os.environ["RAY_worker_niceness"] = str(args.worker_niceness)  # noqa: SIM112 (Ray's name)
        cluster = LocalCluster(head_cpus=2)
        stack.callback(cluster.stop)
        ray.init(address=cluster.address, log_to_driver=False)
        stack.callback(ray.shutdown)
        for latency in latencies:
            one("Ray, one node", latency, 1, on_ray=True)
        cluster.add_node("second", cpus=2)
        for latency in latencies:
            one("Ray, two nodes", latency, 2, on_ray=True)
        counter_round_trip(min(args.requests, 2000))
    for latency, rates in results.items():
        local = rates["local engine"][0]
        limit = args.concurrency / latency if latency else None
        for label, (rate, start_up) in rates.items():
            extra = f", {rate / limit:.2f} of the physical limit" if limit else ""
            if start_up:
                rest = args.rows / (args.rows / rate - start_up)
                extra += f"; start-up {start_up:.2f} s, then {rest:.0f} rows/s"
            print(
                f"{latency * 1000:>4.0f} ms  {label:<16} {rate:>8.0f} rows/s  "
                f"{rate / local:.2f}x local{extra}",
                flush=True,
            )


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
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20000, help="for the request path")
    parser.add_argument("--skip-pipelines", action="store_true")
    parser.add_argument(
        "--worker-niceness", type=int, help="RAY_worker_niceness for the cluster (Ray: 15)"
    )
    args = parser.parse_args()
    request_path(args.requests)
    if not args.skip_pipelines:
        pipelines(args)


if __name__ == "__main__":
    main()
