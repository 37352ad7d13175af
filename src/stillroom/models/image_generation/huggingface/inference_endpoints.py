"""`InferenceEndpointsImageGeneration`: text-to-image on Hugging Face, over plain HTTP.

Where the model runs is chosen as for `InferenceEndpointsLLM` (whose key handling, endpoint
lookup, retries and limits it reuses): `model_id` through the router's `hf-inference`
provider, `endpoint_name` for a dedicated Inference Endpoint, `base_url` for any server
speaking the text-to-image task. The request is `{"inputs": prompt, "parameters": {...}}`; the
reply is the image file itself, returned base64-encoded as it came (distilabel re-encodes it
as JPEG through Pillow; this keeps the server's format and needs no Pillow).
"""

from __future__ import annotations

from typing import Any

from stillroom.models.image_generation.base import (
    AsyncImageGenerationModel,
    ImageOutput,
    images_output,
)
from stillroom.models.llms.huggingface.inference_endpoints import ROUTER_URL, InferenceEndpointsLLM
from stillroom.models.llms.sending import Request
from stillroom.utils.image_bytes import image_media_type


class InferenceEndpointsImageGeneration(AsyncImageGenerationModel, InferenceEndpointsLLM):
    """Images from a Hugging Face text-to-image model (e.g. model_id="black-forest-labs/FLUX.1-schnell").

    The task makes one image per request: `num_generations` > 1 sends that many requests.
    """

    def request_settings(  # type: ignore[override]
        self,
        *,
        negative_prompt: str | None = None,
        height: float | None = None,
        width: float | None = None,
        num_inference_steps: float | None = None,
        guidance_scale: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The text-to-image `parameters`; one left at None is not sent."""
        return {
            "negative_prompt": negative_prompt,
            "height": height,
            "width": width,
            "num_inference_steps": num_inference_steps,
            "guidance_scale": guidance_scale,
            "seed": seed,
        }

    def _request_headers(self) -> dict[str, str]:
        return {**super()._request_headers(), "accept": "image/png, image/jpeg, image/*"}

    def _image_url(self) -> str:
        if self.model_id:
            return f"{ROUTER_URL}/hf-inference/models/{self.model_id}"
        return self._endpoint()

    async def agenerate(  # type: ignore[override]
        self, input: str, num_generations: int = 1, **settings: Any
    ) -> list[ImageOutput]:
        """`num_generations` images for the prompt `input` (see `request_settings`)."""
        parameters = self._settings_payload(settings)
        body: dict[str, Any] = {"inputs": input}
        if parameters:
            body["parameters"] = parameters
        request = Request(self._image_url(), self._json_body(body), read=self._read_image, raw=True)
        return images_output([await self._send(request) for _ in range(num_generations)])

    def _read_image(self, data: bytes) -> bytes:
        if image_media_type(data) is None:
            received = data[:300].decode("utf-8", "replace")
            raise self._malformed("expected an image (PNG, JPEG, GIF or WebP bytes)", received)
        return data
