"""What `OpenAILLM` itself costs: `agenerate` called directly, with no pipeline around it.

The mock server runs in its own process. `--concurrency` workers (50 by default) each take the
next row, await `llm.agenerate(...)` for it and take another, so exactly `--concurrency`
requests are in flight and the LLM's own `max_concurrent_requests` (set to the same number)
never makes one wait. Whatever separates the figures from the semaphore baseline is the cost
of the LLM layer: settings, retries, the HTTP transport, parsing the reply. The report adds the
client's CPU time per row, which other load on the machine disturbs less than wall time.

    python benchmarks/openai_client.py                                   # every scenario
    python benchmarks/openai_client.py --scenario zero --transport httpx
"""

from __future__ import annotations

import argparse
import asyncio
import time

from scenarios import Result, Scenario, add_arguments, chosen, in_order_limit, peak_rss_mb, prompt

from stillroom.models.llms.openai import OpenAILLM
from stillroom.testing import start_server_process


async def _generate_all(
    llm: OpenAILLM, rows: int, concurrency: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    pending = iter(range(rows))

    async def worker() -> None:
        nonlocal failures
        for row in pending:
            start = time.perf_counter()
            result = await llm.agenerate_result([{"role": "user", "content": prompt(row)}])
            latencies.append(time.perf_counter() - start)
            if isinstance(result, BaseException) or result["generations"][0] is None:
                failures += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, failures


def run(
    scenario: Scenario, transport: str, rows: int, concurrency: int, time_limit: float
) -> tuple[Result, float]:
    """One measured run of `rows` requests against a fresh server process, and the client's
    CPU seconds per row."""
    with start_server_process(**scenario.server_options) as server:
        llm = OpenAILLM(
            model="mock-model",
            base_url=server.base_url,
            api_key="dummy",
            max_concurrent_requests=concurrency,
            http_transport=transport,
            generation_kwargs={"max_new_tokens": 64},
        )
        llm.load()
        cpu_start = time.process_time()
        try:
            elapsed, latencies, failures = asyncio.run(
                asyncio.wait_for(_generate_all(llm, rows, concurrency), time_limit)
            )
        finally:
            cpu = time.process_time() - cpu_start
            llm.unload()
        stats = server.stats(include_prompts=False)
    if stats.max_in_flight > concurrency:
        raise SystemExit(
            f"the server saw {stats.max_in_flight} requests in flight, over {concurrency}"
        )
    result = Result(
        label=f"OpenAILLM.agenerate ({transport} transport)",
        scenario=scenario,
        rows=rows,
        concurrency=concurrency,
        elapsed=elapsed,
        server_mean_latency=stats.mean_latency,
        client_mean_latency=sum(latencies) / len(latencies),
        requests_sent=stats.requests_total,
        failures=failures,
        peak_rss_mb=peak_rss_mb(),
        in_order_limit_seconds=in_order_limit(
            scenario, [prompt(r) for r in range(rows)], concurrency
        ),
    )
    return result, cpu / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument(
        "--transport",
        choices=["aiohttp", "httpx"],
        default="aiohttp",
        help="OpenAILLM's http_transport (default: aiohttp)",
    )
    args = parser.parse_args()
    for scenario in chosen(args):
        result, cpu_per_row = run(
            scenario, args.transport, args.rows or scenario.rows, args.concurrency, args.time_limit
        )
        print(result.report(), flush=True)
        print(f"client CPU per row   {cpu_per_row * 1e6:.0f} us", flush=True)


if __name__ == "__main__":
    main()
