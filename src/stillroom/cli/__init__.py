"""The `stillroom` command line (also `python -m stillroom`).

Each subcommand lives in its own module with a `register(subparsers)` function listed in
`SUBCOMMANDS`; a new command (such as `stillroom demo`) is one module and one line here.
`--log-level`/`--quiet` go before the command (or after `pipeline run`); exit statuses are in
`exit_codes`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from stillroom import __version__
from stillroom.cli import demo, exit_codes, pipeline, port, view
from stillroom.cli.options import log_options
from stillroom.errors import StillroomError
from stillroom.pipeline.errors import TooManyFailuresError
from stillroom.pipeline.logs import setup_logging

SUBCOMMANDS: list[Callable[[Any], None]] = [
    demo.register,
    pipeline.register,
    port.register,
    view.register,
]
"""Functions adding one subcommand each to the `stillroom` parser."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stillroom", description="Build synthetic datasets with LLMs.", parents=[log_options()]
    )
    parser.add_argument("--version", action="version", version=f"stillroom {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for register in SUBCOMMANDS:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see `exit_codes`)."""
    args = build_parser().parse_args(argv)
    try:
        setup_logging(getattr(args, "log_level", None))
        return int(args.handler(args) or exit_codes.OK)
    except TooManyFailuresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.TOO_MANY_FAILURES
    except StillroomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.ERROR
    except KeyboardInterrupt:
        print("stopped at once; run the same command again to resume", file=sys.stderr)
        return exit_codes.INTERRUPTED
