"""`ArrivalSite`: the mock server's latency runs from when a request's bytes arrived."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from stillroom.testing.site import ArrivalSite

pytestmark = pytest.mark.timeout(30)


def test_each_connection_notes_when_its_bytes_arrived_until_it_closes() -> None:
    async def main() -> None:
        seen: list[tuple[float, float]] = []

        async def handler(request: web.Request) -> web.Response:
            seen.append((site.arrivals[request.protocol], asyncio.get_running_loop().time()))
            return web.Response(text=str(len(site.arrivals)))

        app = web.Application()
        app.router.add_post("/echo", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = ArrivalSite(runner, "127.0.0.1", 0, backlog=16)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(2):  # twice on one kept-alive connection
                    async with session.post(f"http://127.0.0.1:{port}/echo", data=b"x") as r:
                        assert await r.text() == "1"
            for _ in range(100):  # the server sees the close a moment later
                if not site.arrivals:
                    break
                await asyncio.sleep(0.01)
            assert site.arrivals == {}
        finally:
            await runner.cleanup()
        assert len(seen) == 2
        assert all(arrived <= entered for arrived, entered in seen)
        assert seen[0][0] < seen[1][0]

    asyncio.run(main())


def test_the_site_is_named_by_its_address_and_needs_a_set_up_runner() -> None:
    async def main() -> None:
        runner = web.AppRunner(web.Application())
        with pytest.raises(RuntimeError, match="setup"):
            ArrivalSite(runner, "127.0.0.1", 0, backlog=16)
        await runner.setup()
        assert ArrivalSite(runner, "127.0.0.1", 8123, backlog=16).name == "http://127.0.0.1:8123"
        await runner.cleanup()

    asyncio.run(main())
