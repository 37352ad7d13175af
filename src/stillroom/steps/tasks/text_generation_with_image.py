"""`TextGenerationWithImage`: `TextGeneration` whose user message also shows the row's image.

The `image` column holds, as `image_type` says, an http(s) URL, a base64 string (or a base64
`data:` URL) or a Pillow image; it is sent as an `image_url` part after the prompt's text,
which each backend turns into its own form (docs/llms/images.md). A base64 image is labelled
with the media type its bytes show (distilabel labels every one JPEG, which Anthropic refuses
for a PNG); a Pillow image is encoded as JPEG (the `vision` extra).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import Field

from stillroom.errors import StillroomError
from stillroom.models.image_generation.utils import image_to_str
from stillroom.steps.tasks.text_generation import TextGeneration
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType
from stillroom.utils.image_bytes import image_media_type


class TextGenerationWithImage(TextGeneration):
    """A reply for each row's prompt and `image`: inputs = `columns` + `image`."""

    image_type: Literal["url", "base64", "PIL"] = Field(
        default="url",
        description="What the image column holds: 'url', 'base64' or 'PIL' (a Pillow image).",
    )

    @property
    def inputs(self) -> StepColumns:
        return {**super().inputs, "image": True}  # type: ignore[dict-item]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        messages = super().format_input(input)
        text = str(messages[-1]["content"])
        messages[-1] = {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": self._image_url(input["image"])}},
            ],
        }
        return messages

    def _image_url(self, image: Any) -> str:
        """The row's image as the URL of an `image_url` part."""
        if self.image_type == "PIL":
            return f"data:image/jpeg;base64,{image_to_str(image, image_format='JPEG')}"
        if not isinstance(image, str) or not image:
            raise StillroomError(
                f"{self._label()}: column 'image' must hold a non-empty string with "
                f"image_type={self.image_type!r}, got {type(image).__name__}."
            )
        if self.image_type == "url" or image.startswith("data:"):
            return image
        try:
            head = base64.b64decode(image[:64], validate=True)
        except (binascii.Error, ValueError):
            raise StillroomError(
                f"{self._label()}: column 'image' is not base64 text (image_type='base64')."
            ) from None
        media_type = image_media_type(head)
        if media_type is None:
            raise StillroomError(
                f"{self._label()}: column 'image' holds no PNG, JPEG, GIF or WebP image."
            )
        return f"data:{media_type};base64,{image}"
