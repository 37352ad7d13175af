"""How many requests per second the mock LLM server answers (at 0 ms latency by default).

The server runs in its own process (`start_server_process`); the load comes from a raw
asyncio client in this process that keeps `--connections` keep-alive connections busy, each
sending chat completion requests one after another. The client is kept minimal (no HTTP
library) so that it, not the server, is as cheap as possible; the figure is therefore a lower
bound of the server's capacity on this machine (client and server share its cores).

    python benchmarks/mock_server_throughput.py --requests 20000 --connections 50
    python benchmarks/mock_server_throughput.py --requests 5000 --latency 0.1   # vs the limit
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from stillroom.testing import start_server_process


def _request_bytes(port: int, i: int) -> bytes:
    body = json.dumps(
        {
            "model": "mock-model",
            "messages": [{"role": "user", "content": f"row {i}: say something"}],
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(port: int, jobs: list[int], deadline: float, failures: list[int]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        for i in jobs:
            if time.monotonic() > deadline:
                break
            writer.write(_request_bytes(port, i))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != 200:
                failures.append(status)
            done += 1
    finally:
        writer.close()
    return done


async def _run(port: int, requests: int, connections: int, time_limit: float) -> tuple[int, float]:
    deadline = time.monotonic() + time_limit
    failures: list[int] = []
    jobs = [list(range(c, requests, connections)) for c in range(connections)]
    start = time.perf_counter()
    counts = await asyncio.gather(*(_connection(port, j, deadline, failures) for j in jobs))
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. status {failures[0]}")
    return sum(counts), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.0, help="server latency in seconds")
    parser.add_argument(
        "--time-limit", type=float, default=120.0, help="stop sending after this many seconds"
    )
    args = parser.parse_args()

    with start_server_process(latency=args.latency) as server:
        asyncio.run(
            _run(server.port, min(args.requests, 1000), args.connections, args.time_limit)
        )  # warm-up
        server.reset()
        done, elapsed = asyncio.run(
            _run(server.port, args.requests, args.connections, args.time_limit)
        )
        stats = server.stats(include_prompts=False)
    print(f"requests         {done}")
    print(f"connections      {args.connections} (server accepted {stats.connections})")
    print(f"elapsed          {elapsed:.2f} s")
    print(f"throughput       {done / elapsed:,.0f} requests/s")
    print(f"server counted   {stats.successes} successes, max {stats.max_in_flight} in flight")
    if args.latency:
        limit = args.connections / args.latency
        print(f"physical limit   {limit:,.0f} requests/s (ratio {done / elapsed / limit:.3f})")


if __name__ == "__main__":
    main()
