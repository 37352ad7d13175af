"""`MockLLMServer`: an OpenAI- and Anthropic-compatible HTTP server for tests and benchmarks.

It listens on 127.0.0.1 only and answers deterministically (see `replies`), with the latency,
faults and authentication its `MockServerConfig` asks for, and counts what it receives (see
`stats`). Run it in a background thread (`with MockLLMServer() as server:`), on the current
event loop (`async with` / `await start()`), or in a child process (`start_server_process`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from stillroom.testing import draws
from stillroom.testing.config import MockServerConfig
from stillroom.testing.dialects import (
    AnthropicMessages,
    BadRequest,
    Dialect,
    OpenAIChat,
    OpenAICompletions,
)
from stillroom.testing.http import (
    MAX_HEADER_BYTES,
    ProtocolError,
    Request,
    encode_response,
    json_bytes,
    read_request,
)
from stillroom.testing.json_schema import SchemaError
from stillroom.testing.replies import StructuredStage, build_generations, prompt_key
from stillroom.testing.stats import ServerStats, StatsSnapshot

HOST = "127.0.0.1"
"""The only address the server binds."""

STARTUP_TIMEOUT = 10.0
"""Seconds to wait for the server to start or stop before giving up."""

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")
Handler = Callable[[Request], Awaitable[bytes | None]]


class MockLLMServer:
    """A local OpenAI/Anthropic-compatible server with scripted latency and faults.

    Keyword options are the fields of `MockServerConfig` (`latency`, `rate_429`, `fail_first`,
    `api_key`, ...), applied on top of `config` when both are given; `port=0` picks a free port.
    """

    def __init__(
        self, config: MockServerConfig | None = None, *, port: int = 0, **options: Any
    ) -> None:
        self._config = MockServerConfig.from_options(config, **options)
        self._requested_port = port
        self._port: int | None = None
        self._stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._reply_ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None
        chat, completions, messages = OpenAIChat(), OpenAICompletions(), AnthropicMessages()
        self._routes: dict[str, dict[str, Handler]] = {
            chat.path: {"POST": lambda r: self._llm(r, chat)},
            completions.path: {"POST": lambda r: self._llm(r, completions)},
            messages.path: {"POST": lambda r: self._llm(r, messages)},
            "/v1/models": {"GET": self._models},
            "/_stats": {"GET": self._get_stats},
            "/_reset": {"POST": self._post_reset},
            "/_config": {"GET": self._get_config, "POST": self._post_config},
        }

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
        """Change behaviour while running (e.g. `configure(rate_500=1.0)` for an outage)."""
        new = MockServerConfig.from_options(self._config, **options)
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
        if self._server is not None:
            raise RuntimeError("The mock server is already running.")
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._handle_connection,
            host=HOST,
            port=self._requested_port,
            limit=MAX_HEADER_BYTES,
            backlog=1024,
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every open connection (hung requests included)."""
        server = self._server
        if server is None:
            return
        self._server = None
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=STARTUP_TIMEOUT)
        await asyncio.wait_for(server.wait_closed(), STARTUP_TIMEOUT)
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
        if self._thread is not None or self._server is not None:
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

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._stats.connections += 1
        transport = writer.transport
        loop = asyncio.get_running_loop()
        try:
            while True:
                idle = loop.call_later(self._config.idle_timeout, transport.close)
                try:
                    request = await read_request(reader, self._config.max_body_bytes)
                except ProtocolError as exc:
                    body = json_bytes(
                        {"error": {"message": exc.message, "type": "invalid_request_error"}}
                    )
                    writer.write(encode_response(exc.status, body, keep_alive=False))
                    break
                finally:
                    idle.cancel()
                if request is None:
                    break
                response = await self._respond(request)
                if response is None:
                    transport.abort()
                    break
                writer.write(response)
                await writer.drain()
                if not request.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            if not transport.is_closing():
                transport.close()

    async def _respond(self, request: Request) -> bytes | None:
        methods = self._routes.get(request.path)
        if methods is None:
            return self._plain_error(request, 404, f"no route for {request.method} {request.path}")
        handler = methods.get(request.method)
        if handler is None:
            allowed = ", ".join(methods)
            return self._plain_error(
                request, 405, f"{request.path} accepts {allowed}, not {request.method}"
            )
        try:
            return await handler(request)
        except Exception as exc:  # a bug here must still give the client an answer
            _logger.exception("The mock server failed on %s %s", request.method, request.path)
            return self._plain_error(
                request, 500, f"mock server error: {type(exc).__name__}: {exc}"
            )

    @staticmethod
    def _plain_error(request: Request, status: int, message: str) -> bytes:
        body = OpenAIChat().error(status, message)
        return encode_response(status, json_bytes(body), keep_alive=request.keep_alive)

    @staticmethod
    def _json(request: Request, payload: Any, status: int = 200) -> bytes:
        return encode_response(status, json_bytes(payload), keep_alive=request.keep_alive)

    # -- LLM endpoints -------------------------------------------------------------------------

    async def _llm(self, request: Request, dialect: Dialect) -> bytes | None:
        stats = self._stats
        stats.count_request(dialect.endpoint)
        stats.enter()
        try:
            return await self._llm_reply(request, dialect, self._config)
        finally:
            stats.leave()

    async def _llm_reply(
        self, request: Request, dialect: Dialect, config: MockServerConfig
    ) -> bytes | None:
        stats = self._stats

        def error(status: int, message: str, headers: dict[str, str] | None = None) -> bytes:
            stats.count_error(status)
            body = json_bytes(dialect.error(status, message))
            return encode_response(
                status, body, keep_alive=request.keep_alive, extra_headers=headers
            )

        try:
            llm_request = dialect.parse(json.loads(request.body))
        except ValueError:
            return error(400, "the request body is not valid JSON")
        except BadRequest as exc:
            return error(400, str(exc))
        key = prompt_key(llm_request.messages)
        attempt = stats.count_attempt(key)
        if config.api_key is not None and not dialect.authorized(request.headers, config.api_key):
            return error(401, "invalid or missing API key")
        try:
            dialect.check_headers(request.headers)
        except BadRequest as exc:
            return error(400, str(exc))
        if config.reject_n and llm_request.n > 1:
            return error(400, f"'n' must be 1 on this server, got {llm_request.n}")

        delay = draws.latency(config, key, attempt)
        stats.latency_total += delay
        stats.latency_count += 1
        if delay > 0:
            await asyncio.sleep(delay)

        fault = (
            config.fail_with
            if attempt <= config.fail_first
            else draws.random_fault(config, key, attempt)
        )
        if fault == "hang":
            stats.hangs += 1
            await asyncio.sleep(config.hang_seconds)
            return None
        if fault == "crash":
            stats.crashes += 1
            return None
        if fault is not None:
            status = int(fault)
            headers = None
            if status == 429 and config.retry_after is not None:
                headers = {"retry-after": f"{config.retry_after:g}"}
            return error(
                status, f"mock fault {status} on attempt {attempt} of this prompt", headers
            )

        stage: StructuredStage = "valid"
        if llm_request.structured is not None:
            replies = stats.count_reply(key)
            if replies <= config.malformed_json_first:
                stage = "malformed"
            elif replies <= config.malformed_json_first + config.invalid_json_first:
                stage = "invalid"
        try:
            generations = build_generations(llm_request, config.reply, attempt, stage)
        except SchemaError as exc:
            return error(400, f"cannot produce a value for the requested schema: {exc}")
        except Exception as exc:
            _logger.exception("The mock server's reply function failed")
            return error(500, f"the reply function raised {type(exc).__name__}: {exc}")

        payload = dialect.render(llm_request, generations, f"mock{next(self._reply_ids)}")
        stats.successes += 1
        stats.generations += len(generations)
        stats.prompt_tokens += llm_request.prompt_tokens
        stats.completion_tokens += sum(g.tokens for g in generations)
        return self._json(request, payload)

    async def _models(self, request: Request) -> bytes:
        api_key = self._config.api_key
        if api_key is not None and not OpenAIChat.authorized(request.headers, api_key):
            return self._plain_error(request, 401, "invalid or missing API key")
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "stillroom"}
            for m in self._config.models
        ]
        return self._json(request, {"object": "list", "data": data})

    # -- admin endpoints -------------------------------------------------------------------------

    async def _get_stats(self, request: Request) -> bytes:
        include_prompts = request.query.get("prompts", "1").lower() not in ("0", "false", "no")
        return self._json(request, self._stats.snapshot(include_prompts).as_dict())

    async def _post_reset(self, request: Request) -> bytes:
        self._stats.reset()
        return self._json(request, {"reset": True})

    async def _get_config(self, request: Request) -> bytes:
        return self._json(request, self._config.public_dict())

    async def _post_config(self, request: Request) -> bytes:
        try:
            options = json.loads(request.body or b"{}")
            if not isinstance(options, dict):
                raise ValueError("the body must be a JSON object of options")
            config = self.configure(**options)
        except (TypeError, ValueError) as exc:
            return self._plain_error(request, 400, str(exc))
        return self._json(request, config.public_dict())
