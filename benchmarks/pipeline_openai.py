"""The pipeline against the mock OpenAI-compatible server: what the engine costs end to end.

Runs `LoadDataFromDicts >> TextGeneration(OpenAILLM(base_url=<mock server>))` with at most
`--concurrency` requests in flight, on the same scenarios, prompts and report as
`semaphore_baseline.py`, so the two can be compared line by line. The server runs in its own
process; each run uses a fresh cache directory, so every row is a real request.

    python benchmarks/pipeline_openai.py                         # every scenario
    python benchmarks/pipeline_openai.py --scenario zero --rows 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import NamedTuple

from scenarios import Result, Scenario, add_arguments, chosen, in_order_limit, peak_rss_mb, prompt

from stillroom.models import OpenAILLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import start_server_process


class PipelineRun(NamedTuple):
    """What `run_against` measured."""

    elapsed: float
    """Seconds `Pipeline.run` took."""
    cpu: float
    """CPU seconds this process used meanwhile (threads included)."""
    failures: int
    """Rows that failed."""
    engine: float
    """The run's own wall time: `Pipeline.run` less what it did after the last row."""
    rss_at_return_mb: float
    """Peak resident memory when `Pipeline.run` returned, before the Distiset was used."""
    first_use: float
    """Seconds the first `distiset["default"]` took: the Distiset's datasets are built then
    (`datasets` imported, the run's files turned into an Arrow file)."""


def run_against(
    base_url: str, prompts: list[str], concurrency: int, time_limit: float
) -> PipelineRun:
    """Run the pipeline on `prompts` against a server already listening at `base_url`, in a
    fresh cache directory, then check every row it wrote through its Distiset."""
    with tempfile.TemporaryDirectory() as cache:
        llm = OpenAILLM(
            model="mock-model",
            base_url=base_url,
            max_concurrent_requests=concurrency,
            timeout=time_limit,
            generation_kwargs={"max_new_tokens": 64},
        )
        with Pipeline(name="bench-openai", cache_dir=cache) as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": p} for p in prompts])
            load >> TextGeneration(llm=llm)
        started, cpu_started = time.perf_counter(), time.process_time()
        distiset = pipeline.run(use_cache=False, progress=False)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rss_at_return = peak_rss_mb()
        first_use_started = time.perf_counter()
        written = distiset["default"]["train"]
        first_use = time.perf_counter() - first_use_started
        failures = sum(1 for row in written if row["generation"] is None)
        if len(written) != len(prompts):
            raise SystemExit(f"{len(written)} rows written, expected {len(prompts)}")
        wrong = [
            row["instruction"]
            for row in written
            if row["generation"] is not None and row["generation"] != f"echo: {row['instruction']}"
        ]
        if wrong or [row["instruction"] for row in written] != prompts:
            raise SystemExit(f"rows out of order or with another row's reply: {wrong[:3]}")
        engine = distiset.summary.wall_time if distiset.summary is not None else elapsed
    return PipelineRun(elapsed, cpu, failures, engine, rss_at_return, first_use)


def run(scenario: Scenario, rows: int, concurrency: int, time_limit: float) -> Result:
    """One measured pipeline run of `rows` rows against a fresh server process."""
    prompts = [prompt(r) for r in range(rows)]
    with start_server_process(**scenario.server_options) as server:
        measured = run_against(server.base_url, prompts, concurrency, time_limit)
        elapsed, failures = measured.elapsed, measured.failures
        stats = server.stats(include_prompts=False)
    if stats.max_in_flight > concurrency:
        raise SystemExit(
            f"the server saw {stats.max_in_flight} requests in flight, over {concurrency}"
        )
    return Result(
        label="pipeline (OpenAILLM)",
        scenario=scenario,
        rows=rows,
        concurrency=concurrency,
        elapsed=elapsed,
        server_mean_latency=stats.mean_latency,
        client_mean_latency=float("nan"),
        requests_sent=stats.requests_total,
        failures=failures,
        peak_rss_mb=peak_rss_mb(),
        in_order_limit_seconds=in_order_limit(scenario, prompts, concurrency),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args()
    for scenario in chosen(args):
        result = run(scenario, args.rows or scenario.rows, args.concurrency, args.time_limit)
        print(result.report(), flush=True)


if __name__ == "__main__":
    main()
