"""Latency, error rates, scripted failures, hangs, crashes and API keys."""

from __future__ import annotations

import math
import statistics
import time

import httpx
import openai
import pytest

from stillroom.testing import MockLLMServer, MockServerConfig
from stillroom.testing.draws import latency, random_fault

pytestmark = pytest.mark.timeout(30)


def chat(text: str, **extra) -> dict:
    return {"model": "mock-model", "messages": [{"role": "user", "content": text}], **extra}


def outcomes(client: httpx.Client, prompts: list[str]) -> list[int]:
    return [client.post("/v1/chat/completions", json=chat(p)).status_code for p in prompts]


def test_fixed_latency_delays_each_reply(start_server, http_client) -> None:
    server = start_server(latency=0.15)
    client = http_client(server)
    start = time.perf_counter()
    assert client.post("/v1/chat/completions", json=chat("x")).status_code == 200
    assert time.perf_counter() - start >= 0.14  # the loop may wake a hair early
    stats = server.stats()
    assert (stats.latency_count, stats.mean_latency) == (1, 0.15)


def test_lognormal_latency_has_the_requested_mean_and_spread() -> None:
    config = MockServerConfig(latency=0.5, latency_sigma=1.0, seed=3)
    samples = [latency(config, f"prompt {i}", 1) for i in range(20_000)]
    assert statistics.fmean(samples) == pytest.approx(0.5, rel=0.05)
    logs = [math.log(s) for s in samples]
    assert statistics.stdev(logs) == pytest.approx(1.0, rel=0.03)
    # Same seed, prompt and attempt: same draw. Another attempt or seed: another draw.
    assert latency(config, "prompt 7", 1) == samples[7]
    assert latency(config, "prompt 7", 2) != samples[7]
    assert (
        latency(MockServerConfig(latency=0.5, latency_sigma=1.0, seed=4), "prompt 7", 1)
        != samples[7]
    )


def test_lognormal_latency_is_applied_and_reported(start_server, http_client) -> None:
    server = start_server(latency=0.02, latency_sigma=0.5)
    client = http_client(server)
    outcomes(client, [f"p{i}" for i in range(20)])
    stats = server.stats()
    expected = [latency(server.config, f"p{i}", 1) for i in range(20)]
    assert stats.latency_total == pytest.approx(sum(expected))
    assert len(set(expected)) == 20


def test_error_rates_are_close_to_the_configuration_and_reproducible(
    start_server, http_client
) -> None:
    prompts = [f"row {i}" for i in range(600)]
    first = start_server(rate_429=0.1, rate_500=0.2, seed=1)
    second = start_server(rate_429=0.1, rate_500=0.2, seed=1)
    got = outcomes(http_client(first), prompts)
    assert outcomes(http_client(second), prompts) == got
    assert got.count(429) / 600 == pytest.approx(0.1, abs=0.04)
    assert got.count(500) / 600 == pytest.approx(0.2, abs=0.05)
    stats = first.stats()
    assert stats.errors_by_status == {429: got.count(429), 500: got.count(500)}
    assert stats.successes == got.count(200) and stats.requests_total == 600


def test_random_fault_draw_covers_every_kind() -> None:
    config = MockServerConfig(rate_429=0.25, rate_500=0.25, rate_hang=0.25, rate_crash=0.25)
    kinds = {random_fault(config, f"p{i}", 1) for i in range(200)}
    assert kinds == {"429", "500", "hang", "crash"}
    assert random_fault(MockServerConfig(), "p", 1) is None


@pytest.mark.parametrize(("retry_after", "header"), [(None, None), (2, "2"), (0.05, "0.05")])
def test_429_with_and_without_retry_after(start_server, http_client, retry_after, header) -> None:
    server = start_server(rate_429=1.0, retry_after=retry_after)
    response = http_client(server).post("/v1/chat/completions", json=chat("x"))
    assert response.status_code == 429
    assert response.headers.get("retry-after") == header
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_fail_first_then_the_openai_sdk_recovers_exactly(start_server, openai_client) -> None:
    server = start_server(fail_first=2, fail_with="429", retry_after=0.01)
    client = openai_client(server, max_retries=2)
    for prompt in ("a", "b"):
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        assert reply.choices[0].message.content == f"echo: {prompt}"
    stats = server.stats()
    assert stats.requests_by_prompt == {"a": 3, "b": 3}
    assert stats.errors_by_status == {429: 4} and stats.successes == 2


