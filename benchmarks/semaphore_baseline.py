"""The reference an LLM pipeline is measured against: a plain asyncio client and a semaphore.

N chat completion requests (one per row, each a distinct prompt) go to the mock server,
which runs in its own process, with at most `--concurrency` in flight (an asyncio
semaphore). Nothing else happens: no steps, no queues, no cache. A pipeline engine is doing
well when it gets close to this on the same scenario.

`--client httpx` (the default) posts with a bare `httpx.AsyncClient`, `--client aiohttp`
with a bare `aiohttp.ClientSession` (the default transport of the HTTP backends); `--client
openai` uses `openai.AsyncOpenAI`, so the SDK's own overhead can be told apart.

    python benchmarks/semaphore_baseline.py                      # every scenario
    python benchmarks/semaphore_baseline.py --scenario zero --rows 20000 --client openai
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from scenarios import Result, Scenario, add_arguments, chosen, in_order_limit, peak_rss_mb, prompt

from stillroom.testing import start_server_process

REQUEST_TIMEOUT = 60.0
"""Seconds one request may take before it counts as failed."""

Send = Callable[[dict[str, Any]], Awaitable[bool]]
"""Sends one chat completion body; True when a reply text came back."""


def _body(row: int) -> dict[str, Any]:
    return {
        "model": "mock-model",
        "messages": [{"role": "user", "content": prompt(row)}],
        "max_tokens": 64,
    }


# Each client library is imported only when used, so the peak memory reported is its own.


@contextlib.asynccontextmanager
async def _httpx_sender(base_url: str, concurrency: int) -> AsyncIterator[Send]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT
    ) as client:

        async def send(body: dict[str, Any]) -> bool:
            try:
                response = await client.post("/chat/completions", json=body)
                response.raise_for_status()
                response.json()["choices"][0]["message"]["content"]
            except (httpx.HTTPError, KeyError, ValueError):
                return False
            return True

        yield send


@contextlib.asynccontextmanager
async def _aiohttp_sender(base_url: str, concurrency: int) -> AsyncIterator[Send]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        url = f"{base_url}/chat/completions"

        async def send(body: dict[str, Any]) -> bool:
            try:
                async with session.post(url, json=body) as response:
                    response.raise_for_status()
                    (await response.json())["choices"][0]["message"]["content"]
            except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError):
                return False
            return True

        yield send


@contextlib.asynccontextmanager
async def _openai_sender(base_url: str, concurrency: int) -> AsyncIterator[Send]:
    import openai

    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="dummy", max_retries=0, timeout=REQUEST_TIMEOUT
    ) as client:

        async def send(body: dict[str, Any]) -> bool:
            try:
                reply = await client.chat.completions.create(**body)
            except openai.APIError:
                return False
            return reply.choices[0].message.content is not None

        yield send


SENDERS = {"httpx": _httpx_sender, "aiohttp": _aiohttp_sender, "openai": _openai_sender}


async def send_all(
    client: str, base_url: str, rows: int, concurrency: int
) -> tuple[float, list[float], int]:
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures = 0

    async with SENDERS[client](base_url, concurrency) as send:

        async def one(row: int) -> None:
            nonlocal failures
            async with semaphore:
                start = time.perf_counter()
                if not await send(_body(row)):
                    failures += 1
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(one(row) for row in range(rows)))
        elapsed = time.perf_counter() - start
    return elapsed, latencies, failures


def run(scenario: Scenario, client: str, rows: int, concurrency: int, time_limit: float) -> Result:
    """One measured run of `rows` requests against a fresh server process."""
    with start_server_process(**scenario.server_options) as server:
        elapsed, latencies, failures = asyncio.run(
            asyncio.wait_for(send_all(client, server.base_url, rows, concurrency), time_limit)
        )
        stats = server.stats(include_prompts=False)
    if stats.max_in_flight > concurrency:
        raise SystemExit(
            f"the server saw {stats.max_in_flight} requests in flight, over {concurrency}"
        )
    return Result(
        label=f"semaphore baseline ({client})",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument(
        "--client", choices=sorted(SENDERS), default="httpx", help="HTTP client to send with"
    )
    args = parser.parse_args()
    for scenario in chosen(args):
        result = run(
            scenario, args.client, args.rows or scenario.rows, args.concurrency, args.time_limit
        )
        print(result.report(), flush=True)


if __name__ == "__main__":
    main()
