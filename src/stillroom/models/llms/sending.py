"""How an HTTP backend sends one request: small wrappers around the loop's connections.

Every request a `RemoteLLM` makes goes through a chain built when it loads, each link one
concern and the same call shape (`Sender`: a `Request` in, what its `read` made of the reply
out):

    Redacting(Retrying(RateLimited(Timed(Post(...)))))

- `Post` sends the body on the running loop's connections, turns an error status or a body
  that is not JSON into a `FailedAttempt`, and reads the decoded reply with `request.read`.
- `Timed` bounds one attempt; `RateLimited` waits for the requests/tokens-per-minute budget
  and corrects it with the reply's real usage; `Retrying` retries what may succeed next time
  (tenacity, honouring `Retry-After`), counting each retry; `Redacting` makes sure no error
  leaving the chain shows the API key.

A link whose concern is not configured is not built: no rate limit, no `RateLimited`; no key
to hide (a keyless local server), no `Redacting`. Every request pays for each link it
passes, so a link with nothing to do should cost nothing.

Why at the HTTP request and not around `agenerate`: one reply may take several requests
(one per generation on a server that ignores `n`, Anthropic's one per generation, a
structured-output retry). Retrying the whole `agenerate` would send the requests that had
succeeded again, and a requests-per-minute limit counted per `agenerate` would under-count.
The LLM-level concerns (cache and journal, counting, fallback) are `WrapperLLM`s
(docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from stillroom.errors import LLMRequestError
from stillroom.models.llms.deadlines import DeadlineQueue
from stillroom.models.llms.rate_limit import RateLimiter
from stillroom.models.llms.redaction import error_mentions, redact
from stillroom.models.llms.resilience import (
    FailedAttempt,
    Failure,
    RetryCounter,
    RetryPolicy,
    RetryRules,
    call_with_retries,
    error_detail,
    failure_from_status,
)
from stillroom.models.llms.transport import LoopSessions

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


def _no_usage(_: object) -> int | None:
    return None


@dataclass(frozen=True)
class Request(Generic[_T]):
    """One request (a JSON `POST` unless told otherwise) and how to read its reply."""

    url: str
    body: bytes
    read: Callable[[Any], _T]
    """The decoded JSON reply to the backend's result; raises `FailedAttempt` (e.g. the
    backend's `_malformed`) when the reply is not what the API promises."""
    method: str = "POST"
    headers: Mapping[str, str] | None = None
    """Headers replacing or added to the LLM's own for this request (e.g. a multipart
    content type for a file upload)."""
    decode: Callable[[bytes], Any] = json.loads
    """The reply body to what `read` takes (raises `ValueError` on a body it cannot read):
    JSON by default; a batch API's results file is JSON lines."""
    estimated_tokens: int = 0
    """Prompt plus reply budget, for a tokens-per-minute limit."""
    tokens_used: Callable[[_T], int | None] = field(default=_no_usage)
    """The real usage read from the result (None: unknown), to correct the estimate."""
    raw: bool = False
    """`read` gets the reply's bytes, not decoded JSON (an API answering with an image)."""


class Sender(Protocol):
    """One link of the chain: sends a request and returns what its `read` made of the reply."""

    async def __call__(self, request: Request[_T]) -> _T: ...


class Post:
    """The innermost link: the request on the running loop's connections, as JSON."""

    def __init__(
        self,
        sessions: LoopSessions,
        headers: dict[str, str],
        malformed: Callable[[str, Any], FailedAttempt],
    ) -> None:
        self._sessions = sessions
        self._headers = headers
        self._malformed = malformed

    async def __call__(self, request: Request[_T]) -> _T:
        session = self._sessions.current() or await self._sessions.session()
        headers = self._headers if request.headers is None else {**self._headers, **request.headers}
        reply = await session.send(request.method, request.url, headers, request.body)
        if not 200 <= reply.status < 300:
            raise FailedAttempt(
                failure_from_status(reply.status, reply.headers, error_detail(reply.body))
            )
        if request.raw:
            return request.read(reply.body)
        try:
            data = request.decode(reply.body)
        except ValueError as exc:
            received = reply.body.decode("utf-8", "replace")
            raise self._malformed(f"the body is not valid JSON ({exc})", received) from None
        return request.read(data)


