"""Where a run's wall time goes outside its steady state: a timeline of one `Pipeline.run`.

Runs `pipeline_openai.py`'s pipeline once against a mock server process of its own, with
timestamps (this process's `time.perf_counter`) on the phases of `run_pipeline` (validation,
signature, store, engine, loop, final checkpoint, cleanup) and on every HTTP request (when
`AiohttpSession.send` was entered and when it returned). It prints the phases, the time
from `Pipeline.run`'s entry to the first request and to the `concurrency`-th, the tail from
the last reply to `Pipeline.run`'s return, and the in-flight count over the run (its
mean, and the seconds with fewer than `concurrency` requests in flight while rows were
left to send), so that what keeps the run above its physical limit can be read directly.

    python benchmarks/run_timeline.py --scenario fixed-100ms --rows 5000
    python benchmarks/run_timeline.py --scenario lognormal-500ms --rows 2000 --buckets 40

The wrappers cost a few microseconds per request; the figures are for finding where time
goes, not for quoting throughput (`hot_path.py` is for that).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from scenarios import SCENARIOS, in_order_limit, prompt

from stillroom.testing import start_server_process

PHASES: list[tuple[str, float, float]] = []
"""(name, entered, returned) of each wrapped call, in perf_counter seconds."""
SENDS: list[tuple[float, float]] = []
"""(entered, returned) of each HTTP request."""
CHECKPOINTS: list[tuple[float, float]] = []
"""(entered, returned) of each `Engine.checkpoint`, on the event loop."""
STALLS: list[tuple[float, float]] = []
"""(when, seconds late) of each wake-up of a 1 ms sleep on the engine's loop that came over 2 ms late."""


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        entered = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            PHASES.append((name, entered, time.perf_counter()))

    return wrapper


def _instrument() -> None:
    """Wrap the phases of `run_pipeline` and the HTTP send."""
    from stillroom.models.llms import transport
    from stillroom.pipeline import base, runner, scheduler

    for name in ("validate", "pipeline_signature", "build_pending_distisets", "_open_run"):
        setattr(runner, name, _timed(name, getattr(runner, name)))
    runner.drive = _timed("drive (the event loop)", runner.drive)
    runner._finish = _timed("_finish (final checkpoint, summary)", runner._finish)
    runner.LocalExecutor.open_store = _timed("open_store", runner.LocalExecutor.open_store)
    runner.LocalExecutor.engine = _timed("Engine()", runner.LocalExecutor.engine)
    for method in ("start_writers", "install_llms", "shutdown", "close_writers", "remove_llms"):
        setattr(scheduler.Engine, method, _timed(method, getattr(scheduler.Engine, method)))
    checkpoint = scheduler.Engine.checkpoint

    def timed_checkpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        entered = time.perf_counter()
        try:
            return checkpoint(self, *args, **kwargs)
        finally:
            CHECKPOINTS.append((entered, time.perf_counter()))

    scheduler.Engine.checkpoint = timed_checkpoint  # type: ignore[method-assign]
    engine_run = scheduler.Engine.run

    async def watched_run(self: Any) -> None:
        await _watched(engine_run(self))

    scheduler.Engine.run = watched_run  # type: ignore[method-assign]
    runner.run_pipeline = _timed("run_pipeline", runner.run_pipeline)
    base.run_pipeline = runner.run_pipeline  # type: ignore[attr-defined]
    base.run_distiset = _timed("run_distiset", base.run_distiset)  # type: ignore[attr-defined]
    send = transport.AiohttpSession.send

    async def timed_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        entered = time.perf_counter()
        try:
            return await send(self, *args, **kwargs)
        finally:
            SENDS.append((entered, time.perf_counter()))

    transport.AiohttpSession.send = timed_send  # type: ignore[method-assign]


async def _watched(work: Any) -> Any:
    """Await `work` while a task notes each time the loop wakes a 1 ms sleep over 2 ms late."""
    import asyncio

    async def watch() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            late = time.perf_counter() - before - 0.001
            if late > 0.002:
                STALLS.append((before, late))

    watcher = asyncio.create_task(watch())
    try:
        return await work
    finally:
        watcher.cancel()


def _instrument_bare() -> None:
    """Time each `aiohttp.ClientSession._request` of the bare loop (`semaphore_baseline.py`)."""
    import aiohttp

    request = aiohttp.ClientSession._request

    async def timed_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        entered = time.perf_counter()
        try:
            response = await request(self, *args, **kwargs)
            await response.read()
            return response
        finally:
            SENDS.append((entered, time.perf_counter()))

    aiohttp.ClientSession._request = timed_request  # type: ignore[method-assign]


