"""The mock server's `/v1/images/generations`: OpenAI's image API with made-up pictures.

Each image is a small PNG (`IMAGE_SIDE` pixels square) of one colour derived from a hash of
the prompt and the image's index, so the same request always gets the same images. The
request is checked as OpenAI checks it: `model`, a non-empty `prompt`, `n` from 1 to 10 and
`response_format` "b64_json" or "url" (the URL then points back to this server's
`/_images/INDEX.png?prompt=...`, which serves the PNG). Usage is reported as gpt-image models do.
Hugging Face's text-to-image task is served at `/hf-inference/models/{model id}`, the router's
path: the reply is the PNG itself.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import quote

from stillroom.testing.dialects import BadRequest
from stillroom.utils.image_bytes import png_bytes

IMAGE_SIDE = 8
MAX_IMAGES = 10
IMAGE_TOKENS = 16
"""Output tokens reported per image."""


def image_of(prompt: str, index: int) -> bytes:
    """The PNG made for image `index` of `prompt`."""
    red, green, blue = hashlib.sha256(f"{index}\x00{prompt}".encode()).digest()[:3]
    return png_bytes(IMAGE_SIDE, IMAGE_SIDE, (red, green, blue))


def parse_images_request(body: Any) -> tuple[str, int, str]:
    """The prompt, the number of images and the response format a request asks for."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("'model' is required")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest("'prompt' is required and must be a non-empty string")
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise BadRequest(f"'n' must be an integer from 1 to {MAX_IMAGES}, got {n!r}")
    response_format = body.get("response_format") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise BadRequest(
            f"Invalid value: {response_format!r}. Supported values are: 'url' and 'b64_json'."
        )
    return prompt, n, response_format


def parse_text_to_image_request(body: Any) -> str:
    """The prompt of a Hugging Face text-to-image request (`{"inputs": ..., "parameters":
    {...}}`), whose reply is the image file itself."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    prompt = body.get("inputs")
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest("'inputs' must be a non-empty string (the prompt)")
    if not isinstance(body.get("parameters", {}), dict):
        raise BadRequest("'parameters' must be an object")
    return prompt


def images_reply(prompt: str, n: int, response_format: str, url_root: str) -> dict[str, Any]:
    """The reply body: `n` images, base64-encoded or as URLs under `url_root`."""
    data = [
        {"b64_json": base64.b64encode(image_of(prompt, i)).decode("ascii")}
        if response_format == "b64_json"
        else {"url": f"{url_root}/_images/{i}.png?prompt={quote(prompt)}"}
        for i in range(n)
    ]
    words, image_tokens = len(prompt.split()), IMAGE_TOKENS * n
    return {
        "created": int(time.time()),
        "data": data,
        "usage": {
            "input_tokens": words,
            "output_tokens": image_tokens,
            "total_tokens": words + image_tokens,
        },
    }
