"""`stillroom view [PATH]`: a run's datasets, or a saved Distiset, in the browser.

PATH is a run's directory (or its `data/`), a pipeline's directory under the cache (its
latest run), or a folder written by `Distiset.save_to_disk`; without it, the run written
most recently under the cache directory. Serves on 127.0.0.1 until Ctrl-C.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stillroom.errors import StillroomError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "view", help="Show a run's datasets or a saved Distiset in the browser."
    )
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="A run's directory, a pipeline's, or a saved Distiset (default: the latest run).",
    )
    parser.add_argument("--port", type=int, default=0, help="Port on 127.0.0.1 (default: any).")
    parser.add_argument(
        "--no-browser", action="store_true", help="Print the address, do not open a browser."
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="Where to look for the latest run (default: the cache)."
    )
    parser.set_defaults(handler=_view)


def _view(args: argparse.Namespace) -> int:
    from stillroom.pipeline.paths import cache_root
    from stillroom.viewer import open_viewer, serve_until_interrupted
    from stillroom.viewer.source import latest_run

    path = args.path
    if path is None:
        root = cache_root(args.cache_dir)
        path = latest_run(root)
        if path is None:
            raise StillroomError(
                f"No pipeline run under {root}: run a pipeline first, or give the path of a "
                "saved dataset (stillroom view PATH)."
            )
    serve_until_interrupted(open_viewer(path, port=args.port, browser=not args.no_browser))
    return 0
