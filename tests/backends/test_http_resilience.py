"""Retries, timeouts, error messages and the concurrency limit, for every HTTP backend."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import respx
from backend_helpers import USER, Backend

from stillroom.errors import LLMRequestError

pytestmark = pytest.mark.timeout(30)


def test_success_returns_text_and_usage(backend: Backend, mock_api: respx.MockRouter, loaded):
    route = mock_api.post(backend.url).mock(return_value=backend.ok("hello"))
    llm = loaded(backend.make())
    (output,) = llm.generate([USER])
    assert output["generations"] == ["hello"]
    usage = backend.reply("hello").get("usage")
    expected = backend.usage or (
        (usage["prompt_tokens"], usage["completion_tokens"])
        if "prompt_tokens" in usage
        else (usage["input_tokens"], usage["output_tokens"])
    )
    assert output["statistics"] == {"input_tokens": [expected[0]], "output_tokens": [expected[1]]}
    assert route.call_count == 1


def test_429_with_retry_after_waits_what_the_server_asks(
    backend: Backend, mock_api: respx.MockRouter, loaded, sleeps: list[float]
):
    route = mock_api.post(backend.url).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), backend.ok("after wait")]
    )
    llm = loaded(backend.make())
    assert llm.generate([USER])[0]["generations"] == ["after wait"]
    assert route.call_count == 2
    (delay,) = sleeps
    assert 2.0 <= delay <= 2.2  # the Retry-After, plus at most 10% jitter


def test_429_with_retry_after_ms(backend: Backend, mock_api: respx.MockRouter, loaded, sleeps):
    mock_api.post(backend.url).mock(
        side_effect=[httpx.Response(429, headers={"retry-after-ms": "1500"}), backend.ok()]
    )
    loaded(backend.make()).generate([USER])
    assert 1.5 <= sleeps[0] <= 1.65


def test_429_without_retry_after_backs_off_exponentially(
    backend: Backend, mock_api: respx.MockRouter, loaded, sleeps: list[float]
):
    route = mock_api.post(backend.url).mock(
        side_effect=[httpx.Response(429)] * 3 + [backend.ok("finally")]
    )
    llm = loaded(backend.make(retry_backoff=1.0, retry_max_backoff=3.0))
    assert llm.generate([USER])[0]["generations"] == ["finally"]
    assert route.call_count == 4
    # retry k waits between half and all of min(max_backoff, backoff * 2**(k-1))
    for delay, ceiling in zip(sleeps, [1.0, 2.0, 3.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_beyond_max_backoff_fails_at_once(
    backend: Backend, mock_api: respx.MockRouter, loaded, sleeps
):
    route = mock_api.post(backend.url).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "3600"})
    )
    llm = loaded(backend.make(retry_max_backoff=60))
    (result,) = llm.generate_results([USER])
    assert isinstance(result, LLMRequestError)
    assert result.status_code == 429
    assert "3600" in str(result) and "retry_max_backoff" in str(result)
    assert route.call_count == 1 and sleeps == []


def test_500_then_success(backend: Backend, mock_api: respx.MockRouter, loaded):
    route = mock_api.post(backend.url).mock(
        side_effect=[httpx.Response(500, json={"error": {"message": "boom"}}), backend.ok("ok")]
    )
    assert loaded(backend.make()).generate([USER])[0]["generations"] == ["ok"]
    assert route.call_count == 2


def test_transport_timeout_then_success(backend: Backend, mock_api: respx.MockRouter, loaded):
    route = mock_api.post(backend.url).mock(
        side_effect=[httpx.ReadTimeout("slow"), backend.ok("ok")]
    )
    assert loaded(backend.make()).generate([USER])[0]["generations"] == ["ok"]
    assert route.call_count == 2


def test_slow_reply_hits_the_per_request_timeout_then_success(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    calls = 0

    async def first_one_hangs(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(10)
        return backend.ok("second try")

    mock_api.post(backend.url).mock(side_effect=first_one_hangs)
    llm = loaded(backend.make(timeout=0.2))
    assert llm.generate([USER])[0]["generations"] == ["second try"]
    assert calls == 2


def test_connection_error_then_success(backend: Backend, mock_api: respx.MockRouter, loaded):
    mock_api.post(backend.url).mock(side_effect=[httpx.ConnectError("refused"), backend.ok("ok")])
    assert loaded(backend.make()).generate([USER])[0]["generations"] == ["ok"]


def test_retries_are_counted_by_kind_and_logged_at_debug_only(
    backend: Backend, mock_api: respx.MockRouter, loaded, caplog
):
    caplog.set_level(logging.DEBUG, logger="stillroom")
    statuses = [429, 429, 500]
    mock_api.post(backend.url).mock(
        side_effect=[httpx.Response(s) for s in statuses] + [backend.ok("done")]
    )
    llm = loaded(backend.make())
    assert llm.generate([USER])[0]["generations"] == ["done"]
    assert llm.retries.counts == {"429": 2, "500": 1} and llm.retries.total == 3
    retried = [r for r in caplog.records if "; retry " in r.getMessage()]
    assert [r.levelno for r in retried] == [logging.DEBUG] * 3
    assert all(f"HTTP {s}" in r.getMessage() for r, s in zip(retried, statuses, strict=True))
    louder = [r for r in caplog.records if r.name.startswith("stillroom") and r.levelno > 10]
    assert louder == []  # no INFO or WARNING line per retry


def test_timeouts_and_connection_errors_are_counted(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    failures = [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.ReadTimeout("x")]
    mock_api.post(backend.url).mock(side_effect=[*failures, backend.ok()])
    llm = loaded(backend.make())
    llm.generate([USER])
    assert llm.retries.counts == {"timeout": 2, "connection error": 1}


def test_the_retry_counter_is_no_part_of_the_configuration(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    mock_api.post(backend.url).mock(side_effect=[httpx.Response(503), backend.ok()])
    llm = loaded(backend.make())
    llm.generate([USER])
    fresh = backend.make()
    assert llm.retries.total == 1 and fresh.retries.total == 0
    assert llm == fresh and llm.dump() == fresh.dump()
    assert llm.reply_settings() == fresh.reply_settings()
    assert "retries" not in llm.dump() and "retries" not in type(llm).model_fields


def test_retries_run_out(backend: Backend, mock_api: respx.MockRouter, loaded):
    route = mock_api.post(backend.url).mock(return_value=httpx.Response(503))
    (result,) = loaded(backend.make(max_retries=2)).generate_results([USER])
    assert isinstance(result, LLMRequestError)
    assert result.attempts == 3 and route.call_count == 3
    assert "gave up after 3 attempts" in str(result) and "503" in str(result)


def test_401_is_not_retried_and_names_the_key_setting(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    route = mock_api.post(backend.url).mock(
        return_value=httpx.Response(401, json={"error": {"message": "invalid x-api-key"}})
    )
    (result,) = loaded(backend.make()).generate_results([USER])
    assert isinstance(result, LLMRequestError) and result.status_code == 401
    assert route.call_count == 1
    message = str(result)
    assert backend.key_env_var in message and "api_key" in message
    assert "invalid x-api-key" in message  # what the server said


@pytest.mark.parametrize(
    ("status", "words"), [(400, "generation_kwargs"), (403, "permissions"), (404, "base_url")]
)
def test_other_client_errors_are_not_retried(
    backend: Backend, mock_api: respx.MockRouter, loaded, status: int, words: str
):
    route = mock_api.post(backend.url).mock(return_value=httpx.Response(status))
    (result,) = loaded(backend.make()).generate_results([USER])
    assert isinstance(result, LLMRequestError) and result.status_code == status
    words = backend.url_field if words == "base_url" else words
    assert route.call_count == 1 and words in str(result)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>proxy error page</html>"),
        httpx.Response(200, json={"unexpected": True}),
        httpx.Response(200, text="{not json", headers={"content-type": "application/json"}),
    ],
    ids=["html", "wrong-shape", "broken-json"],
)
def test_malformed_body_fails_clearly_without_retry(
    backend: Backend, mock_api: respx.MockRouter, loaded, response: httpx.Response
):
    route = mock_api.post(backend.url).mock(return_value=response)
    (result,) = loaded(backend.make()).generate_results([USER])
    assert isinstance(result, LLMRequestError), result
    assert "malformed reply" in str(result)
    assert route.call_count == 1


def test_concurrency_limit_bounds_requests_in_flight(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.03)
        in_flight -= 1
        return backend.ok("done")

    route = mock_api.post(backend.url).mock(side_effect=slow)
    llm = loaded(backend.make(max_concurrent_requests=3))
    outputs = llm.generate([USER] * 12)
    assert [o["generations"] for o in outputs] == [["done"]] * 12
    assert route.call_count == 12
    assert peak == 3  # requests did overlap, and never more than the limit


def test_works_from_several_event_loops(backend: Backend, mock_api: respx.MockRouter, loaded):
    """The sync path (private loop) and asyncio.run loops each get a working client."""
    mock_api.post(backend.url).mock(return_value=backend.ok("hi"))
    llm = loaded(backend.make())
    assert llm.generate([USER])[0]["generations"] == ["hi"]
    for _ in range(2):
        assert asyncio.run(llm.agenerate(USER))["generations"] == ["hi"]
    assert llm.generate([USER])[0]["generations"] == ["hi"]
