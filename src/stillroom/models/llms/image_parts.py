"""Image parts of chat messages, for the APIs that do not take OpenAI's form.

A conversation holds images as OpenAI's `image_url` parts (`ImageContent`: an `http(s)://`
URL or a `data:image/...;base64,...` URL). OpenAI-compatible servers take them as they are;
Anthropic wants an `image` block whose `source` is `{"type": "base64", "media_type", "data"}`
or `{"type": "url", "url"}`. The conversion checks each part, so a mistake is a clear error
before any request is paid for.
"""

from __future__ import annotations

import re
from typing import Any

from stillroom.errors import StillroomError

ANTHROPIC_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""The image formats the Messages API accepts."""

IMAGE_TOKENS = 1_000
"""A rough token count of one image, for a tokens-per-minute estimate (Anthropic counts
about width * height / 750, at most ~1,600; OpenAI 85 to ~1,100)."""

_DATA_URL = re.compile(
    r"data:(?P<media>[\w.+-]+/[\w.+-]+)(?P<params>(;[^;,]*)*);base64,(?P<data>.*)", re.S
)


def data_url_parts(url: str) -> tuple[str, str] | None:
    """`(media type, base64 data)` of a base64 `data:` URL; None for any other URL."""
    match = _DATA_URL.fullmatch(url)
    return (match["media"].lower(), match["data"]) if match else None


def count_images(content: Any) -> int:
    """How many image parts a message's content holds."""
    if not isinstance(content, list):
        return 0
    return sum(
        1
        for part in content
        if isinstance(part, dict) and part.get("type") in ("image_url", "image")
    )


def anthropic_content(content: Any, where: str) -> Any:
    """A message's content for the Messages API: a string as it is, a list of parts with
    each `image_url` part turned into an `image` block (Anthropic's own blocks kept)."""
    if not isinstance(content, list):
        return content
    return [_anthropic_part(part, f"{where}, part {i}") for i, part in enumerate(content)]


def _anthropic_part(part: Any, where: str) -> Any:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return part  # text, or a block already in Anthropic's form
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise StillroomError(
            f"{where}: an image_url part needs {{'image_url': {{'url': ...}}}} with an "
            "http(s) URL or a data:image/...;base64,... URL."
        )
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    parsed = data_url_parts(url)
    if parsed is None:
        raise StillroomError(
            f"{where}: the image URL {url[:40]!r}... is neither an http(s) URL nor a base64 "
            "data URL (data:image/png;base64,...)."
        )
    media_type, data = parsed
    if media_type not in ANTHROPIC_MEDIA_TYPES:
        raise StillroomError(
            f"{where}: Anthropic takes {', '.join(sorted(ANTHROPIC_MEDIA_TYPES))} images, "
            f"not {media_type}; convert the image first."
        )
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