class Timed:
    """Bounds each attempt to `seconds` (a timeout is then a retryable failure).

    On Python 3.11+ through one `DeadlineQueue` per event loop (`deadlines.py`), which
    costs far less per attempt than `asyncio.timeout`; the same `TimeoutError` either way.
    """

    def __init__(self, inner: Sender, seconds: float) -> None:
        self._inner = inner
        self.seconds = seconds
        self._queues: dict[asyncio.AbstractEventLoop, DeadlineQueue] = {}

    async def __call__(self, request: Request[_T]) -> _T:
        if sys.version_info < (3, 11):  # pragma: no cover - no Task.uncancel
            return await asyncio.wait_for(self._inner(request), self.seconds)
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop) or self._queue_for(loop)
        deadline = queue.start(self.seconds)
        try:
            result = await self._inner(request)
        except asyncio.CancelledError as error:
            if queue.end(deadline):
                raise TimeoutError from error
            raise
        except BaseException:
            queue.end(deadline)
            raise
        queue.end(deadline)
        return result

    def _queue_for(self, loop: asyncio.AbstractEventLoop) -> DeadlineQueue:
        self._queues = {known: q for known, q in self._queues.items() if not known.is_closed()}
        queue = self._queues[loop] = DeadlineQueue(loop)
        return queue


class RateLimited:
    """Waits for the budget of `limiter` before each attempt, then settles the real usage."""

    def __init__(self, inner: Sender, limiter: RateLimiter) -> None:
        self._inner = inner
        self.limiter = limiter

    async def __call__(self, request: Request[_T]) -> _T:
        await self.limiter.acquire(request.estimated_tokens)
        result = await self._inner(request)
        self.limiter.settle(request.estimated_tokens, request.tokens_used(result))
        return result


class Retrying:
    """New attempts for what may succeed next time, as `call_with_retries` decides.

    `classify` turns an attempt's exception into a (redacted) `Failure`, None for one that is
    no request failure (raised as it is); `give_up(failure, attempts, reason)` builds the
    error raised in the end, with the backend's hint on what to check.
    """

    def __init__(
        self,
        inner: Sender,
        *,
        policy: RetryPolicy,
        classify: Callable[[BaseException], Failure | None],
        give_up: Callable[[Failure, int, str], LLMRequestError],
        label: str,
        counter: RetryCounter,
    ) -> None:
        self._inner = inner
        self.policy = policy
        self._rules = RetryRules(
            policy=policy, classify=classify, give_up=give_up, label=label, counter=counter
        )

    async def __call__(self, request: Request[_T]) -> _T:
        return await call_with_retries(self._inner, request, **self._rules)


class Redacting:
    """No error leaves with the key in it: an exception that is no request failure (a bug,
    a library's own error) is raised as it is unless its text or chain holds a secret; then
    an `LLMRequestError` with a redacted copy of its message is raised, without the chain."""

    def __init__(self, inner: Sender, secrets: Sequence[str], label: str) -> None:
        self._inner = inner
        self._secrets = list(secrets)
        self._label = label

    async def __call__(self, request: Request[_T]) -> _T:
        try:
            return await self._inner(request)
        except Exception as error:
            if isinstance(error, LLMRequestError) or not error_mentions(error, self._secrets):
                raise
            shown = redact(repr(error), self._secrets)
        # Raised outside the `except` block, so that it keeps no link to the leaking error.
        raise LLMRequestError(
            f"{self._label}: the request failed with {shown} (its traceback is left out: "
            "it holds the API key)"
        )
