"""`RemoteLLM`: what every backend calling an HTTP API shares.

The API key (a `SecretStr`, read from an environment variable by default), a per-attempt
timeout, retries with backoff, optional requests/tokens-per-minute limits and the concurrency
limit of `AsyncLLM`. A subclass builds its request headers and each request (`Request`: the
JSON body and how to read the reply) and hands it to `_send`, which passes it down the chain
of wrappers in `sending` (retries, rate limits, timeout) to the connections.

Requests go through `transport`: one keep-alive pool per event loop (an LLM is used from its
private loop for the sync `generate`, from a pipeline's loop, from each `asyncio.run`), on
aiohttp by default or httpx (`http_transport`). `_aclient` is a client for users' own code
(the openai SDK for `OpenAILLM`) sending through the same connections; it is built on first
access, so that the SDK is imported only by code that uses it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, cast

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
)

import stillroom
from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.base import AsyncLLM
from stillroom.models.llms.resilience import (
    FailedAttempt,
    Failure,
)
from stillroom.models.llms.resilient import ResilientRequestsMixin
from stillroom.models.llms.sending import (
    Post,
    Request,
    Sender,
)
from stillroom.models.llms.settings import RequestSettingsMixin
from stillroom.models.llms.structured import GenerationCollector, Sample, StructuredOutputMixin
from stillroom.models.llms.transport import SESSIONS, HttpTransportName, LoopSessions
from stillroom.typing import GenerateOutput
from stillroom.utils import fast_json

logger = logging.getLogger("stillroom.llms")

_T = TypeVar("_T")

_BODY_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""Made once: a request body where orjson does not write it (`fast_json`)."""

HTTP_TRANSPORT_ENV = "STILLROOM_HTTP_TRANSPORT"
"""Environment variable giving the default `http_transport`."""

USER_AGENT = f"stillroom/{stillroom.__version__}"

API_KEY_ENV_DESCRIPTION = (
    "Environment variable read, when the LLM loads, for the key if `api_key` is not given; "
    "None reads none. Saved with the LLM (the key never is)."
)


def json_headers(bearer: str | None) -> dict[str, str]:
    """Headers of a JSON request expecting JSON, with `authorization: Bearer ...` when there
    is a token (a keyless server gets none)."""
    headers = {"content-type": "application/json", "accept": "application/json"}
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    return headers


def secret_from_env(name: str | None) -> SecretStr | None:
    """The environment variable `name` as a `SecretStr`, or None when unset, empty or unnamed."""
    value = os.environ.get(name) if name else None
    return SecretStr(value) if value else None


