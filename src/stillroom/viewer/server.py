"""The viewer's web server: aiohttp on 127.0.0.1, one page and three small JSON endpoints.

`GET /` is the page (`index.html`, package data: no external assets, works offline);
`/api/splits`, `/api/rows` and `/api/status` answer from a `DataSource`. The page polls
`/api/status` about once a second and re-reads its rows when the counts change, which is how
rows written during a run appear without a reload. The server runs on its own event loop in
a daemon thread (`ViewerServer`), so a pipeline can run on the main thread meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import threading
from importlib import resources
from typing import Any

from aiohttp import web

from stillroom.errors import StillroomError
from stillroom.viewer.source import DataSource, row_errors

PAGE_LIMIT = 200
"""Most rows one `/api/rows` call returns."""


def _json(data: Any, status: int = 200) -> web.Response:
    text = json.dumps(data, ensure_ascii=False, default=str)
    return web.Response(text=text, status=status, content_type="application/json")


def make_app(source: DataSource) -> web.Application:
    """The aiohttp application serving `source`."""
    page = resources.files("stillroom.viewer").joinpath("index.html").read_text("utf-8")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def splits(request: web.Request) -> web.Response:
        return _json({"path": str(source.root), "splits": source.splits()})

    async def rows(request: web.Request) -> web.Response:
        query = request.query
        try:
            offset = max(0, int(query.get("offset", "0")))
            limit = min(PAGE_LIMIT, max(1, int(query.get("limit", "50"))))
            found = source.page(
                query.get("config", ""),
                query.get("split", ""),
                offset,
                limit,
                failed_only=query.get("failed") == "1",
                query=query.get("q", ""),
            )
        except (StillroomError, ValueError) as exc:
            return _json({"error": str(exc)}, status=400)
        return _json(
            {
                "rows": [
                    {"index": index, "row": row, "errors": row_errors(row)}
                    for index, row in found.rows
                ],
                "matched": found.matched,
                "total": found.total,
                "columns": found.columns,
            }
        )

    async def status(request: web.Request) -> web.Response:
        return _json({"counts": source.counts(), "status": source.status()})

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/api/splits", splits)
    app.router.add_get("/api/rows", rows)
    app.router.add_get("/api/status", status)
    return app


class ViewerServer:
    """Serves a `DataSource` on 127.0.0.1 from a daemon thread; `start()` returns the URL."""

    def __init__(self, source: DataSource, port: int = 0) -> None:
        self.source = source
        self.port = port
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=serve, name="stillroom-viewer", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise StillroomError(
                f"The viewer could not listen on 127.0.0.1:{self.port}: {failure[0]}"
            ) from failure[0]
        return self.url

    async def _open(self) -> None:
        self._runner = web.AppRunner(make_app(self.source), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self.port
        self.url = f"http://127.0.0.1:{port}/"

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
