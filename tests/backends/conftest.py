"""Fixtures for the backend tests: respx routes, loaded LLMs, recorded retry waits, and a
plain HTTP server on 127.0.0.1 for replies the mock server never sends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import respx
from backend_helpers import BACKENDS, Backend

from stillroom.models.llms.base import LLM
from stillroom.models.llms.remote import HTTP_TRANSPORT_ENV


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each HTTP backend in turn."""
    return BACKENDS[request.param]


@pytest.fixture
def mock_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    """respx routes; a request matching none fails the test instead of reaching a network.

    respx intercepts httpx only, so LLMs made in the test use the httpx transport (the aiohttp
    one is tested against the mock server, in test_aiohttp_transport.py).
    """
    monkeypatch.setenv(HTTP_TRANSPORT_ENV, "httpx")
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def loaded() -> Iterator[Callable[[LLM], LLM]]:
    """Load LLMs for a test and unload them after it."""
    llms: list[LLM] = []

    def load(llm: LLM) -> LLM:
        llm.load()
        llms.append(llm)
        return llm

    yield load
    for llm in llms:
        llm.unload()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry waits instead of sleeping (to check Retry-After without waiting for it)."""
    from stillroom.models.llms import resilience

    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(resilience, "_sleep", record)
    return delays


class _Canned(BaseHTTPRequestHandler):
    reply: tuple[int, dict[str, str], bytes] = (200, {}, b"")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status, headers, body = self.reply
        self.send_response(status)
        for name, value in {**headers, "content-length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[Callable[[int, dict[str, str], bytes], str]]:
    """`canned(status, headers, body)`: the URL of a server answering every POST with that."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, headers: dict[str, str], body: bytes) -> str:
        handler = type("Handler", (_Canned,), {"reply": (status, headers, body)})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def local_llm() -> Iterator[LLM]:
    """The embedded model, loaded once for the whole session (skipped without the extra)."""
    pytest.importorskip("llama_cpp", reason="needs the [local] extra (llama-cpp-python)")
    from stillroom.errors import MissingExtraError
    from stillroom.models.llms.llamacpp import LlamaCppLLM, embedded_model_path

    try:
        embedded_model_path()
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    # One thread: llama.cpp's worker threads spin while waiting for each other, which makes
    # two threads much slower than one when other processes share the CPUs (as in CI).
    llm = LlamaCppLLM(n_threads=1, n_ctx=1024)
    llm.load()
    yield llm
    llm.unload()
