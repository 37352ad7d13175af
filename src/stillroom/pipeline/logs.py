"""Where stillroom's log lines go, and at which level.

Lines are printed through the same rich console as the progress bars (`console()`), so
they appear above the bars instead of breaking them; until something made that console (a
run without bars never does), they are written to stderr as they are, so that a run's first
line does not import rich (30 ms or more) before its first request. stillroom only installs its handler
when the application configured no logging (no handler on the root or "stillroom" logger):
an application's own configuration is never changed; there, set the "stillroom" logger's
level yourself.

The level is the one given (the command line's `--log-level` / `--quiet`), else
`$STILLROOM_LOG_LEVEL`, else INFO. The final summary goes through the `stillroom.summary`
logger, which stays at INFO, so a quiet run still ends with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from stillroom.errors import StillroomError

if TYPE_CHECKING:
    from rich.console import Console

LEVEL_ENV = "STILLROOM_LOG_LEVEL"
"""Environment variable naming the level: DEBUG, INFO, WARNING or ERROR."""

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

SUMMARY_LOGGER = "stillroom.summary"
"""Logger of the final summary (kept at INFO when stillroom sets the level)."""

_console: Console | None = None


def console() -> Console:
    """The stderr console shared by the progress bars, the log handler and the summary."""
    global _console
    if _console is None:
        from rich.console import Console  # here: rich takes some 30 ms to import

        _console = Console(stderr=True)
    return _console


class ConsoleHandler(logging.Handler):
    """Prints records on `console()` once it exists (above a live progress display, never
    through it), on stderr as they are before."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if _console is None:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            else:
                _console.print(line, markup=False, highlight=False, soft_wrap=True)
        except Exception:
            self.handleError(record)  # logging's own report of a handler that cannot write


def parse_level(name: str, source: str) -> int:
    """`"debug"` -> logging.DEBUG; anything else than `LEVELS` is an error naming `source`."""
    level = name.strip().upper()
    if level not in LEVELS:
        raise StillroomError(
            f"{source}={name!r} is not a log level; use one of {', '.join(LEVELS)}."
        )
    return int(logging.getLevelName(level))


def setup_logging(level: str | None = None) -> None:
    """Show stillroom's lines on the console at `level` (or `$STILLROOM_LOG_LEVEL`, or INFO),
    unless the application configured logging itself."""
    package = logging.getLogger("stillroom")
    if package.handlers or logging.getLogger().handlers:
        return
    if level is not None:
        chosen = parse_level(level, "--log-level")
    else:
        chosen = parse_level(os.environ.get(LEVEL_ENV) or "INFO", LEVEL_ENV)
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s [stillroom] %(message)s", "%H:%M:%S"))
    package.addHandler(handler)
    package.setLevel(chosen)
    logging.getLogger(SUMMARY_LOGGER).setLevel(min(chosen, logging.INFO))


_FILE_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"
_FILE_DATES = "%Y-%m-%d %H:%M:%S"


@contextlib.contextmanager
def log_file(path: Path) -> Iterator[None]:
    """Also write stillroom's log lines to `path` (the run's `pipeline.log`), appended, each
    with its date and time, for as long as the block runs. The summary is left to
    `append_summary`, which writes it whether or not it was logged."""
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FILE_FORMAT, _FILE_DATES))
    handler.addFilter(lambda record: record.name != SUMMARY_LOGGER)
    package = logging.getLogger("stillroom")
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        handler.close()


def append_summary(path: Path, lines: list[str]) -> None:
    """Append a run's summary `lines` to its `pipeline.log`, stamped like its log lines."""
    formatter = logging.Formatter(_FILE_FORMAT, _FILE_DATES)
    records = [
        logging.LogRecord(SUMMARY_LOGGER, logging.INFO, "", 0, line, None, None) for line in lines
    ]
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(formatter.format(record) + "\n" for record in records)
