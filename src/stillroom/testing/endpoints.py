"""The mock server's HTTP side: its routes and what each endpoint answers.

`MockEndpoints` builds the `aiohttp.web` application: the LLM endpoints of every dialect
(`dialects/`), with the configured latency, faults and key check; OpenAI's embeddings,
images and models; the batch APIs (`batches.py`); and the admin endpoints (`/_stats`,
`/_reset`, `/_config`). `MockLLMServer` (`server.py`) adds where and how it runs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from stillroom.testing import draws
from stillroom.testing.batches import MockBatches
from stillroom.testing.config import MockServerConfig
from stillroom.testing.dialects import (
    OPENAI_SERVERS,
    AnthropicMessages,
    BadRequest,
    CohereChat,
    Dialect,
    GeminiGenerateContent,
    OllamaChat,
    OllamaGenerate,
    OpenAIChat,
    OpenAICompletions,
    TGIGenerate,
    TGIGenerateRoute,
)
from stillroom.testing.embeddings import embeddings_reply, parse_embeddings_request
from stillroom.testing.images import (
    image_of,
    images_reply,
    parse_images_request,
    parse_text_to_image_request,
)
from stillroom.testing.json_schema import SchemaError
from stillroom.testing.replies import (
    Generation,
    LLMRequest,
    StructuredStage,
    build_generations,
    prompt_key,
)
from stillroom.testing.stats import ServerStats

_logger = logging.getLogger("stillroom.testing.server")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_bytes(payload: Any) -> bytes:
    """Compact JSON encoding used for every response body."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json_bytes(payload), status=status, headers=headers, content_type="application/json"
    )


@dataclass(frozen=True, slots=True)
class _Refusal:
    """An error answer decided while building a reply (its status and message)."""

    status: int
    message: str


def _fault_headers(config: MockServerConfig, status: int) -> dict[str, str] | None:
    """A scripted 429's `Retry-After`, when the configuration gives one."""
    if status == 429 and config.retry_after is not None:
        return {"retry-after": f"{config.retry_after:g}"}
    return None


