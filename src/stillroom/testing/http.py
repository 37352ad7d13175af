"""The small piece of HTTP/1.1 the mock server needs, over asyncio streams.

Requests carry a `Content-Length` body (what every JSON client sends); connections stay open
between requests unless the client asks otherwise. Responses are built as one `bytes` object
so each reply costs a single write.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

MAX_HEADER_BYTES = 64 * 1024
"""Largest request head (request line and headers) accepted; the stream reader's limit."""

_REASONS = {status.value: status.phrase for status in HTTPStatus}


class ProtocolError(Exception):
    """A request the server cannot read; answered with `status` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Request:
    """One parsed HTTP request. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    def json(self) -> Any:
        """The body decoded as JSON (raises `ValueError` when it is not JSON)."""
        return json.loads(self.body)


async def read_request(reader: asyncio.StreamReader, max_body_bytes: int) -> Request | None:
    """Read the next request from a connection, or None if the client closed it cleanly.

    Raises `ProtocolError` for a request that cannot be served (bad request line, a chunked
    body, a body over `max_body_bytes`, headers over `MAX_HEADER_BYTES`).
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ProtocolError(400, "connection closed in the middle of a request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise ProtocolError(431, f"request head is over {MAX_HEADER_BYTES} bytes") from None

    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ProtocolError(400, f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts

    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(400, f"malformed header line {line[:100]!r}")
            headers[name.strip().lower()] = value.strip()

    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ProtocolError(411, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise ProtocolError(400, "Content-Length is not an integer") from None
    if length < 0 or length > max_body_bytes:
        raise ProtocolError(413, f"request body of {length} bytes (limit {max_body_bytes})")
    body = await reader.readexactly(length) if length else b""

    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    path, _, query = target.partition("?")
    return Request(
        method=method,
        path=path,
        query=dict(parse_qsl(query)) if query else {},
        headers=headers,
        body=body,
        keep_alive=keep_alive,
    )


def encode_response(
    status: int,
    body: bytes,
    *,
    keep_alive: bool,
    content_type: str = "application/json",
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """One complete HTTP/1.1 response, ready to write."""
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
        f"content-type: {content_type}",
        f"content-length: {len(body)}",
    ]
    if not keep_alive:
        head.append("connection: close")
    if extra_headers:
        head.extend(f"{name}: {value}" for name, value in extra_headers.items())
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def json_bytes(payload: Any) -> bytes:
    """Compact JSON encoding used for every response body."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
