"""Requests/tokens-per-minute limits, on a fake clock, and shared by tasks using one LLM."""

from __future__ import annotations

import asyncio

import pytest
import respx
from backend_helpers import BACKENDS, USER

from stillroom.models.llms.rate_limit import BURST_SECONDS, RateLimiter, estimate_tokens
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(30)


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def start_times(limiter: RateLimiter, clock: FakeClock, count: int, tokens: int = 0) -> list[float]:
    async def run() -> list[float]:
        times = []
        for _ in range(count):
            await limiter.acquire(tokens)
            times.append(clock.now)
        return times

    return asyncio.run(run())


def test_requests_per_minute_allows_a_burst_then_spaces_requests():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=60, clock=clock, sleep=clock.sleep)
    times = start_times(limiter, clock, 13)
    burst = int(BURST_SECONDS)  # 60/min -> 10 requests at once, then one a second
    assert times[:burst] == [0.0] * burst
    assert times[burst:] == pytest.approx([1.0, 2.0, 3.0])


def test_tokens_per_minute_counts_estimates_and_settles_real_usage():
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock, sleep=clock.sleep)  # 10/s, 100 max
    times = start_times(limiter, clock, 3, tokens=50)
    assert times == pytest.approx([0.0, 0.0, 5.0])
    limiter.settle(estimated=50, actual=150)  # the last request really used 100 more
    assert start_times(limiter, clock, 1, tokens=50) == pytest.approx([20.0])


def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket():
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=60, clock=clock, sleep=clock.sleep)  # 10 max
    assert start_times(limiter, clock, 2, tokens=500) == pytest.approx([0.0, 500.0])


def test_estimate_tokens():
    assert estimate_tokens(["a" * 40, "b" * 8], 100) == 112
    assert estimate_tokens([], None) == 0


def test_limit_is_shared_by_every_task_using_the_llm(mock_api: respx.MockRouter, monkeypatch):
    backend = BACKENDS["openai"]
    mock_api.post(backend.url).mock(return_value=backend.ok("ok"))
    llm = backend.make(requests_per_minute=6)  # a burst of one request, then one per 10 s
    first = TextGeneration(name="first", llm=llm)
    second = TextGeneration(name="second", llm=llm)
    first.load()
    second.load()  # loading again keeps the limiter: the limit stays shared
    clock = FakeClock()
    monkeypatch.setattr(llm, "_limiter", RateLimiter(6, clock=clock, sleep=clock.sleep))
    try:
        list(first.process([{"instruction": "a"}]))
        list(second.process([{"instruction": "b"}]))
    finally:
        first.unload()
    assert clock.slept == pytest.approx([10.0])


def test_limiter_survives_a_second_load_and_follows_new_limits():
    llm = BACKENDS["openai"].make(requests_per_minute=6)
    llm.load()
    limiter = llm._limiter
    llm.load()  # a second user of the same LLM (loads are counted)
    assert llm._limiter is limiter
    llm.unload()
    llm.unload()
    llm.requests_per_minute = 12
    llm.load()
    assert llm._limiter is not limiter
    llm.unload()
    llm.requests_per_minute = None
    llm.load()
    assert llm._limiter is None
    llm.unload()


def test_limited_llm_still_generates(mock_api: respx.MockRouter, loaded):
    backend = BACKENDS["anthropic"]
    mock_api.post(backend.url).mock(return_value=backend.ok("ok"))
    llm = loaded(backend.make(requests_per_minute=600, tokens_per_minute=100_000))
    assert [o["generations"] for o in llm.generate([USER] * 5)] == [["ok"]] * 5
