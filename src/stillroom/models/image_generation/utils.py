"""Base64 strings to and from Pillow images (distilabel's `image_generation.utils`).

Pillow is the `vision` extra, imported only when an image is decoded.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from stillroom.utils.image_bytes import pil_image

if TYPE_CHECKING:
    from PIL.Image import Image


def image_to_str(image: Image, image_format: str = "JPEG") -> str:
    """`image` saved in `image_format`, base64-encoded."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image_from_str(image_str: str) -> Image:
    """The Pillow image a base64 string (or a base64 data URL) holds."""
    image: Image = pil_image(image_str, "image_from_str")
    return image
