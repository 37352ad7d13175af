"""Retries, backoff and error messages shared by every backend that calls an HTTP API.

A backend turns whatever went wrong in one attempt into a `Failure` (status, whether a new
attempt may succeed, how long the server asks us to wait). `call_with_retries` then decides:
retry 429/5xx/timeouts/connection errors with exponential backoff and jitter, honouring
`Retry-After`; give up at once on other client errors with a message saying what to check.
Each retry is logged at DEBUG and counted in the LLM's `RetryCounter`: a run summarises the
counts instead of printing one line per retry.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict, TypeVar

from typing_extensions import Unpack

from stillroom.models.llms.redaction import excerpt, redact

if TYPE_CHECKING:
    import tenacity

logger = logging.getLogger("stillroom.llms")

_T = TypeVar("_T")

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Client errors worth a new attempt; every 5xx is retried too."""

REFUSAL_WORDING = re.compile(
    r"validation error|failed to deserialize|unknown variant|missing field|unknown field"
    r"|extra inputs are not permitted|input should be|field required|unrecognized request argument",
    re.IGNORECASE,
)
"""How a server's message reads when it refused the request itself (a framework's request
validation: pydantic/FastAPI, serde/axum), whatever status it sends it with."""

DETAIL_LIMIT = 500
"""Characters of a server's message kept in an error, after redaction."""

_sleep = asyncio.sleep  # module attribute so tests can observe the delays without waiting


@dataclass(frozen=True)
class Failure:
    """What went wrong in one attempt, in the terms the retry loop needs."""

    summary: str
    """One line: 'HTTP 429 (Too Many Requests)', 'no reply within 30 s', ..."""
    retryable: bool
    kind: str
    """What a `RetryCounter` counts it as: the HTTP status ('429'), 'timeout', ..."""
    status_code: int | None = None
    retry_after: float | None = None
    detail: str = ""
    """What the server said (its error message, or the reply it sent), if anything: in full
    until `redacted` shortens it."""

    def redacted(self, secrets: Iterable[str]) -> Failure:
        """This failure fit to show: `secrets` masked, then the detail cut to `DETAIL_LIMIT`."""
        secrets = list(secrets)
        return replace(
            self,
            summary=redact(self.summary, secrets),
            detail=excerpt(self.detail, secrets, DETAIL_LIMIT),
        )


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
        return float(delay)


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


def error_detail(body: str | bytes | None) -> str:
    """The server's error message from a response body (OpenAI, Anthropic, vLLM, TGI shapes),
    else the whole body; never shortened here, so that redaction sees every key in it."""
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
                return str(message)
        elif isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if data.get(key):
                return str(data[key])
    return text


def failure_from_status(
    status_code: int, headers: Mapping[str, str] | None = None, detail: str = ""
) -> Failure:
    """Classify an HTTP error status.

    A 5xx is retried, unless its message shows the server refused the request itself (a
    validation error naming a request field, as llama-cpp-python sends with HTTP 500): the
    same request would be refused again, so it is not worth a retry.
    """
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "error"
    refused = status_code >= 500 and is_refusal(detail)
    return Failure(
        summary=f"HTTP {status_code} ({phrase})" + (", the request was refused" if refused else ""),
        retryable=status_code in RETRYABLE_STATUS or (status_code >= 500 and not refused),
        kind=str(status_code),
        status_code=status_code,
        retry_after=parse_retry_after(headers),
        detail=detail,
    )


def is_refusal(detail: str) -> bool:
    """Whether a server's error message says the request itself was invalid."""
    return bool(REFUSAL_WORDING.search(detail))


def timeout_failure(seconds: float | None) -> Failure:
    after = f" within {seconds:g} s" if seconds else ""
    return Failure(summary=f"no reply{after} (timeout)", retryable=True, kind="timeout")


def classify_httpx_error(error: BaseException, timeout: float | None) -> Failure | None:
    """A `Failure` for the exceptions httpx raises, or None for anything else."""
    import httpx  # here, not at the top: importing httpx takes 0.1 s (see `transport`)

    if isinstance(error, httpx.HTTPStatusError):
        response = error.response
        return failure_from_status(
            response.status_code, response.headers, error_detail(response.content)
        )
    if isinstance(error, httpx.TimeoutException):
        return timeout_failure(timeout)
    if isinstance(error, httpx.TransportError):
        return Failure(
            summary=f"connection error ({type(error).__name__})",
            retryable=True,
            kind="connection error",
        )
    return None


