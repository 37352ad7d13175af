"""The event loop a run uses, and what Ctrl-C does to it.

From plain code the engine runs on a new loop in the calling thread, with SIGINT and SIGTERM
handlers (main thread only): the first Ctrl-C asks the engine to stop cleanly, the second
cancels it. SIGTERM, which `docker stop`, systemd, Kubernetes and `timeout` send, does the
same, but waits at most `$STILLROOM_SIGTERM_GRACE` seconds (default 8: `docker stop` kills
after 10) for the requests in flight; the run then saves and exits with status 143.
From inside a running loop (a notebook cell) it runs on its own thread and loop, and a
KeyboardInterrupt in the caller is forwarded the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError

if TYPE_CHECKING:
    from stillroom.pipeline.scheduler import Engine

CLEANUP_SECONDS = 5.0
"""How long tasks still pending after a run (closing clients) may take before being cancelled."""

SIGTERM_GRACE_ENV = "STILLROOM_SIGTERM_GRACE"
DEFAULT_SIGTERM_GRACE = 8.0


def sigterm_grace() -> float:
    """Seconds a SIGTERM leaves the requests in flight (`$STILLROOM_SIGTERM_GRACE`)."""
    raw = os.environ.get(SIGTERM_GRACE_ENV)
    if raw is None:
        return DEFAULT_SIGTERM_GRACE
    try:
        grace = float(raw)
    except ValueError:
        grace = -1.0
    if grace < 0:
        raise StillroomError(
            f"{SIGTERM_GRACE_ENV}={raw!r} should be a number of seconds (0 or more)."
        )
    return grace


def drive(engine: Engine) -> bool:
    """Run the engine to its end; False when a second Ctrl-C aborted it."""
    with older_objects_frozen():
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            main_thread = threading.current_thread() is threading.main_thread()
            return _drive_here(engine, handle_signals=main_thread)
        return _drive_in_thread(engine)


YOUNG_GENERATION_SCALE = 10
"""How many times the usual number of new objects a young collection waits for during a run."""


class _CollectorTuning:
    """`older_objects_frozen`'s state, shared by the runs of a process: the first run to
    start tunes the collector and the last to end gives it back, so runs started at once in
    threads neither stack their settings nor undo them under each other."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs = 0
        self.saved: tuple[int, int, int] | None = None  # the thresholds to give back

    @contextlib.contextmanager
    def older_objects_frozen(self) -> Iterator[None]:
        """Leave the objects that exist when the run starts (modules, classes, the loaded
        rows) out of the garbage collector's full collections while it runs (`gc.freeze`),
        and let the youngest generation grow `YOUNG_GENERATION_SCALE` times larger before it
        is collected.

        A full collection walks every object the process holds, and the many short-lived
        objects of each request trigger one every few thousand requests: at 0 ms latency
        that cost about 10 us of CPU a row. A young collection every 700 new objects walks
        the requests in flight each time (a few us a row); every 7,000 it walks them a tenth
        as often, for at most 7,000 more objects waiting to be collected. The frozen objects
        and the thresholds are given back when the last run ends. Left alone when the
        process froze objects itself, or turned the collector off.
        """
        with self.lock:
            if self.runs == 0 and gc.isenabled() and not gc.get_freeze_count():
                gc.freeze()
                self.saved = gc.get_threshold()
                gc.set_threshold(self.saved[0] * YOUNG_GENERATION_SCALE, *self.saved[1:])
            self.runs += 1
        try:
            yield
        finally:
            with self.lock:
                self.runs -= 1
                if self.runs == 0 and self.saved is not None:
                    gc.set_threshold(*self.saved)
                    gc.unfreeze()
                    self.saved = None


older_objects_frozen = _CollectorTuning().older_objects_frozen
"""The process's collector tuning for a run (`with older_objects_frozen(): ...`); the local
driver and each Ray replica (`ray/actors.py`) enter it."""


def _drive_here(
    engine: Engine, handle_signals: bool, started: threading.Event | None = None
) -> bool:
    grace = sigterm_grace() if handle_signals else 0.0  # a bad value: an error before the run
    loop = asyncio.new_event_loop()
    installed: list[signal.Signals] = []
    try:
        main = loop.create_task(engine.run())
        if handle_signals:
            handlers: dict[signal.Signals, Callable[[], object]] = {
                signal.SIGINT: engine.interrupt,
                signal.SIGTERM: functools.partial(engine.terminate, grace),
            }
            # not on Windows, nor where signals cannot be handled (NotImplementedError)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                for signum, handler in handlers.items():
                    loop.add_signal_handler(signum, handler)
                    installed.append(signum)
        if started is not None:
            started.set()
        loop.run_until_complete(main)
    except asyncio.CancelledError:
        engine.aborted = True
    finally:
        if started is not None:
            started.set()
        for signum in installed:
            loop.remove_signal_handler(signum)
        pending = asyncio.all_tasks(loop)
        if pending and not engine.aborted:  # e.g. clients closing after unload()
            loop.run_until_complete(asyncio.wait(pending, timeout=CLEANUP_SECONDS))
            pending = {task for task in pending if not task.done()}
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return not engine.aborted


def _drive_in_thread(engine: Engine) -> bool:
    outcome: dict[str, Any] = {}
    started = threading.Event()

    def target() -> None:
        try:
            outcome["ok"] = _drive_here(engine, handle_signals=False, started=started)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="stillroom-engine", daemon=True)
    thread.start()
    started.wait()
    while thread.is_alive():
        try:
            thread.join(0.2)
        except KeyboardInterrupt:
            if engine.loop is not None and not engine.loop.is_closed():
                engine.loop.call_soon_threadsafe(engine.interrupt)
    if "error" in outcome:
        raise outcome["error"]
    return bool(outcome.get("ok"))