class RemoteLLM(ResilientRequestsMixin, RequestSettingsMixin, StructuredOutputMixin, AsyncLLM):
    """Base of the HTTP backends: key handling, timeout, retries and rate limits."""

    model: str = Field(description="The model to ask, as the server names it.")
    http_transport: HttpTransportName = Field(
        default_factory=lambda: (
            cast(HttpTransportName, os.environ.get(HTTP_TRANSPORT_ENV)) or "aiohttp"
        ),
        description="HTTP client library: 'aiohttp' (fast connection pool, the default) or "
        f"'httpx' (e.g. for respx-mocked tests). Default ${HTTP_TRANSPORT_ENV}, else aiohttp.",
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset({"http_transport", "api_key_env"})
    _stillroom_fields: ClassVar[frozenset[str]] = frozenset({"http_transport", "api_key_env"})

    api_key: RuntimeParameter[SecretStr | None] = Field(
        default=None,
        description="The API key (default: read from $api_key_env when the LLM loads). A "
        "server other than the provider's may run without one.",
    )
    api_key_env: str | None = Field(default=None, description=API_KEY_ENV_DESCRIPTION)

    _sdk_client: Any = PrivateAttr(default=None)
    _client_set: bool = PrivateAttr(default=False)
    _sessions: LoopSessions | None = PrivateAttr(default=None)
    _headers: dict[str, str] = PrivateAttr(default_factory=dict)
    _secret: SecretStr | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        """Read the key from `$api_key_env` when the LLM is built (as distilabel does), so
        `llm.api_key` shows it; `load()` reads the variable again if it was unset then."""
        super().model_post_init(context)
        if self.api_key is None:
            key = secret_from_env(self.api_key_env)
            if key is not None:
                self.__dict__["api_key"] = key  # no validation round: it is a SecretStr

    @property
    def model_name(self) -> str:
        return self.model

    # --- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Resolve the API key, set up the rate limits and the connections.

        Loading again (two tasks sharing this LLM) keeps the connections and the rate limiter,
        so the limits stay shared.
        """
        super().load()
        self._secret = self._resolve_api_key()
        if self._sessions is None:
            # Read when a loop first sends, so settings changed after load() still apply.
            self._sessions = LoopSessions(
                lambda: SESSIONS[self.http_transport](self.max_concurrent_requests)
            )
        self._headers = {"user-agent": USER_AGENT, **self._request_headers()}
        self._set_up_limits()

    @property
    def _aclient(self) -> Any:
        """The SDK client for users' own code (see `_make_client`), built on first access while
        the LLM is loaded (None otherwise, as in distilabel).

        Built lazily because importing an SDK (the openai one takes about half a second) is a
        cost only code using the client should pay: the LLM's own requests never go through it
        unless the user sets this attribute (see `_first_link`).
        """
        if self._sdk_client is None and self._sessions is not None:
            self._sdk_client = self._make_client(self._sessions)
        return self._sdk_client

    @_aclient.setter
    def _aclient(self, client: Any) -> None:
        """Use `client` (an SDK client the user built or mocked) as distilabel's code does:
        it stands for what `load()` would build, and a backend whose requests can go through
        its SDK sends them with it (`_first_link`), keeping this LLM's retries and limits."""
        self._sdk_client = client
        self._client_set = client is not None
        self._chain = None

    def _ensure_loaded(self, action: str) -> None:
        if self._client_set:  # the user's client stands for what load() builds
            self._refuse_missing_batch_api()
        else:
            super()._ensure_loaded(action)

    def unload(self) -> None:
        client = None if self._client_set else self._sdk_client  # the user's stays theirs
        if client is not None:
            self._sdk_client = None
            self.run_sync(self._close_client(client))
        sessions, self._sessions = self._sessions, None
        closing = sessions.close_all() if sessions is not None else []
        private = self._loop_thread.loop if self._loop_thread is not None else None
        for loop, close in closing:
            if loop is private:
                self.run_sync(close)
            else:
                asyncio.run_coroutine_threadsafe(close, loop)
        super().unload()

    def _resolve_api_key(self) -> SecretStr | None:
        """The key to send: the `api_key` field, else `$api_key_env`, else `_keyless_value`."""
        key = self.api_key or secret_from_env(self.api_key_env)
        if key is not None:
            return key
        placeholder = self._keyless_value()
        if placeholder is not None:
            return SecretStr(placeholder)
        raise StillroomError(
            f"{self._label()}: no API key. {self._where_the_key_goes()} (it is never written "
            "to dumps or logs)."
        )

    def _where_the_key_goes(self) -> str:
        if self.api_key_env:
            return f"Set the {self.api_key_env} environment variable or pass api_key=..."
        return "Pass api_key=... (api_key_env is None, so no environment variable is read)"

    def _keyless_value(self) -> str | None:
        """A placeholder key when the server needs none (None: a key is required)."""
        return None

    @abstractmethod
    def _make_client(self, sessions: LoopSessions) -> Any:
        """The client kept in `_aclient` for users' own code, sending through `sessions`
        (wrap them in a `sdk_transport.SessionTransport`)."""

    async def _close_client(self, client: Any) -> None:
        """Close a client made by `_make_client` (an `httpx.AsyncClient` unless overridden)."""
        await client.aclose()

    @abstractmethod
    def _request_headers(self) -> dict[str, str]:
        """Headers of every request: the key, the content type, API versions (uses `_secret`)."""

    # --- sending -----------------------------------------------------------------------------

    def _json_body(self, payload: dict[str, Any]) -> bytes:
        """`payload` as a JSON request body (a value JSON cannot hold is a clear error)."""
        try:
            return fast_json.encode(payload, _BODY_ENCODER)
        except (TypeError, ValueError) as exc:
            raise StillroomError(
                f"{self._label()}: the request cannot be sent as JSON ({exc}); check the "
                "messages and generation_kwargs."
            ) from None

    async def _one_request_per_generation(
        self,
        collector: GenerationCollector,
        url: str,
        payload: Callable[[int], dict[str, Any]],
        read: Callable[[Any], Sample],
        estimated_tokens: int,
    ) -> GenerateOutput:
        """The collector's generations from an API answering one generation per request:
        `payload(i)` is the body asking for generation `i` of the input (a backend offsets
        the seed by `i` there, so a seeded input's generations differ), `read` turns a reply
        into its `Sample`. Invalid structured replies are asked for again (`collector`)."""
        while count := collector.missing:
            first = collector.issued
            samples = []
            for index in range(first, first + count):
                request = Request(
                    url,
                    self._json_body(payload(index)),
                    read=read,
                    estimated_tokens=estimated_tokens,
                    tokens_used=Sample.total_tokens,
                )
                samples.append(await self._send(request))
            collector.add(samples)
        return collector.output()

    def _first_link(self) -> Sender:
        """The request as JSON on this loop's connections (`sending.Post`)."""
        if self._sessions is None:
            raise RuntimeError(f"{self._label()} sends only once loaded")  # _ensure_loaded ran
        return Post(self._sessions, self._headers, self._malformed)

    def _secrets(self) -> list[str]:
        """What must never be shown: the key, unless it is the keyless placeholder (masking
        pieces of "sk-no-key-required" would mangle words such as "required")."""
        if self._secret is None:
            return []
        value = self._secret.get_secret_value()
        return [] if value == self._keyless_value() else [value]

    def _malformed(self, what: str, received: Any) -> FailedAttempt:
        """The failure for a reply that is not what the API promises (not retried).

        `received` (the decoded JSON, or the text) becomes the failure's detail.
        """
        if not isinstance(received, str):
            received = json.dumps(received, ensure_ascii=False, default=str)
        return FailedAttempt(
            Failure(
                summary=f"malformed reply from {self._endpoint()}: {what}",
                retryable=False,
                kind="malformed reply",
                detail=received,
            )
        )

    def _endpoint(self) -> str:
        return str(getattr(self, "base_url", "") or "the server")

    def _hint(self, failure: Failure) -> str:
        """What the user should check, naming this backend's key variable and server."""
        status = failure.status_code
        if status == 401 and self.api_key_env:
            return (
                "the API key was refused: check the `api_key` field or the "
                f"{self.api_key_env} environment variable"
            )
        if status == 404:
            return (
                f"check the model name ({self.model!r}) and base_url ({self._endpoint()}); "
                "an OpenAI-compatible server's base_url usually ends in /v1"
            )
        if failure.retryable and status != 429:
            return f"check that {self._endpoint()} is up, or raise timeout / max_retries"
        return super()._hint(failure)
