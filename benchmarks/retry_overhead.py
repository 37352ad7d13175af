"""Microseconds `call_with_retries` adds to a request that succeeds at once, and to one retry.

    PYTHONPATH=src python benchmarks/retry_overhead.py [--calls 20000] [--repeats 5]
    PYTHONPATH=src python benchmarks/retry_overhead.py --compare OTHER/src/stillroom/models/llms/resilience.py

With `--compare`, another copy of resilience.py (e.g. the main checkout's) is loaded beside
this one and both are timed alternately in the same run, so load on the machine hits both.
Figures: median (min to max) of `--repeats` runs; the sleep between attempts is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from types import ModuleType

from stillroom.models.llms import resilience


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("resilience_compared", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}: give the path of a resilience.py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def _no_sleep(seconds: float) -> None:
    return None


def _time_calls(module: ModuleType, calls: int, fail_once: bool) -> float:
    """Microseconds per `call_with_retries` whose attempt succeeds (after one 500 if asked)."""
    module._sleep = _no_sleep
    policy = module.RetryPolicy(max_retries=3, backoff=1.0, max_backoff=60.0)
    failure = module.failure_from_status(500)
    counter = module.RetryCounter()
    state = {"left": 0}

    async def attempt() -> int:
        if state["left"]:
            state["left"] -= 1
            raise module.FailedAttempt(failure)
        return 1

    def classify(error: BaseException) -> object:
        return error.failure if isinstance(error, module.FailedAttempt) else None

    def give_up(failure: object, attempts: int, reason: str) -> BaseException:
        return RuntimeError(reason)

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            state["left"] = 1 if fail_once else 0
            await module.call_with_retries(
                attempt,
                policy=policy,
                classify=classify,
                give_up=give_up,
                label="bench",
                counter=counter,
            )
        return (time.perf_counter() - start) / calls * 1e6

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare", help="path of another resilience.py to time alongside")
    args = parser.parse_args()

    modules = {"this checkout": resilience}
    if args.compare:
        modules["compared"] = _load(args.compare)
    figures: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, module in modules.items():
            for fail_once in (False, True):
                label = f"{name}, {'one retry' if fail_once else 'no retry'}"
                figures.setdefault(label, []).append(_time_calls(module, args.calls, fail_once))
    print(f"us per call_with_retries, {args.repeats} runs of {args.calls}: median (min to max)")
    for label, values in figures.items():
        print(
            f"{label:<28} {statistics.median(values):8.1f}  ({min(values):.1f} to {max(values):.1f})"
        )


if __name__ == "__main__":
    main()
