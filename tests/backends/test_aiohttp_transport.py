"""The default (aiohttp) transport for real, against the mock server on 127.0.0.1.

respx cannot see aiohttp, so these tests send real requests: success, `n`, usage, retried
faults, error messages, malformed bodies, structured output, the concurrency limit, keys kept
out of errors and logs, and the connections' life across event loops.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import logging
import socket
import warnings
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from stillroom.errors import LLMRequestError
from stillroom.models.llms.anthropic import AnthropicLLM
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.remote import RemoteLLM
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(30)

KEY = "sk-aio-Vb7Qm2Lx9Tz4"
USER = [{"role": "user", "content": "Say hello."}]
FAST = {"retry_backoff": 0.001, "retry_max_backoff": 5.0, "timeout": 5.0}


@pytest.fixture
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer(api_key=KEY) as running:
        yield running


def openai_llm(server: MockLLMServer, **kwargs: Any) -> OpenAILLM:
    options = {"model": "mock-model", "base_url": server.base_url, "api_key": KEY, **FAST}
    return OpenAILLM(**{**options, "http_transport": "aiohttp", **kwargs})


def anthropic_llm(server: MockLLMServer, **kwargs: Any) -> AnthropicLLM:
    options = {"model": "mock-model", "base_url": server.url, "api_key": KEY, **FAST}
    return AnthropicLLM(**{**options, "http_transport": "aiohttp", **kwargs})


MAKERS = {"openai": openai_llm, "anthropic": anthropic_llm}


@pytest.fixture(params=sorted(MAKERS))
def make(request: pytest.FixtureRequest) -> Callable[..., RemoteLLM]:
    """Each HTTP backend in turn, on the aiohttp transport."""
    return MAKERS[request.param]


def test_aiohttp_is_the_default(monkeypatch):
    monkeypatch.delenv("STILLROOM_HTTP_TRANSPORT", raising=False)
    assert OpenAILLM(model="m", api_key="k").http_transport == "aiohttp"
    monkeypatch.setenv("STILLROOM_HTTP_TRANSPORT", "httpx")
    assert AnthropicLLM(model="m", api_key="k").http_transport == "httpx"


def test_success_with_usage(server, make, loaded):
    (output,) = loaded(make(server)).generate([USER])
    assert output["generations"][0]
    stats = server.stats()
    assert output["statistics"] == {
        "input_tokens": [stats.prompt_tokens],
        "output_tokens": [stats.completion_tokens],
    }
    assert stats.requests_total == 1


def test_n_is_one_request_with_usage_split(server, loaded):
    (output,) = loaded(openai_llm(server)).generate([USER], num_generations=3)
    stats = server.stats()
    assert len(output["generations"]) == 3 and all(output["generations"])
    assert (stats.requests_total, stats.generations) == (1, 3)
    assert sum(output["statistics"]["output_tokens"]) == stats.completion_tokens


def test_server_rejecting_n_gets_one_request_per_generation(loaded):
    with MockLLMServer(reject_n=True) as server:
        llm = loaded(openai_llm(server))
        (output,) = llm.generate([USER], num_generations=2)
        assert len(output["generations"]) == 2 and all(output["generations"])
        assert server.stats().requests_total == 3  # the rejected n=2, then one each


@pytest.mark.parametrize("status", ["429", "500"])
def test_error_then_success(make, loaded, sleeps, status):
    with MockLLMServer(api_key=KEY, fail_first=1, fail_with=status, retry_after=0.5) as server:
        (output,) = loaded(make(server)).generate([USER])
        assert output["generations"][0]
        assert server.stats().requests_total == 2
    if status == "429":
        (delay,) = sleeps
        assert 0.5 <= delay <= 0.55  # the server's Retry-After, plus at most 10% jitter


def test_timeout_then_success(make, loaded):
    with MockLLMServer(api_key=KEY, fail_first=1, fail_with="hang", hang_seconds=3) as server:
        (output,) = loaded(make(server, timeout=0.3)).generate([USER])
        assert output["generations"][0]
        assert server.stats().requests_total == 2


def test_dropped_connection_then_success(make, loaded):
    with MockLLMServer(api_key=KEY, fail_first=1, fail_with="crash") as server:
        (output,) = loaded(make(server)).generate([USER])
        assert output["generations"][0]
        assert server.stats().crashes == 1


def nowhere() -> SimpleNamespace:
    """Addresses of a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    return SimpleNamespace(url=url, base_url=f"{url}/v1")


def test_connection_refused_is_retried_then_reported(make, loaded):
    (result,) = loaded(make(nowhere(), max_retries=1)).generate_results([USER])
    assert isinstance(result, LLMRequestError) and result.attempts == 2
    assert "connection error (ConnectError)" in str(result)


def test_sdk_client_sees_transport_errors_as_its_own(loaded):
    llm = loaded(openai_llm(nowhere()))
    with pytest.raises(openai.APIConnectionError):
        asyncio.run(llm._aclient.chat.completions.create(model="mock-model", messages=USER))


