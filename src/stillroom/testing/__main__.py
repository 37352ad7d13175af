"""Command line: `python -m stillroom.testing --port 0 --latency 0.1 ...`.

Prints the server's OpenAI base URL (http://127.0.0.1:<port>/v1) as its only line on stdout,
then serves until SIGINT/SIGTERM (or, with --exit-on-stdin-eof, until its stdin closes, which
is how `start_server_process` makes sure a server never outlives the process that started it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Sequence

from stillroom.testing.config import add_config_arguments, config_from_arguments
from stillroom.testing.server import MockLLMServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stillroom.testing",
        description="A mock OpenAI/Anthropic-compatible LLM server on 127.0.0.1, for tests and benchmarks.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin is closed (the parent process ended)",
    )
    add_config_arguments(parser)
    return parser


async def _serve(server: MockLLMServer, exit_on_stdin_eof: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:

        def watch_stdin() -> None:
            sys.stdin.buffer.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    await server.serve_until(stop, on_ready=lambda: print(server.base_url, flush=True))


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_arguments(args)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_serve(MockLLMServer(config, port=args.port), args.exit_on_stdin_eof))


if __name__ == "__main__":
    main()
