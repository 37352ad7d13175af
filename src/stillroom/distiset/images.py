"""Base64 image columns -> `datasets.Image` columns (`Distiset.transform_columns_to_image`).

Steps that make images store them as base64 text (a PNG or JPEG, optionally as a
`data:image/...;base64,` URL); the Hub shows a column typed `datasets.Image` as pictures.
Decoding needs Pillow, imported only when an image is decoded (`utils.image_bytes`).
"""

from __future__ import annotations

from typing import Any

from stillroom.errors import StillroomError
from stillroom.utils.image_bytes import pil_image


def image_from_text(text: str) -> Any:
    """The `PIL.Image` encoded as base64 in `text`."""
    return pil_image(text, "Distiset.transform_columns_to_image")


def columns_to_image(dataset: Any, columns: list[str]) -> Any:
    """`dataset` with each of `columns` it has decoded and typed as `datasets.Image`."""
    from datasets import Image

    present = [c for c in columns if c in dataset.column_names]
    if not present:
        raise StillroomError(
            f"transform_columns_to_image: none of {columns} is a column of this dataset "
            f"(its columns: {dataset.column_names})."
        )

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        return {c: image_from_text(row[c]) if isinstance(row[c], str) else row[c] for c in present}

    features = dataset.features.copy()
    for column in present:
        features[column] = Image(decode=True)
    return dataset.map(decode, features=features)
