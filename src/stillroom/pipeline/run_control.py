"""How a run stops: a clean stop, Ctrl-C and SIGTERM, a step's failure, an abort.

`RunControl` is the part of the engine (`scheduler.Engine`) that the driver's signal
handlers and the step runners call to stop the run; `Signal` wakes every waiting runner
when the engine's state changes. See `driver.py` for where the signals come from.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from stillroom.errors import StorageError
from stillroom.exceptions import StillroomOfflineBatchGenerationNotFinishedException

if TYPE_CHECKING:
    from collections.abc import Callable

    from stillroom.pipeline.nodes import Node

logger = logging.getLogger("stillroom.pipeline")


class Signal:
    """Wakes every waiting worker when the engine's state changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._event.wait()


class RunControl:
    """Stopping the engine: cleanly (work in flight finishes and is saved) or at once."""

    stopping: bool
    aborted: bool
    terminated: bool
    failure: tuple[str, int | None, BaseException] | None
    loop: asyncio.AbstractEventLoop | None
    _main: asyncio.Task[Any] | None
    _interrupts: int
    _signal: Signal | None

    def _init_control(self) -> None:
        self.stopping = False
        self.aborted = False
        self.terminated = False
        self.failure = None
        self.loop = None
        self._main = None
        self._interrupts = 0
        self._signal = None

    def request_stop(self, reason: str) -> None:
        """Stop starting new work; what is in flight finishes and is saved."""
        if not self.stopping:
            self.stopping = True
            logger.warning("Stopping: %s", reason)
            if self._signal is not None:
                self._signal.notify()

    def interrupt(self) -> None:
        """Ctrl-C, on the engine's loop: the first stops cleanly, the second at once."""
        self._on_signal("Ctrl-C", "press Ctrl-C again to stop at once")

    def terminate(self, grace: float) -> None:
        """SIGTERM (`docker stop`, systemd, Kubernetes, `timeout`), on the engine's loop: stop
        cleanly, but abort if the requests in flight take longer than `grace` seconds (the
        sender kills the process soon after); a second SIGTERM stops at once."""
        self.terminated = True
        self._on_signal("SIGTERM", f"at most {grace:g} s; send it again to stop at once", grace)

    def _on_signal(self, name: str, how: str, grace: float | None = None) -> None:
        self._interrupts += 1
        if self._interrupts > 1:
            self._abort()
            return
        self.request_stop(
            f"{name}: finishing the requests in flight and saving what is done ({how})"
        )
        if grace is not None and self.loop is not None:
            self.loop.call_later(grace, self._abort)

    def _abort(self) -> None:
        """Stop at once: cancel the run (a no-op once it has ended)."""
        if self._main is not None and not self._main.done():
            self.aborted = True
            self._main.cancel()

    def _fail(self, node: Node | None, error: BaseException, seq: int | None) -> None:
        """Record the run's first failure and stop it.

        A step that raised stops the run cleanly: work in flight finishes and is saved. A
        `StorageError` stops it at once: nothing more can be saved, so nothing more is done
        (the last checkpoint and the journal hold what was finished)."""
        name = node.name if node is not None else ""
        if self.failure is None:
            self.failure = (name, seq, error)
            if isinstance(error, StillroomOfflineBatchGenerationNotFinishedException):
                logger.info("Step %r waits for its batch job: %s", name, error)
            elif not isinstance(error, StorageError):
                logger.error("Step %r failed: %s: %s", name, type(error).__name__, error)
        if isinstance(error, StorageError):
            self.request_stop(str(error))
            self._abort()
        elif isinstance(error, StillroomOfflineBatchGenerationNotFinishedException):
            self.request_stop(f"step {name!r} waits for its batch job")
        else:
            self.request_stop(f"step {name!r} failed")

    def _soon(self, node: Node, callback: Callable[[], None]) -> None:
        """Run `callback` at the loop's next step; should it raise, the step fails (asyncio
        would only log an exception raised by a bare loop callback)."""

        def guarded() -> None:
            try:
                callback()
            except Exception as exc:
                self._fail(node, exc, None)

        assert self.loop is not None
        self.loop.call_soon(guarded)
