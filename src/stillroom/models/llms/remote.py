"""`RemoteLLM`: what every backend calling an HTTP API shares.

The API key (a `SecretStr`, read from an environment variable by default), a per-attempt
timeout, retries with backoff (`resilience`), optional requests/tokens-per-minute limits
(`rate_limit`) and the concurrency limit of `AsyncLLM`. A subclass only builds its client and
turns one request into one API call.

Async HTTP clients hold connections bound to the event loop that opened them, and an LLM is
used from several loops (the private loop of the sync `generate`, a pipeline's loop, a new loop
for every `asyncio.run`). So `_aclient`, created in `load()`, serves the first loop that uses it
and each other loop gets its own client, made on first use.
"""

from __future__ import annotations

import asyncio
import logging
import os
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    SecretStr,
)

from stillroom.errors import LLMRequestError, StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.base import AsyncLLM
from stillroom.models.llms.rate_limit import RateLimiter
from stillroom.models.llms.resilience import (
    FailedAttempt,
    Failure,
    RetryPolicy,
    call_with_retries,
    classify_httpx_error,
    redact,
    timeout_failure,
)
from stillroom.models.llms.settings import RequestSettingsMixin
from stillroom.models.llms.structured import StructuredOutputMixin

logger = logging.getLogger("stillroom.llms")

_T = TypeVar("_T")


def secret_from_env(name: str) -> SecretStr | None:
    """The environment variable `name` as a `SecretStr`, or None when unset or empty."""
    value = os.environ.get(name)
    return SecretStr(value) if value else None


