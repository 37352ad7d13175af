"""Logging options every `stillroom` command accepts, before or after the command name."""

from __future__ import annotations

import argparse

from stillroom.pipeline.logs import LEVEL_ENV, LEVELS


def log_options() -> argparse.ArgumentParser:
    """A parent parser with `--log-level LEVEL` and `-q/--quiet`.

    Their default is to leave the attribute unset, so that giving them after the command
    name (`stillroom pipeline run -q`) is not undone by the main parser's default, and the
    other way round: `args.log_level` exists only when one was given.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=argparse.SUPPRESS,
        help=f"Show log lines from this level on (default: ${LEVEL_ENV}, else INFO).",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="log_level",
        action="store_const",
        const="WARNING",
        default=argparse.SUPPRESS,
        help="Only warnings, errors and the final summary (--log-level WARNING).",
    )
    return parent
