"""`MockLLMServer`: an OpenAI- and Anthropic-compatible HTTP server for tests and benchmarks.

It is an `aiohttp.web` application (its routes and handlers in `endpoints.py`) listening on
127.0.0.1 only. It answers deterministically (see `replies`), with the latency, faults and
authentication its `MockServerConfig` asks for, and counts what it receives (see `stats`).
Run it in a background thread
(`with MockLLMServer() as server:`), on the current event loop (`async with` / `await start()`),
or in a child process (`start_server_process`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from stillroom.testing.config import MockServerConfig
from stillroom.testing.endpoints import MockEndpoints
from stillroom.testing.site import ArrivalSite
from stillroom.testing.stats import StatsSnapshot

HOST = "127.0.0.1"
"""The only address the server binds."""

STARTUP_TIMEOUT = 10.0
"""Seconds to wait for the server to start or stop before giving up."""

CANCEL_GRACE = 0.05
"""Seconds `stop()` lets requests in flight finish before cancelling them (aiohttp reads 0
as "wait forever", so a hung request would hold the server open)."""

MAX_HEADER_BYTES = 64 * 1024
"""Longest request line or header field accepted (aiohttp answers 400 beyond it)."""

SERVER_SETTINGS = ("idle_timeout", "max_body_bytes")
"""Options read when the server starts: `configure` refuses them while it runs."""

_T = TypeVar("_T")


class MockLLMServer(MockEndpoints):
    """A local OpenAI/Anthropic-compatible server with scripted latency and faults.

    Keyword options are the fields of `MockServerConfig` (`latency`, `rate_429`, `fail_first`,
    `api_key`, ...), applied on top of `config` when both are given; `port=0` picks a free port.
    """

    def __init__(
        self, config: MockServerConfig | None = None, *, port: int = 0, **options: Any
    ) -> None:
        super().__init__(MockServerConfig.from_options(config, **options))
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not running"
        return f"MockLLMServer({where}, {self._config!r})"

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on (raises if it is not running)."""
        if self._port is None:
            raise RuntimeError("The mock server is not running; start it first.")
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. "http://127.0.0.1:8123": the base URL for Anthropic clients."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL ending in /v1, for `openai.OpenAI(base_url=...)`."""
        return f"{self.url}/v1"

    # -- state -----------------------------------------------------------------------------

    @property
    def config(self) -> MockServerConfig:
        """The behaviour in force."""
        return self._config

    def configure(self, **options: Any) -> MockServerConfig:
        """Change behaviour while running (e.g. `configure(rate_500=1.0)` for an outage).

        `idle_timeout` and `max_body_bytes` belong to the listening socket: they can only be
        changed while the server is stopped (a `ValueError` says so otherwise).
        """
        new = MockServerConfig.from_options(self._config, **options)
        fixed = [n for n in SERVER_SETTINGS if getattr(new, n) != getattr(self._config, n)]
        if fixed and self._runner is not None:
            raise ValueError(
                f"{', '.join(fixed)} cannot change while the server runs; "
                "stop it, configure, and start it again"
            )
        self._config = new
        return new

    def stats(self, include_prompts: bool = True) -> StatsSnapshot:
        """A snapshot of the counters (safe to call from any thread)."""
        return self._on_loop(lambda: self._stats.snapshot(include_prompts))

    def reset(self) -> None:
        """Zero the counters and forget prompt attempts (so `fail_first` applies afresh)."""
        self._on_loop(self._stats.reset)

    def _on_loop(self, fn: Callable[[], _T]) -> _T:
        """Run `fn` on the server's loop, so counters are never read mid-update."""
        loop = self._loop
        if loop is None or not loop.is_running() or self._in_loop_thread(loop):
            return fn()

        async def call() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=STARTUP_TIMEOUT)

    @staticmethod
    def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    # -- running on the current event loop ----------------------------------------------------

    async def start(self) -> None:
        """Start listening on the running event loop."""
        if self._runner is not None:
            raise RuntimeError("The mock server is already running.")
        runner = web.AppRunner(
            self._application(),
            access_log=None,
            keepalive_timeout=self._config.idle_timeout,
            max_line_size=MAX_HEADER_BYTES,
            max_field_size=MAX_HEADER_BYTES,
            shutdown_timeout=CANCEL_GRACE,
            lingering_time=0,  # close at once after refusing a body instead of reading it
        )
        await runner.setup()
        try:
            site = ArrivalSite(runner, HOST, self._requested_port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._arrivals = site.arrivals
        self._loop = asyncio.get_running_loop()
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and close every open connection (hung requests included)."""
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        await asyncio.wait_for(runner.cleanup(), STARTUP_TIMEOUT)
        self._port = None
        self._loop = None

    async def __aenter__(self) -> MockLLMServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def serve_until(
        self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None
    ) -> None:
        """Start, call `on_ready`, serve until `stop` is set, then stop."""
        await self.start()
        try:
            if on_ready is not None:
                on_ready()
            await stop.wait()
        finally:
            await self.stop()

    # -- running in a background thread --------------------------------------------------------

    def __enter__(self) -> MockLLMServer:
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("The mock server is already running.")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name="MockLLMServer", daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout=STARTUP_TIMEOUT)
        except BaseException:
            self._thread.join(timeout=STARTUP_TIMEOUT)
            self._thread = None
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        thread, loop, stop = self._thread, self._loop, self._thread_stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=STARTUP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"The mock server thread did not stop within {STARTUP_TIMEOUT} s.")
        self._thread = None

    def _thread_main(self, ready: concurrent.futures.Future[None]) -> None:
        async def main() -> None:
            self._thread_stop = asyncio.Event()
            try:
                await self.serve_until(self._thread_stop, on_ready=lambda: ready.set_result(None))
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                else:
                    raise

        asyncio.run(main())