class RemoteLLM(RequestSettingsMixin, StructuredOutputMixin, AsyncLLM):
    """Base of the HTTP backends: key handling, timeout, retries and rate limits."""

    model: str = Field(description="The model to ask, as the server names it.")
    timeout: RuntimeParameter[PositiveFloat] = Field(
        default=120.0, description="Seconds one attempt may take before it counts as failed."
    )
    max_retries: RuntimeParameter[NonNegativeInt] = Field(
        default=6,
        description="New attempts after a 429, a 5xx, a timeout or a connection error.",
    )
    retry_backoff: RuntimeParameter[NonNegativeFloat] = Field(
        default=1.0,
        description="Base wait in seconds before a retry; doubles with each retry (jittered).",
    )
    retry_max_backoff: RuntimeParameter[NonNegativeFloat] = Field(
        default=60.0,
        description="Longest wait before a retry; a Retry-After asking for more fails the request.",
    )
    requests_per_minute: RuntimeParameter[PositiveInt | None] = Field(
        default=None,
        description="At most this many requests a minute, shared by every task using this LLM.",
    )
    tokens_per_minute: RuntimeParameter[PositiveInt | None] = Field(
        default=None,
        description="At most this many tokens (prompt + reply) a minute, shared likewise.",
    )

    api_key_env_var: ClassVar[str] = ""
    """The environment variable holding the API key when `api_key` is not given."""

    _aclient: Any = PrivateAttr(default=None)
    _aclient_loop: asyncio.AbstractEventLoop | None = PrivateAttr(default=None)
    _loop_clients: dict[asyncio.AbstractEventLoop, Any] = PrivateAttr(default_factory=dict)
    _secret: SecretStr | None = PrivateAttr(default=None)
    _limiter: RateLimiter | None = PrivateAttr(default=None)
    _limiter_settings: tuple[int | None, int | None] = PrivateAttr(default=(None, None))

    @property
    def model_name(self) -> str:
        return self.model

    # --- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Resolve the API key, set up the rate limits and create the client.

        Loading again (two tasks sharing this LLM) keeps the client and the rate limiter, so
        the limits stay shared.
        """
        super().load()
        self._secret = self._resolve_api_key()
        limits = (self.requests_per_minute, self.tokens_per_minute)
        if limits != self._limiter_settings:
            self._limiter = RateLimiter(*limits) if any(limits) else None
            self._limiter_settings = limits
        if self._aclient is None:
            self._aclient = self._make_client()

    def unload(self) -> None:
        clients = [(self._aclient_loop, self._aclient), *self._loop_clients.items()]
        self._aclient, self._aclient_loop, self._loop_clients = None, None, {}
        private = self._loop_thread.loop if self._loop_thread is not None else None
        for loop, client in clients:
            if client is None or loop is None or loop.is_closed():
                continue  # never used, or its connections already went with its loop
            if loop is private:
                self.run_sync(self._close_client(client))
            else:
                asyncio.run_coroutine_threadsafe(self._close_client(client), loop)
        super().unload()

    def _resolve_api_key(self) -> SecretStr | None:
        """The key to send: the `api_key` field, else the environment, else `_keyless_value`."""
        key = getattr(self, "api_key", None) or secret_from_env(self.api_key_env_var)
        if key is not None:
            return key
        placeholder = self._keyless_value()
        if placeholder is not None:
            return SecretStr(placeholder)
        raise StillroomError(
            f"{self._label()}: no API key. Set the {self.api_key_env_var} environment variable "
            f"or pass api_key=... (it is never written to dumps or logs)."
        )

    def _keyless_value(self) -> str | None:
        """A placeholder key when the server needs none (None: a key is required)."""
        return None

    @abstractmethod
    def _make_client(self) -> Any:
        """A new async client for the API (uses `self._secret`)."""

    @abstractmethod
    async def _close_client(self, client: Any) -> None:
        """Close a client made by `_make_client`."""

    def _client(self) -> Any:
        """The client for the running event loop (see the module docstring)."""
        loop = asyncio.get_running_loop()
        if self._aclient is None:
            self._aclient = self._make_client()
        if self._aclient_loop is None or self._aclient_loop.is_closed():
            if self._aclient_loop is not None:  # its connections died with their loop
                self._aclient = self._make_client()
            self._aclient_loop = loop
        if loop is self._aclient_loop:
            return self._aclient
        client = self._loop_clients.get(loop)
        if client is None:
            self._loop_clients = {
                known: c for known, c in self._loop_clients.items() if not known.is_closed()
            }
            client = self._loop_clients[loop] = self._make_client()
        return client

    # --- sending -----------------------------------------------------------------------------

    async def _send(
        self,
        call: Callable[[Any], Awaitable[_T]],
        *,
        estimated_tokens: int = 0,
        tokens_used: Callable[[_T], int | None] = lambda _: None,
    ) -> _T:
        """`call(client)` under the rate limits, the timeout and the retry policy."""

        async def attempt() -> _T:
            if self._limiter is not None:
                await self._limiter.acquire(estimated_tokens)
            return await asyncio.wait_for(call(self._client()), self.timeout)

        result = await call_with_retries(
            attempt,
            policy=RetryPolicy(self.max_retries, self.retry_backoff, self.retry_max_backoff),
            classify=self._classify_error,
            give_up=self._request_error,
            label=self._label(),
        )
        if self._limiter is not None:
            self._limiter.settle(estimated_tokens, tokens_used(result))
        return result

    def _classify_error(self, error: BaseException) -> Failure | None:
        """A `Failure` for an exception raised by one attempt (None: not a request failure)."""
        if isinstance(error, FailedAttempt):
            return error.failure
        if isinstance(error, asyncio.TimeoutError):
            return timeout_failure(self.timeout)
        return classify_httpx_error(error, self.timeout)

    def _malformed(self, what: str) -> FailedAttempt:
        """The failure for a reply that is not what the API promises (not retried)."""
        return FailedAttempt(
            Failure(summary=f"malformed reply from {self._endpoint()}: {what}", retryable=False)
        )

    def _endpoint(self) -> str:
        return str(getattr(self, "base_url", "") or "the server")

    def _hint(self, failure: Failure) -> str:
        """What the user should check, given how the request failed."""
        status = failure.status_code
        if status == 401:
            return (
                f"the API key was refused: check the `api_key` field or the "
                f"{self.api_key_env_var} environment variable"
            )
        if status == 403:
            return "the API key may not use this model or endpoint: check its permissions"
        if status == 404:
            return (
                f"check the model name ({self.model!r}) and base_url ({self._endpoint()}); "
                "an OpenAI-compatible server's base_url usually ends in /v1"
            )
        if status in (400, 413, 422):
            return "the server rejected the request: check the messages and generation_kwargs"
        if status == 429:
            return (
                "rate limited: lower max_concurrent_requests, or set requests_per_minute / "
                "tokens_per_minute below your quota"
            )
        if failure.retryable:
            return f"check that {self._endpoint()} is up, or raise timeout / max_retries"
        return ""

    def _request_error(self, failure: Failure, attempts: int, reason: str) -> LLMRequestError:
        parts = [f"{self._label()}: {failure.summary}"]
        if reason:
            parts.append(reason)
        hint = self._hint(failure)
        if hint:
            parts.append(hint)
        message = "; ".join(parts) + "."
        if failure.detail:
            message += f" Server said: {failure.detail}"
        secret = self._secret.get_secret_value() if self._secret is not None else ""
        return LLMRequestError(
            redact(message, [secret]), status_code=failure.status_code, attempts=attempts
        )
