"""Fixtures for the backend tests: respx routes, loaded LLMs, recorded retry waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