def _serve_with_timeline(path: str, argv: list[str]) -> None:
    """The mock server (`python -m stillroom.testing argv`), writing to `path` when it stops
    the (arrived, entered, latency drawn, returned) perf_counter seconds of each LLM request
    it answered: its latency runs from when its bytes arrived (`testing/site.py`)."""
    from stillroom.testing import __main__ as server_main
    from stillroom.testing import draws, endpoints

    handled: list[tuple[float, float, float, float]] = []
    reply = endpoints.MockEndpoints._llm_reply
    latency = draws.latency
    drawn: dict[Any, float] = {}
    # The arrival times are the loop's (time.monotonic); the rest perf_counter's.
    offset = time.perf_counter() - time.monotonic()

    def draw(*args: Any) -> float:
        import asyncio

        delay = latency(*args)
        drawn[asyncio.current_task()] = delay
        return delay

    draws.latency = draw  # type: ignore[assignment]

    async def timed_reply(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        import asyncio

        entered = time.perf_counter()
        arrived = self._arrivals.get(request.protocol)
        arrived = entered if arrived is None else arrived + offset
        try:
            return await reply(self, request, *args, **kwargs)
        finally:
            delay = drawn.pop(asyncio.current_task(), 0.0)
            handled.append((arrived, entered, delay, time.perf_counter()))

    endpoints.MockEndpoints._llm_reply = timed_reply  # type: ignore[method-assign]
    try:
        server_main.main(argv)
    finally:
        with open(path, "w") as out:
            json.dump(handled, out)


@contextlib.contextmanager
def _timeline_server(path: str) -> Iterator[None]:
    """`start_server_process` starts `_serve_with_timeline` instead of the plain server."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
        script.write(
            f"#!/bin/sh\nshift 2\nexec {sys.executable} {os.path.abspath(__file__)} "
            f'--serve-timeline {path} -- "$@"\n'
        )
    os.chmod(script.name, stat.S_IRWXU)
    real, sys.executable = sys.executable, script.name
    try:
        yield
    finally:
        sys.executable = real
        os.unlink(script.name)


def _in_flight(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """(bucket start, mean requests in flight over the bucket) from `start` to `end`."""
    events = sorted([(t0, 1) for t0, _ in SENDS] + [(t1, -1) for _, t1 in SENDS])
    buckets: list[tuple[float, float]] = []
    level, at, index = 0, start, 0
    bucket = start
    while bucket < end:
        stop = min(bucket + step, end)
        area = 0.0
        while index < len(events) and events[index][0] <= stop:
            t, change = events[index]
            area += level * (max(t, bucket) - max(at, bucket))
            level, at = level + change, t
            index += 1
        area += level * (stop - max(at, bucket))
        at = max(at, stop)
        buckets.append((bucket - start, area / (stop - bucket)))
        bucket = stop
    return buckets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["fixed-100ms", "lognormal-500ms", "zero"])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--buckets", type=int, default=20, help="lines of the in-flight chart")
    parser.add_argument(
        "--side", choices=["pipeline", "bare"], default="pipeline", help="what to time"
    )
    parser.add_argument("--serve-timeline", default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.serve_timeline:
        _serve_with_timeline(args.serve_timeline, [a for a in rest if a != "--"])
        return
    scenario = SCENARIOS[args.scenario or "fixed-100ms"]
    rows = args.rows or scenario.rows
    prompts = [prompt(r) for r in range(rows)]
    import aiohttp  # noqa: F401 (imported before the clock, as in hot_path.py)

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as named:
        server_file = named.name
    with _timeline_server(server_file), start_server_process(**scenario.server_options) as server:
        if args.side == "pipeline":
            from pipeline_openai import run_against

            _instrument()
            elapsed = run_against(server.base_url, prompts, args.concurrency, 300.0).elapsed
        else:
            import asyncio

            from semaphore_baseline import send_all

            _instrument_bare()
            entered = time.perf_counter()
            elapsed = asyncio.run(
                _watched(send_all("aiohttp", server.base_url, rows, args.concurrency))
            )[0]
            PHASES.append(("run_pipeline", entered, time.perf_counter()))
        stats = server.stats(include_prompts=False)
    with open(server_file) as file:
        handled = json.load(file)
    os.unlink(server_file)
    run_name, entered, returned = next(p for p in PHASES if p[0] == "run_pipeline")
    print(
        f"{args.side}: {returned - entered:.3f} s (as the benchmarks measure it: {elapsed:.3f} s)"
    )
    for name, t0, t1 in sorted(PHASES, key=lambda p: p[1]):
        if name != run_name:
            print(f"  {t0 - entered:8.3f} -> {t1 - entered:8.3f}  {t1 - t0:7.3f} s  {name}")
    starts = sorted(t0 for t0, _ in SENDS)
    ends = sorted(t1 for _, t1 in SENDS)
    full = starts[min(args.concurrency, len(starts)) - 1]
    limit = rows * stats.mean_latency / args.concurrency
    in_order = in_order_limit(scenario, prompts, args.concurrency)
    print(f"first request sent     {starts[0] - entered:8.3f} s after run_pipeline's entry")
    print(f"{args.concurrency}th request sent    {full - entered:8.3f} s")
    print(f"last request sent      {starts[-1] - entered:8.3f} s")
    print(f"last reply             {ends[-1] - entered:8.3f} s")
    print(f"tail to return         {returned - ends[-1]:8.3f} s")
    print(
        f"first send to last reply {ends[-1] - starts[0]:8.3f} s; physical limit {limit:.3f} s, "
        f"in-order limit {in_order:.3f} s; server mean latency {stats.mean_latency * 1e3:.2f} ms"
    )
    span = ends[-1] - starts[0]
    # Each request after the first `concurrency` takes the slot the (i - concurrency)-th reply freed.
    turnaround = [starts[i] - ends[i - args.concurrency] for i in range(args.concurrency, rows)]
    durations = sorted(t1 - t0 for t0, t1 in SENDS)
    print(
        f"request as the client sees it: mean {sum(durations) / len(durations) * 1e3:.2f} ms, "
        f"median {durations[len(durations) // 2] * 1e3:.2f}, p99 "
        f"{durations[int(len(durations) * 0.99)] * 1e3:.2f}; reply to the next request on its "
        f"slot: mean {sum(turnaround) / len(turnaround) * 1e3:.2f} ms, max "
        f"{max(turnaround) * 1e3:.2f}"
    )
    chart = _in_flight(starts[0], starts[-1], (starts[-1] - starts[0]) / args.buckets)
    short = sum(
        (args.concurrency - level) / args.concurrency * ((starts[-1] - starts[0]) / args.buckets)
        for _, level in chart
    )
    # The server's side: from a request's arrival to its handler's entry, and from the end of
    # its latency (counted from the arrival) to the handler's return.
    waits = sorted(entered - arrived for arrived, entered, _, _ in handled)
    late = sorted(back - arrived - delay for arrived, _, delay, back in handled)
    outside = sum(t1 - t0 for t0, t1 in SENDS) - sum(back - a for a, _, _, back in handled)
    print(
        f"server: arrival to handler entry median {waits[len(waits) // 2] * 1e3:.2f} ms; "
        f"latency's end to return median {late[len(late) // 2] * 1e3:.2f} ms, mean "
        f"{sum(late) / len(late) * 1e3:.2f}; client send outside the server (from arrival "
        f"to return): mean {outside / len(SENDS) * 1e3:.2f} ms"
    )
    ckpt = sorted(t1 - t0 for t0, t1 in CHECKPOINTS)
    if ckpt:
        print(
            f"checkpoints on the loop: {len(ckpt)}, median {ckpt[len(ckpt) // 2] * 1e3:.1f} ms, "
            f"max {ckpt[-1] * 1e3:.1f}, total {sum(ckpt):.3f} s"
        )
    stalls = sorted(late for _, late in STALLS)
    if stalls:
        print(
            f"event loop late by over 2 ms: {len(stalls)} times, {sum(stalls):.3f} s in all, "
            f"median {stalls[len(stalls) // 2] * 1e3:.1f} ms, max {stalls[-1] * 1e3:.1f} ms"
        )
    mean = sum(t1 - t0 for t0, t1 in SENDS) / span
    print(
        f"mean in flight {mean:.1f} from first send to last reply; slots left empty while rows "
        f"were left to send: as much as {short:.3f} s with all {args.concurrency} empty"
    )
    for at, level in chart:
        print(f"  {at:7.3f} s {level:6.1f} {'#' * round(level)}")


if __name__ == "__main__":
    main()
