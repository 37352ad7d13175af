"""Image parts of chat messages, checked as the real APIs check them.

OpenAI takes `{"type": "image_url", "image_url": {"url": ...}}` (an http(s) URL, or a base64
`data:` URL of a PNG, JPEG, GIF or WebP image); Anthropic takes `{"type": "image", "source":
{"type": "base64", "media_type", "data"} | {"type": "url", "url"}}`, and its media type must
match the image. Each checker returns how many images a content holds and raises `ValueError`
with the API's kind of message for a malformed part (the dialect turns it into a 400). Only
the first bytes of base64 data are decoded, to read the image's signature.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from stillroom.utils.image_bytes import image_media_type

MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")

_DATA_URL = re.compile(r"data:(?P<media>[^;,]+)(;[^;,]*)*;base64,(?P<data>.*)", re.S)


def _sniff(data: str, where: str) -> str:
    """The media type of base64 `data` (checked as base64 whole, decoded only at its start)."""
    if not data or re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", data) is None or len(data) % 4:
        raise ValueError(f"{where}: the image data is not valid base64")
    try:
        head = base64.b64decode(data[:64], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where}: the image data is not valid base64") from None
    media_type = image_media_type(head)
    if media_type is None:
        raise ValueError(
            f"{where}: you uploaded an unsupported image; supported formats are png, jpeg, "
            "gif and webp"
        )
    return media_type


def openai_images(content: Any, where: str) -> int:
    """Image parts in an OpenAI chat message's content."""
    if not isinstance(content, list):
        return 0
    count = 0
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        here = f"{where}.content[{i}]"
        if kind in ("text", "refusal", "input_audio", "file", None):
            continue
        if kind != "image_url":
            raise ValueError(
                f"Invalid value: {kind!r} at {here}.type. Supported values are: 'text', "
                "'image_url', 'input_audio', 'refusal', 'audio' and 'file'."
            )
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str):
            raise ValueError(f"Missing required parameter: '{here}.image_url.url'.")
        if not url.startswith(("http://", "https://")):
            match = _DATA_URL.fullmatch(url)
            if match is None or not match["media"].startswith("image/"):
                raise ValueError(
                    f"Invalid image URL: '{here}.image_url.url'. Expected a base64-encoded data "
                    "URL with an image MIME type (e.g. 'data:image/png;base64,...') or an "
                    "http(s) URL."
                )
            _sniff(match["data"], f"{here}.image_url.url")
        count += 1
    return count


def anthropic_images(content: Any, where: str) -> int:
    """Image blocks in an Anthropic message's content."""
    if not isinstance(content, list):
        return 0
    count = 0
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        here = f"{where}.content.{i}"
        if kind in ("text", "tool_use", "tool_result", "document", None):
            continue
        if kind != "image":
            raise ValueError(
                f"{here}: Input tag {kind!r} found using 'type' does not match any of the "
                "expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result'"
            )
        source = block.get("source")
        if not isinstance(source, dict):
            source = {}
        if source.get("type") == "url":
            url = source.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"{here}.image.source.url.url: must be an http(s) URL")
        elif source.get("type") == "base64":
            media_type = source.get("media_type")
            if media_type not in MEDIA_TYPES:
                raise ValueError(
                    f"{here}.image.source.base64.media_type: Input should be 'image/jpeg', "
                    "'image/png', 'image/gif' or 'image/webp'"
                )
            actual = _sniff(str(source.get("data") or ""), f"{here}.image.source.base64")
            if actual != media_type:
                raise ValueError(
                    f"{here}.image.source.base64.data: The image was specified using the "
                    f"{media_type} media type, but the image appears to be a {actual} image"
                )
        else:
            raise ValueError(f"{here}.image.source: 'type' must be 'base64' or 'url'")
        count += 1
    return count
