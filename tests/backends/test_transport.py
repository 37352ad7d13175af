"""The transport module on its own: sessions per event loop, proxies, error mapping."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import httpx
import pytest
import yarl

from stillroom.models.llms.transport import (
    HttpSession,
    LoopSessions,
    Reply,
    _as_httpx_error,
    _Target,
    _tls_context,
)

pytestmark = pytest.mark.timeout(30)


class Recorder(HttpSession):
    """A session that answers 204 and records whether it was closed."""

    made: list[Recorder]

    def __init__(self) -> None:
        self.closed = 0
        Recorder.made.append(self)

    async def send(self, method, url, headers, body, timeout=None) -> Reply:
        return Reply(204, {}, b"")

    async def aclose(self) -> None:
        self.closed += 1


@pytest.fixture
def recorders() -> list[Recorder]:
    Recorder.made = []
    return Recorder.made


def test_one_session_per_loop_closed_when_the_loop_shuts_down(recorders):
    sessions = LoopSessions(Recorder)

    async def use() -> HttpSession:
        first = await sessions.session()
        assert await sessions.session() is first
        return first

    first = asyncio.run(use())
    second = asyncio.run(use())
    assert first is not second and recorders == [first, second]
    assert [r.closed for r in recorders] == [1, 1]
    assert sessions.close_all() == []  # nothing left open


def test_close_all_closes_sessions_of_open_loops(recorders):
    sessions = LoopSessions(Recorder)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(sessions.session())
        ((owner, close),) = sessions.close_all()
        assert owner is loop
        loop.run_until_complete(close)
        assert recorders[0].closed == 1
        loop.run_until_complete(loop.shutdown_asyncgens())  # closing again is harmless
    finally:
        loop.close()
    assert recorders[0].closed == 2


def test_proxy_from_the_environment(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://user:secret@proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "local.test")
    target = _Target.of("http://api.test/v1/chat/completions")
    assert target.url == yarl.URL("http://api.test/v1/chat/completions")
    assert target.proxy == yarl.URL("http://proxy.test:3128")
    assert target.proxy_headers == {
        "Proxy-Authorization": "Basic " + base64.b64encode(b"user:secret").decode()
    }
    assert _Target.of("http://local.test/v1").proxy is None


def test_no_proxy_without_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    target = _Target.of("https://api.test/v1")
    assert target[:3] == (yarl.URL("https://api.test/v1"), None, None)


def test_tls_context_only_for_https():
    """An https URL is checked with httpx's certificates; a plain-HTTP one needs no context
    (making it reads the certificates, which a run against a local server need not pay)."""
    assert _Target.of("https://api.test/v1").ssl is _tls_context()
    assert _Target.of("http://127.0.0.1:8000/v1").ssl is True


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
        (asyncio.TimeoutError(), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError),
        (aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
    ],
)
def test_aiohttp_errors_become_httpx_errors(raised, expected):
    error = _as_httpx_error(raised)
    assert type(error) is expected
    assert type(raised).__name__ in str(error)
