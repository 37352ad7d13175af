"""`OpenAIImageGeneration`: OpenAI's `/images/generations` (DALL·E, gpt-image), or a server
offering the same endpoint.

It is an `OpenAILLM` for everything but the request: the key (`OPENAI_API_KEY`), `base_url`,
retries honouring `Retry-After`, timeouts and rate limits are `RemoteLLM`'s. Images come back
base64-encoded: a reply holding `b64_json` is used as it is; one holding only `url`s (DALL·E's
default) has each URL downloaded, without the API key, since it points to another host.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from stillroom.errors import LLMRequestError
from stillroom.models.image_generation.base import AsyncImageGenerationModel, ImageOutput
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.remote import USER_AGENT
from stillroom.models.llms.sending import Request

ImageSize = Literal[
    "auto", "256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"
]


class OpenAIImageGeneration(AsyncImageGenerationModel, OpenAILLM):
    """Images from OpenAI's image generation API (`model`: "dall-e-3", "gpt-image-1", ...).

    `num_generations` is sent as `n` (DALL·E 3 accepts only 1). Each prompt's reply is
    `[{"images": [base64, ...]}]`, with `"statistics"` (input/output tokens) when the API
    reports usage (gpt-image models).
    """

    def request_settings(  # type: ignore[override]
        self,
        *,
        quality: Literal["standard", "hd", "low", "medium", "high", "auto"] | None = None,
        response_format: Literal["url", "b64_json"] | None = None,
        size: ImageSize | None = None,
        style: Literal["vivid", "natural"] | None = None,
        background: Literal["transparent", "opaque", "auto"] | None = None,
        output_format: Literal["png", "jpeg", "webp"] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The settings of an image request, as the API names them; one left at None is not
        sent, so the model's default applies (gpt-image models refuse `response_format`)."""
        return {
            "quality": quality,
            "response_format": response_format,
            "size": size,
            "style": style,
            "background": background,
            "output_format": output_format,
            **(extra_body or {}),
        }

    async def agenerate(  # type: ignore[override]
        self, input: str, num_generations: int = 1, **settings: Any
    ) -> list[ImageOutput]:
        """`num_generations` images for the prompt `input` (see `request_settings`)."""
        payload = {"model": self.model, "prompt": input, **self._settings_payload(settings)}
        if num_generations != 1:
            payload["n"] = num_generations
        images, usage = await self._send(
            Request(
                self._api_url("images/generations"),
                self._json_body(payload),
                read=self._read_images,
                tokens_used=lambda read: read[1].get("total_tokens"),
            )
        )
        encoded = [
            await self._download(image) if isinstance(image, _Url) else image for image in images
        ]
        output: ImageOutput = {"images": encoded}
        if usage:
            output["statistics"] = {
                "input_tokens": [usage.get("input_tokens")],
                "output_tokens": [usage.get("output_tokens")],
            }
        return [output]

    def _read_images(self, data: Any) -> tuple[list[str | _Url], dict[str, Any]]:
        """The images of a reply (base64 strings, or URLs to download) and its usage."""
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not entries:
            raise self._malformed("expected a JSON object with a non-empty 'data' list", data)
        images: list[str | _Url] = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("b64_json"), str):
                images.append(entry["b64_json"])
            elif isinstance(entry, dict) and isinstance(entry.get("url"), str):
                images.append(_Url(entry["url"]))
            else:
                raise self._malformed("each item of 'data' must hold 'b64_json' or 'url'", data)
        usage = data.get("usage")
        return images, usage if isinstance(usage, dict) else {}

    async def _download(self, url: _Url) -> str:
        """The image at `url`, base64-encoded (sent without the API key: another host)."""
        import httpx

        assert self._sessions is not None  # loaded: agenerate checked it
        session = await self._sessions.session()
        shown = url.split("?", 1)[0]  # the query of a signed URL is a credential too
        try:
            reply = await session.send("GET", url, {"user-agent": USER_AGENT}, b"", self.timeout)
        except httpx.HTTPError as exc:
            raise LLMRequestError(
                f"{self._label()}: downloading the image {shown} failed: {exc}"
            ) from None
        if not 200 <= reply.status < 300:
            raise LLMRequestError(
                f"{self._label()}: downloading the image {shown} answered {reply.status}; "
                "image URLs expire an hour after generation (ask response_format='b64_json')",
                status_code=reply.status,
            )
        return base64.b64encode(reply.body).decode("ascii")


class _Url(str):
    """An image the reply gives by URL, to download."""
