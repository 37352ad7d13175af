"""Requests-per-minute and tokens-per-minute limits for one LLM, whoever calls it.

Each limit is a token bucket holding ten seconds' worth of the per-minute allowance and
refilled continuously, so requests are spread out instead of sent in one burst that a provider
enforcing its limit over short windows would reject. The bucket is plain arithmetic under a
thread lock: every task, thread and event loop using the same LLM object shares it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from stillroom.typing import ChatType

BURST_SECONDS = 10.0
"""How much of the per-minute allowance may be spent at once."""


class _Bucket:
    def __init__(self, per_minute: int, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * BURST_SECONDS)
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` (at most a full bucket) is available."""
        missing = min(amount, self.capacity) - self.level
        return max(0.0, missing / self.rate)


class RateLimiter:
    """Waits before each request so that the given per-minute limits are never exceeded.

    Token costs are estimated before a request (prompt size plus the requested maximum) and
    corrected with the real usage afterwards (`settle`). A request larger than the whole
    bucket goes through once the bucket is full.
    """

    def __init__(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        now = clock()
        self._requests = _Bucket(requests_per_minute, now) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, now) if tokens_per_minute else None
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    @property
    def limits_tokens(self) -> bool:
        """Whether there is a tokens-per-minute limit (requests' estimates matter)."""
        return self._tokens is not None

    def _try_reserve(self, tokens: int) -> float:
        """Take one request and `tokens` if available (returns 0), else the seconds to wait."""
        with self._lock:
            now = self._clock()
            wait = 0.0
            for bucket, amount in ((self._requests, 1), (self._tokens, tokens)):
                if bucket is not None:
                    bucket.refill(now)
                    wait = max(wait, bucket.wait_for(amount))
            if wait > 0:
                return wait
            if self._requests is not None:
                self._requests.level -= 1
            if self._tokens is not None:
                self._tokens.level -= tokens
            return 0.0

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one more request of about `tokens` tokens fits in the limits."""
        while (wait := self._try_reserve(tokens)) > 0:
            await self._sleep(wait)

    def settle(self, estimated: int, actual: int | None) -> None:
        """Correct the token bucket once a request's real usage is known."""
        if self._tokens is None or actual is None:
            return
        with self._lock:
            self._tokens.level -= actual - estimated


def estimate_tokens(texts: list[str], max_new_tokens: int | None) -> int:
    """A rough count (4 characters a token) of a request's prompt plus its reply budget."""
    return sum(len(t) for t in texts) // 4 + (max_new_tokens or 0)


def estimate_chat_tokens(messages: ChatType, max_new_tokens: int | None) -> int:
    """`estimate_tokens` of a conversation (each message's content as text)."""
    return estimate_tokens([str(m["content"]) for m in messages], max_new_tokens)
