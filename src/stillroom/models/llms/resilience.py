"""Retries, backoff and error messages shared by every backend that calls an HTTP API.

A backend turns whatever went wrong in one attempt into a `Failure` (status, whether a new
attempt may succeed, how long the server asks us to wait). `call_with_retries` then decides:
retry 429/5xx/timeouts/connection errors with exponential backoff and jitter, honouring
`Retry-After`; give up at once on other client errors with a message saying what to check.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import httpx

logger = logging.getLogger("stillroom.llms")

_T = TypeVar("_T")

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Client errors worth a new attempt; every 5xx is retried too."""

_sleep = asyncio.sleep  # module attribute so tests can observe the delays without waiting


@dataclass(frozen=True)
class Failure:
    """What went wrong in one attempt, in the terms the retry loop needs."""

    summary: str
    """One line: 'HTTP 429 (Too Many Requests)', 'no reply within 30 s', ..."""
    retryable: bool
    status_code: int | None = None
    retry_after: float | None = None
    detail: str = ""
    """What the server said (its error message), if anything."""


class FailedAttempt(Exception):
    """Raised by a backend's send function to hand the retry loop an already classified failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.summary)
        self.failure = failure


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait between attempts."""

    max_retries: int
    backoff: float
    """Base delay in seconds: attempt k waits about backoff * 2**(k-1), jittered."""
    max_backoff: float
    """No wait is longer; a `Retry-After` asking for more makes the request fail at once."""

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry` (1-based).

        Exponential with "equal jitter" (half fixed, half random) so that many requests failing
        together do not come back together; never shorter than the server's `Retry-After`.
        """
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, retry_after + random.uniform(0, 0.1 * retry_after))
        return delay


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, or `Retry-After` (seconds or date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_detail(body: str | bytes | None, limit: int = 500) -> str:
    """The server's error message from a response body (OpenAI, Anthropic, vLLM, TGI shapes)."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            if message:
                return str(message)[:limit]
        elif isinstance(error, str):
            return error[:limit]
        for key in ("message", "detail"):
            if data.get(key):
                return str(data[key])[:limit]
    return " ".join(text.split())[:limit]


def failure_from_status(
    status_code: int, headers: Mapping[str, str] | None = None, detail: str = ""
) -> Failure:
    """Classify an HTTP error status."""
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "error"
    return Failure(
        summary=f"HTTP {status_code} ({phrase})",
        retryable=status_code in RETRYABLE_STATUS or status_code >= 500,
        status_code=status_code,
        retry_after=parse_retry_after(headers),
        detail=detail,
    )


def timeout_failure(seconds: float | None) -> Failure:
    after = f" within {seconds:g} s" if seconds else ""
    return Failure(summary=f"no reply{after} (timeout)", retryable=True)


def classify_httpx_error(error: BaseException, timeout: float | None) -> Failure | None:
    """A `Failure` for the exceptions httpx raises, or None for anything else."""
    if isinstance(error, httpx.HTTPStatusError):
        response = error.response
        return failure_from_status(
            response.status_code, response.headers, error_detail(response.content)
        )
    if isinstance(error, httpx.TimeoutException):
        return timeout_failure(timeout)
    if isinstance(error, httpx.TransportError):
        return Failure(summary=f"connection error ({type(error).__name__})", retryable=True)
    return None


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (longer than 3 characters) replaced by '***'."""
    for secret in secrets:
        if secret and len(secret) > 3:
            text = text.replace(secret, "***")
    return text


async def call_with_retries(
    attempt: Callable[[], Awaitable[_T]],
    *,
    policy: RetryPolicy,
    classify: Callable[[BaseException], Failure | None],
    give_up: Callable[[Failure, int, str], BaseException],
    label: str,
) -> _T:
    """Run `attempt` until it succeeds, a failure is not retryable, or retries run out.

    `classify` maps an exception to a `Failure` (None: not a request failure, re-raised as is).
    `give_up(failure, attempts, reason)` builds the exception raised in the end.
    """
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt()
        except Exception as error:
            failure = classify(error)
            if failure is None:
                raise
        if not failure.retryable:
            raise give_up(failure, attempts, "")
        retries_done = attempts - 1
        if retries_done >= policy.max_retries:
            reason = f"gave up after {attempts} attempts (max_retries={policy.max_retries})"
            raise give_up(failure, attempts, reason)
        if failure.retry_after is not None and failure.retry_after > policy.max_backoff:
            reason = (
                f"the server asks to wait {failure.retry_after:g} s, longer than "
                f"retry_max_backoff={policy.max_backoff:g} s; raise retry_max_backoff to wait"
            )
            raise give_up(failure, attempts, reason)
        delay = policy.delay(retries_done + 1, failure.retry_after)
        logger.info(
            "%s: %s; retry %d/%d in %.2f s",
            label,
            failure.summary,
            retries_done + 1,
            policy.max_retries,
            delay,
        )
        await _sleep(delay)
