"""Client CPU per row of each layer of the hot path, with no socket and no server.

`hot_path.py` measures the pipeline against a bare aiohttp loop over real sockets, where
both clients share the machine with the server and wall time moves with any other load.
This script takes the network away to show where the pipeline's own CPU goes: every
request is answered by an in-memory session (the `HttpSession` seam of
`models/llms/transport.py`, put in place of aiohttp's in this process only) that decodes
the body, builds the mock server's echo reply and yields to the loop once. Three clients
send the same prompts, 50 in flight, each in a fresh process:

- `bare`: an `asyncio.Semaphore`, `json.dumps` of the body, the session, `json.loads` of the
  reply: what `semaphore_baseline.py`'s aiohttp loop does, less aiohttp;
- `llm`: `OpenAILLM.agenerate_result` called by the same loop: the LLM layer (settings,
  body, retries, timeout, concurrency slot, reply parsing);
- `pipeline`: `Pipeline.run` of `LoadDataFromDicts >> TextGeneration(OpenAILLM)` as in
  `pipeline_openai.py`: the engine, the task and the request cache on top.

Each line is the median [range] of `--runs` measurements of `time.process_time()` per row
(threads included); the differences between lines are what each layer costs. Other load on
the machine inflates every figure alike, so compare lines of one run.

    python benchmarks/hot_path_layers.py                 # 10,000 rows, 3 runs
    python benchmarks/hot_path_layers.py --rows 20000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scenarios import prompt

LAYERS = ("bare", "llm", "pipeline")
CONCURRENCY = 50
URL = "http://127.0.0.1:9/v1"  # never connected to
HEADERS = {"Content-Type": "application/json"}


def install_memory_session() -> None:
    """Answer every request of this process in memory, as the mock server would."""
    from stillroom.models.llms import transport
    from stillroom.models.llms.transport import HttpSession, Reply

    class MemorySession(HttpSession):
        def __init__(self, pool_size: int = 0) -> None:
            pass

        async def send(
            self, method: str, url: str, headers: Any, body: bytes, timeout: float | None = None
        ) -> Reply:
            request = json.loads(body)
            text = "echo: " + request["messages"][-1]["content"]
            reply = {
                "id": "memory",
                "object": "chat.completion",
                "created": 0,
                "model": request["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            }
            await asyncio.sleep(0)
            return Reply(200, HEADERS, json.dumps(reply).encode(), "OK")

        async def aclose(self) -> None:
            pass

    transport.SESSIONS["aiohttp"] = MemorySession


def measure(layer: str, rows: int) -> float:
    """CPU seconds per row of one layer, in this process."""
    install_memory_session()
    prompts = [prompt(r) for r in range(rows)]
    if layer == "pipeline":
        from pipeline_openai import run_against

        measured = run_against(URL, prompts, CONCURRENCY, 300.0)
        cpu, failures = measured.cpu, measured.failures
        if failures:
            raise SystemExit(f"{failures} rows failed")
        return cpu / rows
    if layer == "llm":
        from stillroom.models import OpenAILLM

        llm = OpenAILLM(
            model="mock-model",
            base_url=URL,
            api_key="none",
            max_concurrent_requests=CONCURRENCY,
            generation_kwargs={"max_new_tokens": 64},
        )
        llm.load()

        async def send(text: str) -> None:
            result = await llm.agenerate_result([{"role": "user", "content": text}])
            if isinstance(result, BaseException):
                raise result
    else:
        from stillroom.models.llms.transport import SESSIONS

        session = SESSIONS["aiohttp"](CONCURRENCY)

        async def send(text: str) -> None:
            body = {"model": "mock-model", "messages": [{"role": "user", "content": text}]}
            reply = await session.send("POST", URL, HEADERS, json.dumps(body).encode())
            json.loads(reply.body)["choices"][0]["message"]["content"]

    async def send_all() -> None:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(text: str) -> None:
            async with semaphore:
                await send(text)

        await asyncio.gather(*(one(text) for text in prompts))

    started = time.process_time()
    asyncio.run(send_all())
    return (time.process_time() - started) / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per measurement")
    parser.add_argument("--runs", type=int, default=3, help="measurements of each layer")
    parser.add_argument("--child", choices=LAYERS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.rows)), flush=True)
        return
    figures: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    for _ in range(args.runs):
        for layer in LAYERS:  # interleaved, each in a fresh process
            command = [sys.executable, str(Path(__file__).resolve()), "--child", layer]
            done = subprocess.run(
                [*command, "--rows", str(args.rows)], capture_output=True, text=True, check=True
            )
            figures[layer].append(json.loads(done.stdout.strip().splitlines()[-1]) * 1e6)
    print(f"client CPU per row, {args.rows} rows, {args.runs} runs, {CONCURRENCY} in flight")
    previous = None
    for layer in LAYERS:
        values = figures[layer]
        median = statistics.median(values)
        added = f"  (+{median - previous:,.1f} over the line above)" if previous else ""
        print(f"{layer:<9} {median:8,.1f} us  [{min(values):,.1f} - {max(values):,.1f}]{added}")
        previous = median


if __name__ == "__main__":
    main()
