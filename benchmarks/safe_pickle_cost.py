"""What writing and reading saved state safely costs: `pickle` against `utils/safe_pickle.py`
(and, with `--before SRC`, the `safe_pickle.py` of another source tree) on the batches a
checkpoint holds (rows like a text-generation step's, with metadata, and rows with
datetimes, tuples, bytes and numpy vectors), interleaved, medians and ranges in MB/s and
rows/s.

    PYTHONPATH=src python benchmarks/safe_pickle_cost.py --rounds 15
    git archive <rev> src | tar -x -C /tmp/before
    PYTHONPATH=src python benchmarks/safe_pickle_cost.py --before /tmp/before/src
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

from stillroom.pipeline.batch import Batch
from stillroom.utils import safe_pickle

Version = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]


def _versions(before: str | None) -> dict[str, Version]:
    versions: dict[str, Version] = {
        "pickle": (lambda o: pickle.dumps(o, protocol=5), pickle.loads),
        "safe_pickle": (safe_pickle.dumps, lambda d: safe_pickle.loads(d, "benchmark")),
    }
    if before:
        path = f"{before}/stillroom/utils/safe_pickle.py"
        spec = importlib.util.spec_from_file_location("safe_pickle_before", path)
        assert spec and spec.loader, path
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
        versions["before"] = (old.dumps, lambda d: old.loads(d, "benchmark"))
    return versions


def text_rows(batch: int) -> list[dict[str, Any]]:
    return [
        {
            "instruction": f"Write a short story about the number {i}. " * 4,
            "generation": f"Once upon a time there was {i}. " * 30,
            "model_name": "gpt-4o-mini",
            "stillroom_metadata": {
                "raw_output_text_generation_0": f"Once upon a time there was {i}. " * 30,
                "raw_input_text_generation_0": [{"role": "user", "content": f"story {i}"}],
                "statistics_text_generation_0": {"input_tokens": [40], "output_tokens": [210]},
            },
        }
        for i in range(batch)
    ]


def typed_rows(batch: int) -> list[dict[str, Any]]:
    import numpy as np

    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return [
        {
            "text": f"row {i}",
            "when": start + dt.timedelta(seconds=i),
            "pair": (i, f"{i}"),
            "raw": bytes(range(32)),
            "vector": np.random.default_rng(i).random(256, dtype=np.float32),
        }
        for i in range(batch)
    ]


def measure(
    batches: list[Batch], dumps: Callable[[Any], bytes], loads: Callable[[bytes], Any]
) -> tuple[float, float, int]:
    started = time.perf_counter()
    data = [dumps(batch) for batch in batches]
    dumped = time.perf_counter() - started
    started = time.perf_counter()
    for item in data:
        loads(item)
    return dumped, time.perf_counter() - started, sum(map(len, data))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--before", help="a source tree whose safe_pickle.py to compare")
    args = parser.parse_args()
    versions = _versions(args.before)
    for kind, make in (("text rows", text_rows), ("typed rows + numpy", typed_rows)):
        batches = [Batch(i, i, make(args.batch_size)) for i in range(args.batches)]
        rows = args.batches * args.batch_size
        times: dict[str, dict[str, list[float]]] = {v: {"dump": [], "load": []} for v in versions}
        size = 0
        for round_ in range(args.rounds):
            order = (
                list(versions)[round_ % len(versions) :] + list(versions)[: round_ % len(versions)]
            )
            for name in order:
                dumped, loaded, size = measure(batches, *versions[name])
                times[name]["dump"].append(dumped)
                times[name]["load"].append(loaded)
        print(f"{kind}: {rows} rows in {args.batches} batches, {size / 1e6:.1f} MB pickled")
        for name, spent in times.items():
            for what, values in spent.items():
                rates = sorted(rows / v for v in values)
                print(
                    f"  {name:12} {what}: {statistics.median(rates):>10,.0f} rows/s "
                    f"({rates[0]:,.0f}-{rates[-1]:,.0f}), "
                    f"{size / 1e6 / statistics.median(values):,.0f} MB/s"
                )


if __name__ == "__main__":
    main()