class MockEndpoints(ABC):
    """The application and its handlers, over the server's configuration and counters."""

    def __init__(self, config: MockServerConfig) -> None:
        self._config = config
        self._stats = ServerStats()
        self._seen_transports: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._reply_ids = itertools.count(1)
        self._arrivals: dict[Any, float] = {}
        """When each connection's last bytes arrived (`site.ArrivalSite`), by `request.protocol`."""
        self.batches = MockBatches(lambda: self._config)
        """The batch APIs' state and `counters` (files uploaded, batches created, polls)."""

    @property
    @abstractmethod
    def url(self) -> str:
        """Root URL of the running server (image replies link to it)."""

    @abstractmethod
    def configure(self, **options: Any) -> MockServerConfig:
        """Change behaviour while running (what `POST /_config` does)."""

    # -- HTTP --------------------------------------------------------------------------------

    def _application(self) -> web.Application:
        app = web.Application(
            middlewares=[self._json_errors], client_max_size=self._config.max_body_bytes
        )
        for dialect in (OpenAIChat(), OpenAICompletions(), AnthropicMessages()):
            app.router.add_post(dialect.path, self._llm_handler(dialect))
        native: tuple[Dialect, ...] = (
            TGIGenerate(),
            TGIGenerateRoute(),
            OllamaChat(),
            OllamaGenerate(),
            CohereChat(),
            GeminiGenerateContent(),
        )
        for served in native:
            app.router.add_post(served.path, self._llm_handler(served))
        self.batches.add_routes(app)
        app.router.add_get("/v1/models", self._models, allow_head=False)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_get(r"/_images/{index:\d+}.png", self._image_file, allow_head=False)
        app.router.add_post("/hf-inference/models/{model:.+}", self._text_to_image)
        app.router.add_get("/_stats", self._get_stats, allow_head=False)
        app.router.add_post("/_reset", self._post_reset)
        app.router.add_get("/_config", self._get_config, allow_head=False)
        app.router.add_post("/_config", self._post_config)
        return app

    def _count_connection(self, request: web.Request) -> None:
        """Count the request's connection the first time one of its requests arrives."""
        transport = request.transport
        if transport is not None and transport not in self._seen_transports:
            self._seen_transports.add(transport)
            self._stats.connections += 1

    @web.middleware
    async def _json_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer routing errors and server bugs in OpenAI's JSON error format."""
        self._count_connection(request)
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.allowed_methods))
            message = f"{request.path} accepts {allowed}, not {request.method}"
            return self._plain_error(exc.status, message)
        except web.HTTPException as exc:
            if exc.status == 404:
                return self._plain_error(404, f"no route for {request.method} {request.path}")
            return self._plain_error(exc.status, exc.text or exc.reason)
        except Exception as exc:  # a bug here must still give the client an answer
            _logger.exception("The mock server failed on %s %s", request.method, request.path)
            return self._plain_error(500, f"mock server error: {type(exc).__name__}: {exc}")

    @staticmethod
    def _plain_error(status: int, message: str) -> web.Response:
        return _json_response(OpenAIChat().error(status, message), status)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Abort the connection; aiohttp then skips writing the (empty) response."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response()

    # -- LLM endpoints -------------------------------------------------------------------------

    def _llm_handler(self, dialect: Dialect) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            stats = self._stats
            stats.count_request(dialect.endpoint)
            stats.enter()
            try:
                return await self._llm_reply(request, dialect, self._config)
            finally:
                stats.leave()

        return handle

    async def _llm_reply(
        self, request: web.Request, dialect: Dialect, config: MockServerConfig
    ) -> web.Response:
        # The latency runs from the request's arrival, and a plain reply is built while it
        # runs: a real server's own work is part of the latency its clients see, not added to
        # it, and so is the wait for this loop to reach the handler (see `site.py`).
        loop = asyncio.get_running_loop()
        arrived = self._arrivals.get(request.protocol)
        if arrived is None:
            arrived = loop.time()
        stats = self._stats

        def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
            stats.count_error(status)
            return _json_response(dialect.error(status, message), status, headers)

        limit = config.max_body_bytes
        if (request.content_length or 0) > limit:
            response = error(413, f"request body of {request.content_length} bytes (limit {limit})")
            response.force_close()  # the unread body must not be taken for the next request
            return response
        if type(dialect) is OpenAIChat:  # the chat endpoint speaks the configured server's forms
            dialect = OPENAI_SERVERS[config.openai_server]()
        try:
            llm_request = dialect.parse(json.loads(await request.read()))
        except ValueError:
            return error(400, "the request body is not valid JSON")
        except BadRequest as exc:
            return error(exc.status, str(exc))
        stats.images_received += llm_request.images
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
        fault = draws.fault(config, key, attempt)
        # A structured reply's stage depends on the replies sent before it: built after the wait.
        early = fault is None and llm_request.structured is None
        reply = self._reply(llm_request, dialect, config, attempt, "valid") if early else None
        if delay > 0:
            remaining = arrived + delay - loop.time()
            if remaining > 0:
                await asyncio.sleep(remaining)

        if fault == "hang":
            stats.hangs += 1
            await asyncio.sleep(config.hang_seconds)
            return self._drop(request)
        if fault == "crash":
            stats.crashes += 1
            return self._drop(request)
        if fault is not None:
            status = int(fault)
            message = f"mock fault {status} on attempt {attempt} of this prompt"
            return error(status, message, _fault_headers(config, status))

        if reply is None:
            stage: StructuredStage = "valid"
            if llm_request.structured is not None:
                replies = stats.count_reply(key)
                if replies <= config.malformed_json_first:
                    stage = "malformed"
                elif replies <= config.malformed_json_first + config.invalid_json_first:
                    stage = "invalid"
            reply = self._reply(llm_request, dialect, config, attempt, stage)
        if isinstance(reply, _Refusal):
            return error(reply.status, reply.message)
        body, generations = reply
        stats.successes += 1
        stats.generations += len(generations)
        stats.prompt_tokens += llm_request.prompt_tokens
        stats.completion_tokens += sum(g.tokens for g in generations)
        return web.Response(body=body, content_type="application/json")

    def _reply(
        self,
        llm_request: LLMRequest,
        dialect: Dialect,
        config: MockServerConfig,
        attempt: int,
        stage: StructuredStage,
    ) -> tuple[bytes, list[Generation]] | _Refusal:
        """The reply's JSON body and its choices, or why none can be made."""
        try:
            generations = build_generations(llm_request, config.reply, attempt, stage)
        except SchemaError as exc:
            return _Refusal(400, f"cannot produce a value for the requested schema: {exc}")
        except Exception as exc:
            _logger.exception("The mock server's reply function failed")
            return _Refusal(500, f"the reply function raised {type(exc).__name__}: {exc}")
        payload = dialect.render(llm_request, generations, f"mock{next(self._reply_ids)}")
        return json_bytes(payload), generations

    async def _embeddings(self, request: web.Request) -> web.Response:
        """OpenAI's `/v1/embeddings` (see `embeddings.py`), with the key check and the
        configured faults (`fail_first`/`fail_with`, random faults) keyed by the first text."""

        def answer(body: Any) -> tuple[str, Callable[[], Any]]:
            texts, dimensions = parse_embeddings_request(body)
            return texts[0], lambda: embeddings_reply(body["model"], texts, dimensions)

        return await self._openai_endpoint(request, "embeddings", answer)

    async def _images(self, request: web.Request) -> web.Response:
        """OpenAI's `/v1/images/generations` (see `images.py`), keyed by the prompt."""

        def answer(body: Any) -> tuple[str, Callable[[], Any]]:
            prompt, n, response_format = parse_images_request(body)
            return prompt, lambda: images_reply(prompt, n, response_format, self.url)

        return await self._openai_endpoint(request, "images.generations", answer)

    async def _text_to_image(self, request: web.Request) -> web.Response:
        """Hugging Face's text-to-image task: the image file itself, keyed by the prompt."""

        def answer(body: Any) -> tuple[str, Callable[[], Any]]:
            prompt = parse_text_to_image_request(body)
            return prompt, lambda: image_of(prompt, 0)

        return await self._openai_endpoint(request, "text-to-image", answer)

    async def _image_file(self, request: web.Request) -> web.Response:
        """An image an `images.generations` reply gave by URL."""
        index = int(request.match_info["index"])
        return web.Response(
            body=image_of(request.query.get("prompt", ""), index), content_type="image/png"
        )

    async def _openai_endpoint(
        self,
        request: web.Request,
        endpoint: str,
        answer: Callable[[Any], tuple[str, Callable[[], Any]]],
    ) -> web.Response:
        """A non-chat endpoint: `answer(body)` checks the body (raising `BadRequest`) and
        gives the key faults are drawn by and the reply (JSON data, or an image's bytes);
        the bearer-key check and the configured faults apply as on the chat endpoints."""
        stats, config = self._stats, self._config
        stats.count_request(endpoint)

        def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
            stats.count_error(status)
            return _json_response(OpenAIChat().error(status, message), status, headers)

        try:
            key, reply = answer(json.loads(await request.read()))
        except ValueError:
            return error(400, "the request body is not valid JSON")
        except BadRequest as exc:
            return error(400, str(exc))
        if config.api_key is not None and not OpenAIChat.authorized(
            request.headers, config.api_key
        ):
            return error(401, "invalid or missing API key")
        attempt = stats.count_attempt(key)
        fault = draws.fault(config, key, attempt)
        if fault in ("hang", "crash"):
            return self._drop(request)
        if fault is not None:
            status = int(fault)
            message = f"mock fault {status} on attempt {attempt}"
            return error(status, message, _fault_headers(config, status))
        stats.successes += 1
        payload = reply()
        if isinstance(payload, bytes):
            return web.Response(body=payload, content_type="image/png")
        return _json_response(payload)

    async def _models(self, request: web.Request) -> web.Response:
        api_key = self._config.api_key
        if api_key is not None and not OpenAIChat.authorized(request.headers, api_key):
            return self._plain_error(401, "invalid or missing API key")
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "stillroom"}
            for m in self._config.models
        ]
        return _json_response({"object": "list", "data": data})

    # -- admin endpoints -------------------------------------------------------------------------

    async def _get_stats(self, request: web.Request) -> web.Response:
        include_prompts = request.query.get("prompts", "1").lower() not in ("0", "false", "no")
        return _json_response(self._stats.snapshot(include_prompts).as_dict())

    async def _post_reset(self, request: web.Request) -> web.Response:
        self._stats.reset()
        return _json_response({"reset": True})

    async def _get_config(self, request: web.Request) -> web.Response:
        return _json_response(self._config.public_dict())

    async def _post_config(self, request: web.Request) -> web.Response:
        try:
            options = json.loads(await request.read() or b"{}")
            if not isinstance(options, dict):
                raise ValueError("the body must be a JSON object of options")
            config = self.configure(**options)
        except (TypeError, ValueError) as exc:
            return self._plain_error(400, str(exc))
        return _json_response(config.public_dict())
