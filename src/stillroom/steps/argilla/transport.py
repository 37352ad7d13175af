"""An httpx transport that tries a request again when the server answers 429 or 5xx.

The Argilla SDK's own transport retries only failed connections; a busy or restarting server
answers 502/503, and the steps should ride that out. Mounted for the Argilla client's URLs,
so the SDK sends every request through it.
"""

from __future__ import annotations

import time

import httpx

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryingTransport(httpx.BaseTransport):
    """Send through `inner`; on a retried status, wait and send again, `retries` times at
    most (waits of `backoff`, 2x`backoff`, ... seconds, at most 30 s each)."""

    def __init__(self, inner: httpx.BaseTransport, retries: int, backoff: float) -> None:
        self._inner = inner
        self._retries = retries
        self._backoff = backoff

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        for attempt in range(self._retries + 1):
            response = self._inner.handle_request(request)
            if response.status_code not in RETRIED_STATUSES or attempt == self._retries:
                return response
            response.read()
            response.close()
            time.sleep(min(self._backoff * 2**attempt, 30.0))
            request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover

    def close(self) -> None:
        self._inner.close()
