"""Per-attempt timeouts at the cost of a queue append, not a timer each (Python 3.11+).

`asyncio.timeout` arms a timer for every attempt: a `TimerHandle` pushed on the loop's
heap (whose comparisons are Python methods) and cancelled a moment later, leaving the heap
to be rebuilt now and then. At 0 ms latency that was about 7 us of a request's client CPU
(benchmarks/hot_path_layers.py). The attempts one `Timed` link bounds all have the same
length, so their deadlines come in the order they start: a `DeadlineQueue` keeps them in
a deque and arms one timer, for the oldest deadline still running. An attempt that ends
only marks its entry; the timer, when it fires, drops finished entries, cancels the tasks
whose deadline has passed and re-arms for the next one.

A cancelled attempt turns into `TimeoutError` exactly as under `asyncio.timeout`: only when
the deadline cancelled its task and nothing else did (`Task.uncancel`), so a run being
stopped still stops.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

_COMPACT_OVER = 64
"""Finished entries tolerated behind a slow first one before the queue drops them all."""


class Deadline:
    """One attempt's entry: its task, when it must end, and whether the timer fired on it."""

    __slots__ = ("cancelling", "ended", "expired", "task", "when")

    def __init__(self, task: asyncio.Task[object], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = 0
        if sys.version_info >= (3, 11):
            self.cancelling = task.cancelling()
        self.ended = False
        self.expired = False

    def end(self) -> bool:
        """Mark the attempt over; True when its deadline is why the task was cancelled."""
        self.ended = True
        if sys.version_info < (3, 11):  # pragma: no cover - `Timed` uses asyncio.wait_for
            return self.expired
        return self.expired and self.task.uncancel() <= self.cancelling


class DeadlineQueue:
    """The running attempts of one loop that all last `seconds`, oldest first."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._entries: deque[Deadline] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._running = 0

    def start(self, seconds: float) -> Deadline:
        """An entry for the current task's attempt, cancelled `seconds` from now."""
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a timed attempt must run inside a task")
        entry = Deadline(task, self._loop.time() + seconds)
        entries = self._entries
        while entries and entries[0].ended:
            entries.popleft()
        if len(entries) > 2 * self._running + _COMPACT_OVER:  # a slow attempt holds the head
            self._entries = entries = deque(e for e in entries if not e.ended)
        entries.append(entry)
        self._running += 1
        if self._timer is None:
            self._timer = self._loop.call_at(entries[0].when, self._fire)
        return entry

    def end(self, entry: Deadline) -> bool:
        """The attempt of `entry` is over (see `Deadline.end`)."""
        if not entry.ended:
            self._running -= 1
        return entry.end()

    def _fire(self) -> None:
        self._timer = None
        entries, now = self._entries, self._loop.time()
        while entries and (entries[0].ended or entries[0].when <= now):
            entry = entries.popleft()
            if not entry.ended and not entry.expired:
                entry.expired = True
                entry.task.cancel()
        if entries:
            self._timer = self._loop.call_at(entries[0].when, self._fire)
