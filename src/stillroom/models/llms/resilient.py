"""`ResilientRequestsMixin`: the settings and the chain of wrappers every request of a
backend goes through, whatever carries it (HTTP for `RemoteLLM`, a library call for
`LiteLLM`).

The backend gives the innermost link (`_first_link`: what sends one attempt); the mixin
wraps it in `Redacting(Retrying(RateLimited(Timed(...))))` from `sending.py`, built from
the fields below and rebuilt when a runtime parameter changes them. `_send(request)` is then
all a backend calls. Its errors: `_classify_error` says which failures may succeed next
time, `_request_error` builds the `LLMRequestError` raised in the end, with `_hint` saying
what to check (a backend refines it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
)

from stillroom.errors import LLMRequestError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.rate_limit import RateLimiter
from stillroom.models.llms.redaction import redact
from stillroom.models.llms.resilience import (
    FailedAttempt,
    Failure,
    RetryCounter,
    RetryPolicy,
    classify_httpx_error,
    timeout_failure,
)
from stillroom.models.llms.sending import (
    RateLimited,
    Redacting,
    Request,
    Retrying,
    Sender,
    Timed,
)

_T = TypeVar("_T")

RESILIENCE_FIELDS = frozenset(
    {
        "timeout",
        "max_retries",
        "retry_backoff",
        "retry_max_backoff",
        "requests_per_minute",
        "tokens_per_minute",
    }
)


class ResilientRequestsMixin(BaseModel):
    """Timeout, retries with backoff and rate limits around a backend's requests."""

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
    _transport_fields: ClassVar[frozenset[str]] = RESILIENCE_FIELDS
    _stillroom_fields: ClassVar[frozenset[str]] = RESILIENCE_FIELDS - {"timeout", "max_retries"}

    _limiter: RateLimiter | None = PrivateAttr(default=None)
    _limiter_settings: tuple[int | None, int | None] = PrivateAttr(default=(None, None))
    _chain: tuple[tuple[Any, ...], Sender] | None = PrivateAttr(default=None)

    if TYPE_CHECKING:  # the LLM's

        def _label(self) -> str: ...

        @property
        def retries(self) -> RetryCounter: ...

    def _set_up_limits(self) -> None:
        """The rate limiter for the current limits, kept when they did not change, so that
        the limits stay shared when a second task loads this LLM. Called by `load()`."""
        limits = (self.requests_per_minute, self.tokens_per_minute)
        if limits != self._limiter_settings:
            self._limiter = RateLimiter(*limits) if any(limits) else None
            self._limiter_settings = limits
        self._chain = None  # the key or where requests go may have changed

    def _limits_tokens(self) -> bool:
        """Whether a tokens-per-minute limit applies (else a request's token estimate, which
        only that limit reads, need not be made)."""
        limiter = self._limiter
        return limiter is not None and limiter.limits_tokens

    def _first_link(self) -> Sender:
        """What sends one attempt of a request (the backend's)."""
        raise NotImplementedError

    def _secrets(self) -> list[str]:
        """What must never be shown in an error or a log (the backend's keys)."""
        return []

    def _send(self, request: Request[_T]) -> Coroutine[Any, Any, _T]:
        """Send `request` through the chain (to be awaited): rate limits, a timeout per
        attempt and retries. A failure that is not worth another attempt, or the last one,
        raises `LLMRequestError` with what to check. The chain's own coroutine, not one
        around it: this runs for every request."""
        return self._sender()(request)

    def _sender(self) -> Sender:
        """The chain for the current settings (rebuilt when a runtime parameter changes
        them after `load()`)."""
        settings = (
            self.timeout,
            self.max_retries,
            self.retry_backoff,
            self.retry_max_backoff,
            self._limiter,
        )
        chain = self._chain  # read once: a private attribute costs a `__getattr__` call
        if chain is None or chain[0] != settings:
            chain = self._chain = (settings, self._build_chain())
        return chain[1]

    def _build_chain(self) -> Sender:
        sender: Sender = Timed(self._first_link(), self.timeout)
        if self._limiter is not None:
            sender = RateLimited(sender, self._limiter)
        sender = Retrying(
            sender,
            policy=RetryPolicy(self.max_retries, self.retry_backoff, self.retry_max_backoff),
            classify=self._classify_error,
            give_up=self._request_error,
            label=self._label(),
            counter=self.retries,
        )
        secrets = self._secrets()
        # Nothing to redact (a keyless server): no layer, rather than one that looks at
        # every error for nothing.
        return Redacting(sender, secrets, self._label()) if secrets else sender

    def _classify_error(self, error: BaseException) -> Failure | None:
        """A `Failure` for an exception raised by one attempt (None: not a request failure),
        redacted: from here on its texts go to logs and errors."""
        if isinstance(error, FailedAttempt):
            failure: Failure | None = error.failure
        elif isinstance(error, asyncio.TimeoutError):
            failure = timeout_failure(self.timeout)
        else:
            failure = classify_httpx_error(error, self.timeout)
        return failure.redacted(self._secrets()) if failure is not None else None

    def _hint(self, failure: Failure) -> str:
        """What the user should check, given how the request failed."""
        status = failure.status_code
        if status == 401:
            return "the API key was refused: check the `api_key` field"
        if status == 403:
            return "the API key may not use this model or endpoint: check its permissions"
        if status in (400, 413, 422):
            return "the server rejected the request: check the messages and generation_kwargs"
        if status == 429:
            return (
                "rate limited: lower max_concurrent_requests, or set requests_per_minute / "
                "tokens_per_minute below your quota"
            )
        if failure.retryable:
            return "check that the service is up, or raise timeout / max_retries"
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
        # The failure is redacted already; the label and hint name the model and base_url,
        # where a user may have put the key too (`?key=...`).
        return LLMRequestError(
            redact(message, self._secrets()), status_code=failure.status_code, attempts=attempts
        )
