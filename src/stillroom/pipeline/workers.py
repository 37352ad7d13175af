"""Where synchronous step code runs: daemon threads, or a process pool for CPU-heavy steps.

The threads are daemons so that a second Ctrl-C can end the program even while a step's
code is still running (a `ThreadPoolExecutor` would be joined at exit). Each call runs in a
copy of the caller's context, so context variables set by the engine reach the step.

A step opts into the process pool by declaring `cpu_bound: ClassVar[bool] = True`; a worker
process rebuilds it once from its dump, so such a step must be dumpable and its class
importable (the usual `if __name__ == "__main__":` guard applies to scripts).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stillroom.utils.serialization import TYPE_INFO_KEY

if TYPE_CHECKING:
    from stillroom.steps.base import _Step

logger = logging.getLogger("stillroom.pipeline")


class DaemonThreads:
    """A small pool of daemon threads returning asyncio futures."""

    def __init__(self, size: int, name: str = "stillroom-step") -> None:
        self._size = max(1, size)
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # idle threads minus calls queued for them
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        context = contextvars.copy_context()
        with self._lock:
            if self._idle <= 0 and len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1
        self._queue.put((loop, future, context, fn, args))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, future, context, fn, args = item
            try:
                result, error = context.run(fn, *args), None
            except BaseException as exc:
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop closed: the run was aborted, nobody waits for it
                if error is not None:
                    logger.debug("A step's code raised after the run stopped: %r", error)
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(None)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def is_cpu_bound(step: Any) -> bool:
    return bool(getattr(type(step), "cpu_bound", False))


# --- the process pool side ----------------------------------------------------------------------

_SPECS: dict[str, tuple[type[_Step], dict[str, Any]]] = {}
_BUILT: dict[str, Any] = {}


def modules_in(dump: Any) -> set[str]:
    """Every module named by a `type_info` in a dump: those the parent already trusted."""
    found: set[str] = set()
    if isinstance(dump, dict):
        info = dump.get(TYPE_INFO_KEY)
        if isinstance(info, dict) and "module" in info:
            found.add(info["module"])
        for value in dump.values():
            found |= modules_in(value)
    elif isinstance(dump, list):
        for value in dump:
            found |= modules_in(value)
    return found


def init_worker(specs: dict[str, tuple[type, dict[str, Any]]]) -> None:
    """Process-pool initializer: Ctrl-C is the parent's business; remember the step specs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _SPECS.update(specs)


def run_in_worker(name: str, function: Callable[..., Any], inputs: Any) -> Any:
    """Rebuild (once per process) and load step `name`, then run `function(step, inputs)`."""
    step = _BUILT.get(name)
    if step is None:
        cls, dump = _SPECS[name]
        step = cls.from_dict(dump, allowed_modules=sorted(modules_in(dump)))
        step.load()
        _BUILT[name] = step
    return function(step, inputs)
