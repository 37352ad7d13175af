"""The HTTP layer under the API backends: one keep-alive connection pool per event loop.

Backends send JSON bodies with `HttpSession.send` and get back the status, the headers and
the (decompressed) body; nothing else sits between them and the socket. Two sessions:

- `AiohttpSession` (the default): an aiohttp `ClientSession`. aiohttp's pool hands out an idle
  connection in constant time, where httpx's (httpcore 1.x) scans every connection on each
  request, which made a 50-connection httpx client reach only about a fifth of what the server
  allowed at 100 ms latency on a 2-core machine (`benchmarks/semaphore_baseline.py`).
- `HttpxSession`: an `httpx.AsyncClient`, for respx-mocked tests (respx only intercepts
  httpx's own transports) or to keep httpx's behaviour.

Connections belong to the event loop that opened them, and one LLM is used from several loops
(its private loop for the sync `generate`, a pipeline's loop, each `asyncio.run`), so
`LoopSessions` keeps one session per loop and closes it when that loop shuts down
(`sdk_transport` lets an SDK's `httpx.AsyncClient` send through them). Failures are raised as
httpx exceptions whatever the session, so `resilience` classifies them in one place.

aiohttp and httpx are imported when a session is made or an error converted, not with this
module: together they take about a quarter of a second, which `import stillroom` should not pay.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    import ssl

    import aiohttp
    import httpx
    import yarl

HttpTransportName = Literal["aiohttp", "httpx"]

HeaderItems = Mapping[str, str] | Iterable[tuple[str, str]]


class Reply(NamedTuple):
    """An HTTP response, read in full."""

    status: int
    headers: Mapping[str, str]
    """Case-insensitive."""
    body: bytes
    """Decompressed."""
    reason: str = ""


class HttpSession(ABC):
    """Keep-alive connections of one event loop, used through `send`."""

    @abstractmethod
    async def send(
        self,
        method: str,
        url: str,
        headers: HeaderItems,
        body: bytes,
        timeout: float | None = None,
    ) -> Reply:
        """Send one request and read its whole response (no redirects followed).

        `timeout` bounds the whole exchange (None: no bound; the caller keeps its own).
        Raises `httpx.TransportError` subclasses (or `httpx.TimeoutException`) on failure.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection (idempotent)."""


@functools.cache
def _unbounded() -> aiohttp.ClientTimeout:
    """No time limit: the caller bounds each attempt (`RemoteLLM.timeout`)."""
    import aiohttp

    return aiohttp.ClientTimeout()


def _bounded(seconds: float) -> aiohttp.ClientTimeout:
    import aiohttp

    return aiohttp.ClientTimeout(total=seconds)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Certificate checks as httpx does them (certifi, or SSL_CERT_FILE / SSL_CERT_DIR).

    Made for the first `https` URL only: it imports httpx and reads the certificates, about
    a fifth of a second that a run against a plain-HTTP server (a local vLLM, llama.cpp or
    the mock server) would otherwise pay on its first request."""
    import httpx

    return httpx.create_ssl_context()


class AiohttpSession(HttpSession):
    """An aiohttp `ClientSession` with at most `pool_size` connections (must be made in a loop).

    Like httpx, it follows no redirects, keeps cookies, sends no .netrc credentials to the
    server and takes proxies from HTTP_PROXY / HTTPS_PROXY / NO_PROXY. aiohttp's own
    `trust_env` looks those up in a worker thread on every request (two thread hops each);
    here they are looked up once per URL.
    """

    def __init__(self, pool_size: int) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size), timeout=_unbounded()
        )
        self._targets: dict[str, _Target] = {}
        self._errors = (aiohttp.ClientError, asyncio.TimeoutError)

    async def send(
        self,
        method: str,
        url: str,
        headers: HeaderItems,
        body: bytes,
        timeout: float | None = None,
    ) -> Reply:
        target = self._targets.get(url) or self._resolve(url)
        try:
            async with self._session.request(
                method,
                target.url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                proxy=target.proxy,
                proxy_headers=target.proxy_headers,
                ssl=target.ssl,
                timeout=_bounded(timeout) if timeout else _unbounded(),
            ) as response:
                content = await response.read()
                return Reply(response.status, response.headers, content, response.reason or "")
        except self._errors as exc:
            raise _as_httpx_error(exc) from exc

    def _resolve(self, url: str) -> _Target:
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        target = self._targets[url] = _Target.of(url)
        return target

    async def aclose(self) -> None:
        await self._session.close()


