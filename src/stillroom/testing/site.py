"""Where the mock server listens: a TCP site that notes when each request's bytes arrive.

The server's latency runs from a request's arrival, as a real API's does. Under load the
mock server, a single event loop, reaches a request's handler a millisecond or more after
its bytes came in (it is parsing and answering the requests that came just before); counted
from the handler's entry, that wait would be added to the configured latency of every
request, and the more requests in flight, the more. `ArrivalSite` is aiohttp's TCP site
with each connection's protocol wrapped so that the loop's time of the last bytes received
on it is kept in `arrivals`, keyed by aiohttp's handler of the connection (what
`request.protocol` is); the entry goes when the connection closes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


class _Stamping(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the arrival time of its bytes noted."""

    def __init__(self, inner: asyncio.Protocol, arrivals: dict[Any, float]) -> None:
        self._inner = inner
        self._arrivals = arrivals
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._arrivals[self._inner] = self._loop.time()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._arrivals.pop(self._inner, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class ArrivalSite(web.BaseSite):
    """`web.TCPSite` on `host:port` (0: a free port), keeping the arrival times in `arrivals`."""

    __slots__ = ("_host", "_port", "arrivals")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, backlog: int) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self.arrivals: dict[Any, float] = {}
        """The loop's time of the last bytes received, per connection (aiohttp's handler)."""

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("Call runner.setup() before starting the site")
        arrivals = self.arrivals
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Stamping(server(), arrivals), self._host, self._port, backlog=self._backlog
        )
