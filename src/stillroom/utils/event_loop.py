"""A private event loop on a background thread, for calling async code from sync code.

`AsyncLLM.generate` must work both from plain scripts and from inside a running event loop
(Jupyter), where `asyncio.run` is not allowed. Running every sync call on one dedicated loop
also keeps async clients (httpx, openai) bound to a single loop for their whole life.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class LoopThread:
    """A daemon thread running an event loop that `run()` submits coroutines to."""

    def __init__(self, name: str = "stillroom-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._close_lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run `coro` on the loop and block until it finishes, re-raising its exception.

        It runs in a copy of the caller's context (`call_soon_threadsafe` copies it), so
        context variables set by the caller reach it.
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run() cannot be called from its own loop thread.")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        """Stop the loop and join the thread; pending tasks are cancelled. Idempotent."""
        with self._close_lock:
            if self._loop.is_closed():
                return
            self._close()

    def _close(self) -> None:
        async def _cancel_pending() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_cancel_pending(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