_MAX_TARGETS = 64
"""URLs whose parsed form and proxy an `AiohttpSession` remembers."""


class _Target(NamedTuple):
    url: yarl.URL
    proxy: yarl.URL | None
    proxy_headers: dict[str, str] | None
    ssl: ssl.SSLContext | bool
    """The TLS context of an `https` URL; True (aiohttp's default, unused) otherwise."""

    @classmethod
    def of(cls, url: str) -> _Target:
        """`url` parsed, with the proxy the environment names for it, if any."""
        import yarl
        from aiohttp.helpers import get_env_proxy_for_url

        parsed = yarl.URL(url)
        tls = _tls_context() if parsed.scheme in ("https", "wss") else True
        try:
            proxy, auth = get_env_proxy_for_url(parsed)
        except LookupError:
            return cls(parsed, None, None, tls)
        return cls(parsed, proxy, {"Proxy-Authorization": auth.encode()} if auth else None, tls)


def _as_httpx_error(exc: BaseException) -> httpx.TransportError:
    """The httpx exception for what aiohttp raised, so one classifier serves both sessions."""
    import aiohttp
    import httpx

    message = f"{type(exc).__name__}: {exc}"
    error: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx.ConnectTimeout
    elif isinstance(exc, asyncio.TimeoutError):
        error = httpx.ReadTimeout
    elif isinstance(exc, (aiohttp.ClientHttpProxyError, aiohttp.ClientProxyConnectionError)):
        error = httpx.ProxyError
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError
    elif isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        error = httpx.UnsupportedProtocol
    elif isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        error = httpx.RemoteProtocolError
    else:
        error = httpx.ReadError
    return error(message)


class HttpxSession(HttpSession):
    """An `httpx.AsyncClient` keeping up to `pool_size` idle connections."""

    def __init__(self, pool_size: int) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=pool_size),
            timeout=None,
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: HeaderItems,
        body: bytes,
        timeout: float | None = None,
    ) -> Reply:
        response = await self._client.request(
            method, url, headers=dict(headers), content=body or None, timeout=timeout
        )
        return Reply(
            response.status_code, response.headers, response.content, response.reason_phrase
        )

    async def aclose(self) -> None:
        await self._client.aclose()


SESSIONS: dict[str, Callable[[int], HttpSession]] = {
    "aiohttp": AiohttpSession,
    "httpx": HttpxSession,
}
"""Session class for each `http_transport` name."""


class LoopSessions:
    """One `HttpSession` per event loop, made on first use and closed when its loop shuts down.

    Closing at shutdown uses the loop's async-generator hook: each session comes with a parked
    async generator whose `finally` closes it, and `loop.shutdown_asyncgens()` (which
    `asyncio.run` calls) finishes those generators. Without it every `asyncio.run` would leave
    a session open. Closing a session twice is harmless, so `close_all` closes them directly.
    """

    def __init__(self, factory: Callable[[], HttpSession]) -> None:
        self._factory = factory
        self._sessions: dict[asyncio.AbstractEventLoop, HttpSession] = {}
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._lock = threading.Lock()

    def current(self) -> HttpSession | None:
        """The running loop's session if it has one already (no await: what every request
        but the first of a loop finds)."""
        return self._sessions.get(asyncio.get_running_loop())

    async def session(self) -> HttpSession:
        """The session of the running loop."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None:
            session = self._factory()
            closer = _close_on_shutdown(session)
            with self._lock:
                self._sessions = {k: s for k, s in self._sessions.items() if not k.is_closed()}
                self._closers = {k: c for k, c in self._closers.items() if not k.is_closed()}
                self._sessions[loop] = session
                self._closers[loop] = closer
            await closer.__anext__()  # now parked at its `yield`, known to the loop
        return session

    def close_all(self) -> list[tuple[asyncio.AbstractEventLoop, Coroutine[Any, Any, None]]]:
        """Forget every session; return, for each loop still open, the coroutine closing its
        session, to be run on that loop (sessions of closed loops were closed at shutdown)."""
        with self._lock:
            sessions, self._sessions = self._sessions, {}
        return [
            (loop, session.aclose()) for loop, session in sessions.items() if not loop.is_closed()
        ]


async def _close_on_shutdown(session: HttpSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.aclose()