def test_401_is_not_retried_and_names_the_key_setting(server, make, loaded):
    llm = loaded(make(server, api_key="sk-wrong-key-123"))
    (result,) = llm.generate_results([USER])
    assert isinstance(result, LLMRequestError) and result.status_code == 401
    assert server.stats().requests_total == 1
    message = str(result)
    assert llm.api_key_env in message and "api_key" in message
    assert "invalid or missing API key" in message  # what the server said
    assert "sk-wrong-key-123" not in message


def test_structured_reply_failing_validation_is_asked_again(make, loaded):
    class City(BaseModel):
        name: str
        population: int

    with MockLLMServer(api_key=KEY, invalid_json_first=1) as server:
        (output,) = loaded(make(server)).generate([(USER, {"format": "json", "schema": City})])
        City.model_validate_json(output["generations"][0])
        assert server.stats().requests_total == 2


def test_concurrency_limit_bounds_requests_in_flight(make, loaded):
    with MockLLMServer(api_key=KEY, latency=0.05) as server:
        outputs = loaded(make(server, max_concurrent_requests=4)).generate([USER] * 20)
        assert all(o["generations"][0] for o in outputs)
        stats = server.stats()
    assert stats.requests_total == 20
    assert stats.max_in_flight == 4  # requests did overlap, and never more than the limit
    assert stats.connections <= 4  # connections were kept alive and reused


def test_key_never_in_errors_or_logs(make, caplog):
    caplog.set_level(logging.DEBUG)  # every logger: stillroom, aiohttp, asyncio
    with MockLLMServer(api_key=KEY, fail_first=1, fail_with="429", retry_after=0.01) as server:
        good = make(server, max_concurrent_requests=1)
        task = TextGeneration(name="gen", llm=good)
        task.load()
        try:
            (rows,) = list(task.process([{"instruction": "a"}, {"instruction": "b"}]))
        finally:
            task.unload()
        wrong_key = KEY[::-1]
        bad = make(server, api_key=wrong_key)
        bad.load()
        try:
            (error,) = bad.generate_results([USER])
        finally:
            bad.unload()
    assert all(row["generation"] for row in rows)
    assert isinstance(error, LLMRequestError)
    exposed = [str(error), repr(error), str(rows), repr(good), str(good.dump())]
    exposed += [record.getMessage() for record in caplog.records]
    assert any("retry 1/" in text for text in exposed)  # the retries were logged
    for text in exposed:
        assert KEY not in text and wrong_key not in text


def test_sdk_client_shares_the_connections(server, loaded):
    llm = loaded(openai_llm(server))
    llm.generate([USER])

    async def ask() -> str | None:
        reply = await llm._aclient.chat.completions.create(model="mock-model", messages=USER)
        return reply.choices[0].message.content

    async def model_ids() -> list[str]:
        return [model.id async for model in llm._aclient.models.list()]  # a GET, no body

    assert llm.run_sync(ask())
    assert asyncio.run(ask())  # any event loop works
    assert llm.run_sync(model_ids()) == ["mock-model"]
    stats = server.stats()
    assert stats.requests_total == 3
    assert stats.connections == 2  # the private loop's connection served both of its requests


def test_event_loops_get_their_connections_closed_at_shutdown(server, make, loaded, caplog):
    llm = loaded(make(server))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert asyncio.run(llm.agenerate(USER))["generations"][0]
        assert llm.generate([USER])[0]["generations"][0]
        gc.collect()
    assert server.stats().requests_total == 4
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    unclosed += [r.getMessage() for r in caplog.records if "nclosed" in r.getMessage()]
    assert unclosed == []


def test_unload_closes_the_connections(server, make):
    llm = make(server)
    llm.load()
    llm.generate([USER])
    sessions = llm._sessions
    (session,) = sessions._sessions.values()
    llm.unload()
    assert session._session.closed
    assert llm._sessions is None and llm._aclient is None
    llm.load()  # loads again with fresh connections
    try:
        assert llm.generate([USER])[0]["generations"][0]
    finally:
        llm.unload()


# --- replies the mock server never sends (the `canned` server of conftest) ---------------------


@pytest.mark.parametrize(
    "body", [b"<html>proxy error page</html>", b'{"unexpected": true}', b"{not json"]
)
def test_malformed_body_fails_clearly_without_retry(canned, body, loaded):
    url = canned(200, {"content-type": "application/json"}, body)
    llm = loaded(OpenAILLM(model="m", base_url=url, api_key=KEY, http_transport="aiohttp"))
    (result,) = llm.generate_results([USER])
    assert isinstance(result, LLMRequestError) and result.attempts == 1
    assert "malformed reply" in str(result)


def test_compressed_replies_are_decoded(canned, loaded):
    reply = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "squeezed"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    url = canned(
        200,
        {"content-type": "application/json", "content-encoding": "gzip"},
        gzip.compress(json.dumps(reply).encode()),
    )
    llm = loaded(OpenAILLM(model="m", base_url=url, api_key=KEY, http_transport="aiohttp"))
    assert llm.generate([USER])[0]["generations"] == ["squeezed"]

    async def through_the_sdk() -> str | None:
        answer = await llm._aclient.chat.completions.create(model="m", messages=USER)
        return answer.choices[0].message.content

    assert asyncio.run(through_the_sdk()) == "squeezed"
