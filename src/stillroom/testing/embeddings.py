"""The mock server's `/v1/embeddings`: OpenAI's embeddings API with made-up vectors.

A text's vector is derived from a hash of the text, so the same text always gets the same
vector and different texts differ; `dimensions` in the request sets the length (default
`DEFAULT_DIMENSIONS`). The request is checked as OpenAI checks it: `model`, and `input` as a
string or a non-empty list of strings.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from stillroom.testing.dialects import BadRequest

DEFAULT_DIMENSIONS = 16


def vector_of(text: str, dimensions: int) -> list[float]:
    """A deterministic vector for `text`, with components in [-1, 1)."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}\x00{text}".encode()).digest()
        values.extend(v / 2**31 for v in struct.unpack("<8i", digest))
        counter += 1
    return values[:dimensions]


def parse_embeddings_request(body: Any) -> tuple[list[str], int]:
    """The texts and the vector length a request asks for; `BadRequest` when malformed."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("'model' is required")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest("'input' must be a string or a non-empty list of strings")
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(dimensions, int) or dimensions < 1:
        raise BadRequest("'dimensions' must be a positive integer")
    return texts, dimensions


def embeddings_reply(model: str, texts: list[str], dimensions: int) -> dict[str, Any]:
    """OpenAI's reply shape for `texts`."""
    tokens = sum(max(1, len(t) // 4) for t in texts)
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": vector_of(t, dimensions)}
            for i, t in enumerate(texts)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
