"""`SessionTransport`: an httpx transport over an LLM's `transport.LoopSessions`.

An `httpx.AsyncClient` built on it (the openai SDK client `OpenAILLM` offers as `_aclient`,
the plain client of `AnthropicLLM`) shares the LLM's connections and works from any event loop.
A module of its own because subclassing httpx's transport imports httpx, which only code
building such a client should pay for.
"""

from __future__ import annotations

import httpx

from stillroom.models.llms.transport import LoopSessions

_SET_BY_THE_SESSION = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}
)
"""Request headers each session computes itself (the encodings: those it can decode)."""

_NOT_VALID_AFTER_DECODING = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Response headers describing the body on the wire, not the decoded body a session returns."""


class SessionTransport(httpx.AsyncBaseTransport):
    """An httpx transport sending through `LoopSessions`: an `httpx.AsyncClient` built on it
    (such as the openai SDK client `OpenAILLM` keeps in `_aclient`) shares the LLM's
    connections and works from any event loop."""

    def __init__(self, sessions: LoopSessions) -> None:
        self._sessions = sessions

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in _SET_BY_THE_SESSION
        ]
        timeout = request.extensions.get("timeout", {}).get("read")
        session = await self._sessions.session()
        try:
            reply = await session.send(request.method, str(request.url), headers, body, timeout)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        return httpx.Response(
            reply.status,
            headers=[
                (name, value)
                for name, value in reply.headers.items()
                if name.lower() not in _NOT_VALID_AFTER_DECODING
            ],
            content=reply.body,
            request=request,
            extensions={"reason_phrase": reply.reason.encode()},
        )
