"""Image files as bytes: what format a file is and a tiny PNG encoder (no Pillow), and the
Pillow image a base64 string holds (Pillow imported only then).

The format is read from the file's first bytes (its signature), which is how an API checks
that an uploaded image is what its media type says. The encoder writes a truecolour PNG
(zlib + CRC chunks, as the PNG specification lays out), enough for test images.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

from stillroom.errors import MissingExtraError

_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def image_media_type(data: bytes) -> str | None:
    """The media type of the PNG, JPEG, GIF or WebP file `data` holds; None for anything else."""
    for signature, media_type in _SIGNATURES.items():
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def pil_image(text: str, feature: str) -> Any:
    """The Pillow image that the base64 `text` (or a base64 `data:` URL) holds; Pillow is the
    `vision` extra, and `feature` names what needed it when it is missing."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingExtraError(feature, "vision", "pillow") from exc
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    return Image.open(io.BytesIO(base64.b64decode(text)))


def png_bytes(width: int, height: int, pixel: tuple[int, int, int]) -> bytes:
    """A `width` x `height` PNG filled with the RGB colour `pixel`."""
    row = b"\x00" + bytes(pixel) * width  # filter type 0 (none) before each row

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