class RetryCounter:
    """Retries an LLM made, by kind ('429', '500', 'timeout', 'connection error', ...).

    Safe to use from several threads: a pipeline's workers share one LLM.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._reported: dict[str, int] = {}

    @property
    def counts(self) -> dict[str, int]:
        """Retries of each kind since the LLM was created (a copy)."""
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def record(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1

    def take_since_last(self) -> dict[str, int]:
        """Retries of each kind since the previous call (all of them the first time), for a
        periodic summary; kinds with none are left out."""
        with self._lock:
            since = {
                kind: count - self._reported.get(kind, 0)
                for kind, count in self._counts.items()
                if count > self._reported.get(kind, 0)
            }
            self._reported = dict(self._counts)
        return since

    def __repr__(self) -> str:
        return f"RetryCounter({self.counts})"


class _Classified(Exception):
    """An attempt's exception once `classify` has turned it into a `Failure`."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.summary)
        self.failure = failure


def _stop_reason(failure: Failure, attempts: int, policy: RetryPolicy) -> str | None:
    """Why no new attempt is made after `attempts` ('' for a failure not worth one), or None."""
    if not failure.retryable:
        return ""
    if attempts > policy.max_retries:
        return f"gave up after {attempts} attempts (max_retries={policy.max_retries})"
    if failure.retry_after is not None and failure.retry_after > policy.max_backoff:
        return (
            f"the server asks to wait {failure.retry_after:g} s, longer than "
            f"retry_max_backoff={policy.max_backoff:g} s; raise retry_max_backoff to wait"
        )
    return None


def _failure_of(state: tenacity.RetryCallState) -> Failure:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, _Classified)
    return error.failure


async def _pause(seconds: float) -> None:
    await _sleep(seconds)  # looked up at each call, so a test's patched `_sleep` is used


class RetryRules(TypedDict):
    """What decides a request's retries, as `call_with_retries` takes it."""

    policy: RetryPolicy
    classify: Callable[[BaseException], Failure | None]
    give_up: Callable[[Failure, int, str], BaseException]
    label: str
    counter: RetryCounter


async def call_with_retries(
    attempt: Callable[..., Awaitable[_T]], *args: Any, **rules: Unpack[RetryRules]
) -> _T:
    """Run `attempt(*args)` until it succeeds, a failure is not retryable, or retries run out.

    `classify` maps an exception to a `Failure` (None: not a request failure, re-raised as is);
    its texts are logged as they are, so it must return them redacted.
    `give_up(failure, attempts, reason)` builds the exception raised in the end. Each retry
    is recorded in `counter` and logged at DEBUG only: with many requests failing at once, a
    line each would flood the console (the counts are summarised instead).
    A first attempt that succeeds never enters the retry loop (`_retry_failed`), and costs
    no closure: this runs for every request.
    """
    try:
        return await attempt(*args)
    except Exception as error:
        failure = rules["classify"](error)
        if failure is None:
            raise
        first = _Classified(failure)
        first.__cause__ = error
    return await _retry_failed(first, lambda: attempt(*args), rules)


async def _retry_failed(
    first: _Classified, attempt: Callable[[], Awaitable[_T]], rules: RetryRules
) -> _T:
    """The rest of `call_with_retries` once the first attempt failed with `first`: new
    attempts while the failure is retryable and retries are left.

    The retry loop is tenacity's, the decisions above its callbacks. Kept apart from the
    first attempt so that a request that succeeds at once pays for none of it: tenacity
    costs about 35 us a call even then (benchmarks/retry_overhead.py).
    """
    import tenacity  # here: only a request that failed once pays for importing it

    policy, classify, counter = rules["policy"], rules["classify"], rules["counter"]
    replay: list[_Classified] = [first]

    async def classified_attempt() -> _T:
        try:
            return await attempt()
        except Exception as error:
            failure = classify(error)
            if failure is None:
                raise
            raise _Classified(failure) from error

    async def first_then_again() -> _T:
        if replay:
            raise replay.pop()  # the first attempt's failure, already classified
        return await classified_attempt()

    def stop(state: tenacity.RetryCallState) -> bool:
        return _stop_reason(_failure_of(state), state.attempt_number, policy) is not None

    def wait(state: tenacity.RetryCallState) -> float:
        return policy.delay(state.attempt_number, _failure_of(state).retry_after)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        failure = _failure_of(state)
        counter.record(failure.kind)
        logger.debug(
            "%s: %s%s; retry %d/%d in %.2f s",
            rules["label"],
            failure.summary,
            f" ({failure.detail})" if failure.detail else "",
            state.attempt_number,
            policy.max_retries,
            state.upcoming_sleep,
        )

    def fail(state: tenacity.RetryCallState) -> NoReturn:
        failure = _failure_of(state)
        reason = _stop_reason(failure, state.attempt_number, policy)
        raise rules["give_up"](failure, state.attempt_number, reason or "")

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(_Classified),
        stop=stop,
        wait=wait,
        sleep=_pause,
        before_sleep=before_sleep,
        retry_error_callback=fail,
    )
    return await retrying(first_then_again)
