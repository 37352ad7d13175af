"""Engine throughput and memory with an in-process LLM of known latency.

Runs `LoadDataFromDicts >> TextGeneration(llm)` where the LLM sleeps a fixed or lognormal
latency per request (no network), with 50 requests in flight, and prints for each scenario:
rows/s, the physical limit (rows x mean latency / concurrency, the mean measured over the
latencies actually drawn in that run), their ratio, requests sent per row, and the peak RSS
of the process that ran it. Each scenario runs in a fresh subprocess with an empty cache, so
peak memory is per scenario and no reply comes from the cache.

The memory scenarios run 10,000 and 100,000 rows at 0 ms: with LoadDataFromDicts (its `data`
list holds every input row in memory, as the user gave them), with a generator that creates
rows on the fly (what the engine itself holds), and the latter writing Parquet (pyarrow's
import and first use account for most of the difference). Datasets are JSONL otherwise.

    python benchmarks/pipeline_mock_llm.py            # every scenario
    python benchmarks/pipeline_mock_llm.py --quick    # smaller sizes, for a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

from stillroom.models.llms.base import AsyncLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import GeneratorStep, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.typing import GeneratorStepOutput, StepColumns

CONCURRENCY = 50


class TimedLLM(AsyncLLM):
    """Answers after a fixed or lognormal delay; counts requests and the delays it drew."""

    mean_latency: float = 0.0
    sigma: float = 0.0
    seed: int = 0

    def load(self) -> None:
        self._random = random.Random(self.seed)
        self._requests = 0
        self._slept = 0.0

    @property
    def model_name(self) -> str:
        return "timed"

    def _delay(self) -> float:
        if self.sigma == 0:
            return self.mean_latency
        mu = math.log(self.mean_latency) - self.sigma**2 / 2
        return self._random.lognormvariate(mu, self.sigma)

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        delay = self._delay()
        self._requests += 1
        self._slept += delay
        if delay:
            await asyncio.sleep(delay)
        return {
            "generations": ["a short reply"] * num_generations,
            "statistics": {
                "input_tokens": [8] * num_generations,
                "output_tokens": [3] * num_generations,
            },
        }


class CountingRows(GeneratorStep):
    """`count` rows made on the fly, so the input data is never all in memory."""

    count: int

    @property
    def outputs(self) -> StepColumns:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        for start in range(offset, self.count, self.batch_size):
            end = min(start + self.batch_size, self.count)
            yield (
                [{"instruction": f"Question {i}: what is {i} + {i}?"} for i in range(start, end)],
                end >= self.count,
            )


def run_scenario(
    rows: int, latency: float, sigma: float, source: str, storage: str = "jsonl"
) -> dict[str, Any]:
    llm = TimedLLM(mean_latency=latency, sigma=sigma, max_concurrent_requests=CONCURRENCY)
    with (
        tempfile.TemporaryDirectory() as cache,
        Pipeline(name="bench", cache_dir=cache) as pipeline,
    ):
        if source == "dicts":
            load = LoadDataFromDicts(
                data=[{"instruction": f"Question {i}: what is {i} + {i}?"} for i in range(rows)]
            )
        else:
            load = CountingRows(count=rows)
        load >> TextGeneration(llm=llm)
        started = time.perf_counter()
        distiset = pipeline.run(use_cache=False, progress=False, storage_format=storage)
        elapsed = time.perf_counter() - started
        written = len(distiset["default"]["train"])
    mean = llm._slept / max(llm._requests, 1)
    limit_seconds = rows * mean / CONCURRENCY
    return {
        "rows": rows,
        "latency": latency,
        "sigma": sigma,
        "source": source,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "limit_rows_per_s": rows / limit_seconds if limit_seconds else None,
        "ratio": limit_seconds / elapsed if limit_seconds else None,
        "requests_per_row": llm._requests / rows,
        "rows_written": written,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


SCENARIOS: list[tuple[Any, ...]] = [
    ("fixed 0 ms", 5000, 0.0, 0.0, "dicts"),
    ("fixed 100 ms", 5000, 0.1, 0.0, "dicts"),
    ("lognormal mean 500 ms, sigma 1", 2000, 0.5, 1.0, "dicts"),
    ("memory: 10,000 rows, LoadDataFromDicts", 10_000, 0.0, 0.0, "dicts"),
    ("memory: 100,000 rows, LoadDataFromDicts", 100_000, 0.0, 0.0, "dicts"),
    ("memory: 10,000 rows, lazy generator", 10_000, 0.0, 0.0, "lazy"),
    ("memory: 100,000 rows, lazy generator", 100_000, 0.0, 0.0, "lazy"),
    ("memory: 10,000 rows, lazy, Parquet", 10_000, 0.0, 0.0, "lazy", "parquet"),
    ("memory: 100,000 rows, lazy, Parquet", 100_000, 0.0, 0.0, "lazy", "parquet"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--one", nargs=5, metavar=("ROWS", "LATENCY", "SIGMA", "SOURCE", "STORAGE"))
    args = parser.parse_args()
    if args.one:
        rows, latency, sigma, source, storage = args.one
        print(json.dumps(run_scenario(int(rows), float(latency), float(sigma), source, storage)))
        return
    print(f"{CONCURRENCY} requests in flight; each scenario in a fresh process\n")
    header = f"{'scenario':42} {'rows':>7} {'rows/s':>8} {'limit':>8} {'ratio':>6} {'req/row':>7} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for label, rows, latency, sigma, source, *storage in SCENARIOS:
        if args.quick:
            rows = max(rows // 10, 100)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(rows),
                str(latency),
                str(sigma),
                source,
                storage[0] if storage else "jsonl",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        limit = f"{result['limit_rows_per_s']:.0f}" if result["limit_rows_per_s"] else "-"
        ratio = f"{result['ratio']:.2f}" if result["ratio"] else "-"
        print(
            f"{label:42} {rows:>7} {result['rows_per_s']:>8.0f} {limit:>8} {ratio:>6} "
            f"{result['requests_per_row']:>7.2f} {result['peak_rss_mb']:>8.1f}"
        )
        if result["rows_written"] != rows:
            print(f"  !! {result['rows_written']} rows written, expected {rows}")


if __name__ == "__main__":
    main()
