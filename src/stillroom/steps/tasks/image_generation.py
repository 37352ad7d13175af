"""`ImageGeneration`: an image from each row's `prompt` (distilabel's task of that name).

The `image` column holds the image as base64 text, in the format the model sent (PNG for
most services); `Distiset.transform_columns_to_image("image")` turns the column into images
once the run is over. With `save_artifacts`, each image is also written to the step's
artifacts folder as `images/<md5 of the prompt>.<image_format>`, and `image_path` gives
its path in the dataset's repository; an image in another format than `image_format` is
converted with Pillow (the `vision` extra).
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

from pydantic import Field

from stillroom.models.extras import import_extra
from stillroom.steps.tasks.base import ImageTask
from stillroom.steps.typing import StepColumns
from stillroom.utils.image_bytes import image_media_type

_FORMATS = {
    "JPEG": "image/jpeg",
    "JPG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}


class ImageGeneration(ImageTask):
    """One image per prompt: `prompt` in; `image` (base64), `image_path`, `model_name` out."""

    save_artifacts: bool = Field(
        default=False, description="Also write each image to the step's artifacts folder."
    )
    image_format: str = Field(
        default="JPEG", description="File format of the saved artifacts (a Pillow format name)."
    )

    def load(self) -> None:
        """Check, before any image is paid for, that saving as `image_format` can work:
        anything but PNG (what most services send) may need Pillow to convert."""
        super().load()
        if self.save_artifacts and self.image_format.upper() != "PNG":
            self._pil()

    def _pil(self) -> Any:
        return import_extra(
            "PIL.Image",
            f"ImageGeneration {self.name!r} saving images as {self.image_format}",
            "vision",
            "pillow",
        )

    @property
    def inputs(self) -> StepColumns:
        return ["prompt"]

    @property
    def outputs(self) -> StepColumns:
        return {"image": True, "image_path": False, "model_name": True}

    def format_input(self, input: dict[str, Any]) -> str:  # type: ignore[override]
        return str(input["prompt"])

    def format_output(  # type: ignore[override]
        self, output: dict[str, Any] | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        images = (output or {}).get("images") or []
        return {"image": images[0] if images else None}

    def _finalize_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = super()._finalize_rows(rows)
        if self.save_artifacts:
            for row in rows:
                if isinstance(row.get("image"), str):
                    row["image_path"] = self._save_image(row["image"], str(row.get("prompt")))
        return rows

    def _save_image(self, image: str, prompt: str) -> str | None:
        """Write `image` as an artifact; its path in the dataset's repository (None when
        the step runs outside a pipeline, so has no artifacts folder)."""
        name = f"{hashlib.md5(prompt.encode()).hexdigest()}.{self.image_format.lower()}"
        data = self._in_format(base64.b64decode(image))
        self.save_artifact(
            "images", lambda folder: (folder / name).write_bytes(data), {"type": "image"}
        )
        if self.artifacts_directory is None:
            return None  # save_artifact said why
        return str(Path("artifacts") / str(self.name) / "images" / name)

    def _in_format(self, data: bytes) -> bytes:
        """`data` in `image_format`: as it is when it already is, else through Pillow."""
        if image_media_type(data) == _FORMATS.get(self.image_format.upper()):
            return data
        pil_image = self._pil()
        buffer = io.BytesIO()
        image = pil_image.open(io.BytesIO(data))
        if self.image_format.upper() in ("JPEG", "JPG") and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, format=self.image_format)
        return buffer.getvalue()
