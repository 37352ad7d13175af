"""`ImageGenerationModel` and `AsyncImageGenerationModel`: models that turn a prompt into images.

Same contract as distilabel's: `generate(inputs, num_generations)` takes a list of prompts and
returns, per prompt, a list holding one dict `{"images": [base64 string, ...]}`;
`agenerate(input, num_generations)` answers one prompt with that list. What a pipeline calls,
`generate_results` / `agenerate_result`, gives each prompt's images as a `GenerateOutput`
instead (one image a generation), so the request cache, the counters and `ImageTask` treat
them like any reply. They are `LLM`s
underneath, so they load, serialise, take `generation_kwargs` (checked against the model's
own settings) and bound their requests in flight like any backend; the HTTP ones reuse
`RemoteLLM`'s key handling, retries, timeouts and rate limits.
"""

from __future__ import annotations

import base64
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from stillroom.models.llms.base import LLM, AsyncLLM
from stillroom.typing import GenerateOutput

ImageOutput = dict[str, Any]
"""What one prompt gets back: `{"images": [base64-encoded image, ...]}`."""


def as_generations(outputs: list[ImageOutput]) -> GenerateOutput:
    """One prompt's images as a `GenerateOutput`, one image a generation: the form the
    pipeline's cache, counters and `ImageTask` rows take. The prompt's token usage goes to
    the first image (the counters sum it; there is no per-image figure)."""
    images = [image for output in outputs for image in output.get("images") or []]
    input_tokens = output_tokens = 0
    reported = False
    for output in outputs:
        statistics = output.get("statistics") or {}
        for key, values in statistics.items():
            reported = reported or bool(values)
            total = sum(v for v in values if v)
            if key == "input_tokens":
                input_tokens += total
            elif key == "output_tokens":
                output_tokens += total
    if not (reported and images):
        return {"generations": list(images), "statistics": {}}
    rest = [0] * (len(images) - 1)
    return {
        "generations": list(images),
        "statistics": {
            "input_tokens": [input_tokens, *rest],
            "output_tokens": [output_tokens, *rest],
        },
    }


def images_output(images: list[bytes]) -> list[ImageOutput]:
    """The reply to one prompt, from the images' bytes (encoded as they came, not re-encoded)."""
    return [{"images": [base64.b64encode(image).decode("ascii") for image in images]}]


class ImageGenerationModel(LLM):
    """Base of the image generation models: prompts in, base64-encoded images out."""

    def _label(self) -> str:
        return f"image generation model {type(self).__name__}({self.model_name!r})"

    def get_generation_kwargs(self) -> dict[str, Any]:
        """The settings sent with every prompt (`generation_kwargs`), as distilabel's."""
        return dict(self.generation_kwargs)

    @abstractmethod
    def generate(  # type: ignore[override]
        self, inputs: list[str], num_generations: int = 1, **kwargs: Any
    ) -> list[list[ImageOutput]]:
        """For each prompt, a list with one `{"images": [...]}` dict."""

    def generate_outputs(  # type: ignore[override]  # prompts in, images out (distilabel's)
        self, inputs: list[str], num_generations: int = 1, **kwargs: Any
    ) -> list[list[ImageOutput]]:
        """`generate`, under the name distilabel's tasks call (no batch API for images)."""
        return self.generate(inputs, num_generations=num_generations, **kwargs)


class AsyncImageGenerationModel(ImageGenerationModel, AsyncLLM):
    """An image generation model answering one prompt at a time, asynchronously."""

    @abstractmethod
    async def agenerate(  # type: ignore[override]
        self, input: str, num_generations: int = 1, **kwargs: Any
    ) -> list[ImageOutput]:
        """`[{"images": [...]}]` for one prompt."""

    def generate(  # type: ignore[override]
        self, inputs: list[str], num_generations: int = 1, **kwargs: Any
    ) -> list[list[ImageOutput]]:
        """`agenerate` for every prompt concurrently (at most `max_concurrent_requests`)."""
        return AsyncLLM.generate(self, inputs, num_generations, **kwargs)  # type: ignore[arg-type,return-value]

    async def agenerate_result(  # type: ignore[override]
        self, input: str, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput | BaseException:
        """The images for one prompt as a `GenerateOutput` (see `as_generations`), with
        `generation_kwargs`; a failure is returned, not raised. What a pipeline calls."""
        try:
            outputs = await self.agenerate(
                input, num_generations=num_generations, **{**self.generation_kwargs, **kwargs}
            )
        except Exception as exc:
            return exc
        return as_generations(outputs)

    def generate_results(  # type: ignore[override]
        self, inputs: list[str], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        """`agenerate_result` for every prompt concurrently."""
        return AsyncLLM.generate_results(self, inputs, num_generations, **kwargs)  # type: ignore[arg-type]

    def _generation_signature(self) -> Callable[..., Any]:
        # the settings a model takes are those of its `request_settings` when it has one
        settings = getattr(type(self), "request_settings", None)
        return settings if callable(settings) else type(self).agenerate
