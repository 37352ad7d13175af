"""The per-attempt timeout of the sending chain (`Timed` over a `DeadlineQueue`)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TypeVar

import pytest

from stillroom.models.llms.sending import Request, Timed

_T = TypeVar("_T")

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.10 uses asyncio.wait_for"),
]


class _Sleeper:
    """A first link that sleeps as long as the request's body says, then answers it."""

    async def __call__(self, request: Request[_T]) -> _T:
        await asyncio.sleep(float(request.body))
        return request.read(request.body)


def _request(seconds: float) -> Request[object]:
    return Request("http://127.0.0.1:9/", str(seconds).encode(), read=lambda body: body)


def test_attempts_within_the_limit_answer_and_slow_ones_time_out() -> None:
    async def main() -> list[object]:
        timed = Timed(_Sleeper(), 0.2)
        return await asyncio.gather(
            *(timed(_request(s)) for s in (0.0, 0.05, 0.5, 0.01, 0.6)), return_exceptions=True
        )

    started = time.monotonic()
    results = asyncio.run(main())
    elapsed = time.monotonic() - started
    assert results[0] == b"0.0" and results[1] == b"0.05" and results[3] == b"0.01"
    assert isinstance(results[2], TimeoutError) and isinstance(results[4], TimeoutError)
    assert 0.19 <= elapsed < 0.45  # the slow ones were cut at 0.2 s, not waited for


def test_a_timeout_after_many_finished_attempts_still_fires() -> None:
    """Finished entries behind a slow first one are dropped, and its deadline still holds."""

    async def main() -> tuple[object, int]:
        timed = Timed(_Sleeper(), 0.3)
        slow = asyncio.ensure_future(timed(_request(5)))
        for _ in range(500):
            await timed(_request(0))
        queue = next(iter(timed._queues.values()))
        held = len(queue._entries)
        return (await asyncio.gather(slow, return_exceptions=True))[0], held

    result, held = asyncio.run(main())
    assert isinstance(result, TimeoutError)
    assert held < 200  # compacted, not 501 entries


def test_a_cancelled_task_is_cancelled_not_timed_out() -> None:
    async def main() -> None:
        timed = Timed(_Sleeper(), 5)
        attempt = asyncio.ensure_future(timed(_request(10)))
        await asyncio.sleep(0.05)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt

    asyncio.run(main())


def test_each_loop_gets_its_own_queue() -> None:
    timed = Timed(_Sleeper(), 1)
    for _ in range(3):
        assert asyncio.run(timed(_request(0))) == b"0"
    assert len(timed._queues) == 1  # the closed loops' queues were dropped
