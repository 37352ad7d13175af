"""The shared retry pieces: Retry-After parsing, error details, classification, backoff."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from stillroom.models.llms.resilience import (
    RetryPolicy,
    classify_httpx_error,
    error_detail,
    failure_from_status,
    parse_retry_after,
    redact,
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
        ("<html>\n  Bad gateway \n</html>", "<html> Bad gateway </html>"),
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


def test_redact():
    assert redact("key sk-abcdef was refused", ["sk-abcdef"]) == "key *** was refused"
    assert redact("abc", ["", "ab"]) == "abc"  # empty or tiny values are not "secrets"
