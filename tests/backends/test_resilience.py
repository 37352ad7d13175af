"""The shared retry pieces: Retry-After parsing, error details, classification, backoff."""

from __future__ import annotations

import email.utils
import threading
import time

import httpx
import pytest

from stillroom.models.llms.mock import AsyncMockLLM, MockLLM
from stillroom.models.llms.resilience import (
    RetryCounter,
    RetryPolicy,
    classify_httpx_error,
    error_detail,
    failure_from_status,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(httpx.Headers({"Retry-After": when})) <= 30


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": {"message": "quota exceeded", "type": "x"}}', "quota exceeded"),
        ('{"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}', "busy"),
        ('{"object": "error", "message": "model not found"}', "model not found"),
        ('{"detail": "Not Found"}', "Not Found"),
        ('{"error": "Input validation error"}', "Input validation error"),
        ("<html>Bad gateway</html>", "<html>Bad gateway</html>"),
        ("", ""),
    ],
)
def test_error_detail_reads_every_server_shape(body, expected):
    assert error_detail(body) == expected


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (422, False), (408, True),
     (409, True), (429, True), (500, True), (502, True), (503, True), (529, True)],
)  # fmt: skip
def test_which_statuses_are_retried(status, retryable):
    failure = failure_from_status(status)
    assert failure.retryable is retryable
    assert failure.summary.startswith(f"HTTP {status}")


def test_httpx_errors_are_classified():
    assert classify_httpx_error(httpx.ConnectTimeout("x"), 5).retryable
    assert "timeout" in classify_httpx_error(httpx.ReadTimeout("x"), 5).summary
    assert classify_httpx_error(httpx.RemoteProtocolError("x"), 5).retryable
    assert classify_httpx_error(ValueError("x"), 5) is None


def test_backoff_grows_is_jittered_and_capped():
    policy = RetryPolicy(max_retries=10, backoff=1.0, max_backoff=8.0)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {policy.delay(retry, None) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_backoff_never_shorter_than_retry_after():
    policy = RetryPolicy(max_retries=3, backoff=0.01, max_backoff=60.0)
    assert all(5.0 <= policy.delay(1, 5.0) <= 5.5 for _ in range(50))


def test_error_detail_keeps_a_long_message_whole():
    # Shortening is left to `Failure.redacted`, which masks keys first.
    message = "x" * 2000
    assert error_detail(f'{{"error": {{"message": "{message}"}}}}') == message
    assert error_detail(message) == message


def test_retry_counter_counts_by_kind_and_since_the_last_summary():
    counter = RetryCounter()
    assert counter.counts == {} and counter.total == 0 and counter.take_since_last() == {}
    for kind in ["429", "429", "500"]:
        counter.record(kind)
    assert counter.take_since_last() == {"429": 2, "500": 1}
    counter.record("timeout")
    counter.record("429")
    assert counter.take_since_last() == {"timeout": 1, "429": 1}
    assert counter.take_since_last() == {}
    assert counter.counts == {"429": 3, "500": 1, "timeout": 1} and counter.total == 5
    counter.counts["429"] = 0  # a copy: the counter is read-only from outside
    assert counter.counts["429"] == 3


def test_retry_counter_loses_nothing_across_threads():
    counter = RetryCounter()
    taken: list[dict[str, int]] = []

    def work(kind: str) -> None:
        for _ in range(2000):
            counter.record(kind)
            if kind == "429":
                taken.append(counter.take_since_last())

    threads = [threading.Thread(target=work, args=(k,)) for k in ["429", "500", "timeout"] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken.append(counter.take_since_last())
    assert counter.counts == {"429": 4000, "500": 4000, "timeout": 4000}
    assert sum(sum(t.values()) for t in taken) == 12000  # every retry summarised exactly once


def test_every_llm_has_a_retry_counter():
    for llm in (MockLLM(), AsyncMockLLM()):
        assert llm.retries.counts == {} and llm.retries is llm.retries
