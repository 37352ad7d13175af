"""The `stillroom` command line (also `python -m stillroom`).

Each subcommand lives in its own module with a `register(subparsers)` function listed in
`SUBCOMMANDS`; a new command (such as `stillroom demo`) is one module and one line here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from stillroom import __version__
from stillroom.cli import demo, pipeline
from stillroom.errors import StillroomError

SUBCOMMANDS: list[Callable[[Any], None]] = [demo.register, pipeline.register]
"""Functions adding one subcommand each to the `stillroom` parser."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stillroom", description="Build synthetic datasets with LLMs."
    )
    parser.add_argument("--version", action="version", version=f"stillroom {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for register in SUBCOMMANDS:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (130 when stopped with Ctrl-C)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [stillroom] %(message)s", datefmt="%H:%M:%S"
    )
    try:
        return int(args.handler(args) or 0)
    except StillroomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped at once; run the same command again to resume", file=sys.stderr)
        return 130
