"""`stillroom view`: a run's datasets (or a saved Distiset) in the browser, live while it runs.

`open_viewer(path)` serves the page on 127.0.0.1 from a background thread and opens the
browser; `Pipeline.run(view=True)` calls it for the run's directory. `source.py` reads the
directory, `server.py` serves it, `index.html` is the page (no external assets).
"""

from __future__ import annotations

import time
import webbrowser
from pathlib import Path

from stillroom.viewer.server import ViewerServer
from stillroom.viewer.source import DataSource

__all__ = ["DataSource", "ViewerServer", "open_viewer", "serve_until_interrupted", "servers"]

_open: list[ViewerServer] = []
"""Servers started in this process: they serve until it ends (or `stop()`)."""


def open_viewer(path: str | Path | DataSource, port: int = 0, browser: bool = True) -> ViewerServer:
    """Serve `path` (a run's directory, its data directory, or a saved Distiset) on
    127.0.0.1, print the address, and open it in the browser unless `browser=False`."""
    source = path if isinstance(path, DataSource) else DataSource(path)
    server = ViewerServer(source, port)
    url = server.start()
    _open.append(server)
    print(f"Viewing {source.root} at {url}", flush=True)
    if browser:
        webbrowser.open(url)
    return server


def servers() -> list[ViewerServer]:
    """The viewers this process started, oldest first."""
    return list(_open)


def serve_until_interrupted(server: ViewerServer) -> None:
    """Keep this process (and so the viewer) alive until Ctrl-C."""
    print(f"The viewer is at {server.url}; press Ctrl-C to stop it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