def test_fail_first_500_without_retries_raises(start_server, openai_client) -> None:
    server = start_server(fail_first=1)
    client = openai_client(server)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
    assert client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "a"}]
    ).choices


def test_reset_restarts_fail_first(start_server, http_client) -> None:
    server = start_server(fail_first=1)
    client = http_client(server)
    assert outcomes(client, ["a", "a"]) == [500, 200]
    server.reset()
    assert outcomes(client, ["a", "a"]) == [500, 200]


def test_hang_times_out_the_client_and_stop_is_prompt(http_client) -> None:
    with MockLLMServer(fail_first=1, fail_with="hang", hang_seconds=20) as server:
        client = http_client(server, timeout=0.3)
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/chat/completions", json=chat("x"))
        assert server.stats().hangs == 1
        assert client.post("/v1/chat/completions", json=chat("x")).status_code == 200
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            http_client(server, timeout=0.2).post("/v1/chat/completions", json=chat("y"))
    assert time.perf_counter() - start < 5  # the server did not wait out the 20 s hang


def test_hang_ends_by_closing_the_connection(start_server, http_client) -> None:
    server = start_server(rate_hang=1.0, hang_seconds=0.1)
    with pytest.raises(httpx.RemoteProtocolError):
        http_client(server).post("/v1/chat/completions", json=chat("x"))
    assert server.stats().in_flight == 0


def test_crash_drops_the_connection(start_server, http_client, openai_client) -> None:
    server = start_server(fail_first=1, fail_with="crash")
    with pytest.raises(httpx.RemoteProtocolError):
        http_client(server).post("/v1/chat/completions", json=chat("x"))
    with pytest.raises(openai.APIConnectionError):
        openai_client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "y"}]
        )
    reply = openai_client(server, max_retries=1).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "z"}]
    )
    assert reply.choices[0].message.content == "echo: z"
    stats = server.stats()
    assert (stats.crashes, stats.successes, stats.requests_by_prompt) == (
        3,
        1,
        {"x": 1, "y": 1, "z": 2},
    )


def test_api_key_is_required_and_never_shown(start_server, openai_client, http_client) -> None:
    server = start_server(api_key="sk-test-secret")
    with pytest.raises(openai.AuthenticationError):
        openai_client(server, api_key="wrong").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "a"}]
        )
    with pytest.raises(openai.AuthenticationError):
        openai_client(server, api_key="wrong").models.list()
    ok = openai_client(server, api_key="sk-test-secret")
    assert ok.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "a"}]
    ).choices
    assert ok.models.list().data
    assert server.stats().errors_by_status == {401: 1}
    config_over_http = http_client(server).get("/_config").json()
    assert config_over_http["api_key"] == "***"
    for text in (repr(server), repr(server.config), str(config_over_http)):
        assert "sk-test-secret" not in text


def test_latency_counts_the_time_spent_building_the_reply(start_server, http_client) -> None:
    # The reply is built while the latency runs (a real server's own work is part of the
    # latency its clients see), so a reply taking 0.3 s of a 0.6 s latency adds nothing.
    def slow_reply(context) -> str:
        time.sleep(0.3)
        return f"slow: {context.prompt}"

    server = start_server(latency=0.6, reply=slow_reply)
    client = http_client(server)
    start = time.perf_counter()
    reply = client.post("/v1/chat/completions", json=chat("x"))
    elapsed = time.perf_counter() - start
    assert reply.json()["choices"][0]["message"]["content"] == "slow: x"
    assert 0.59 <= elapsed < 0.85  # 0.9 s if the reply's 0.3 s came on top


def test_a_structured_reply_and_a_fault_still_wait_the_whole_latency(
    start_server, http_client
) -> None:
    server = start_server(latency=0.15, fail_first=1, fail_with="500")
    client = http_client(server)
    start = time.perf_counter()
    assert client.post("/v1/chat/completions", json=chat("y")).status_code == 500
    assert time.perf_counter() - start >= 0.14
    start = time.perf_counter()
    body = chat("y", response_format={"type": "json_object"})
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert time.perf_counter() - start >= 0.14
    assert server.stats().successes == 1
