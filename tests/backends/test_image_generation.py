"""The image generation models: OpenAI's images API and Hugging Face text-to-image, by respx
and against the mock server."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx
from backend_helpers import API_KEY, FAST, OPENAI_URL, ROUTER_URL, TGI_URL

from stillroom.errors import LLMRequestError, UnknownRuntimeParameterError
from stillroom.models import OpenAIImageGeneration as FromModels
from stillroom.models.image_generation import (
    AsyncImageGenerationModel,
    ImageGenerationModel,
    InferenceEndpointsImageGeneration,
    OpenAIImageGeneration,
)
from stillroom.testing import MockLLMServer
from stillroom.testing.images import image_of
from stillroom.utils.image_bytes import png_bytes

pytestmark = pytest.mark.timeout(60)

PNG = png_bytes(3, 2, (10, 20, 30))
PNG_B64 = base64.b64encode(PNG).decode()
IMAGES_URL = f"{OPENAI_URL}/images/generations"


def openai_model(**kwargs: Any) -> OpenAIImageGeneration:
    settings = {"model": "gpt-image-1", "base_url": OPENAI_URL, "api_key": API_KEY, **FAST}
    return OpenAIImageGeneration(**{**settings, **kwargs})


def test_the_classes_sit_at_distilabels_paths():
    from stillroom.models.image_generation.huggingface import (
        InferenceEndpointsImageGeneration as FromHuggingface,
    )

    assert FromModels is OpenAIImageGeneration
    assert FromHuggingface is InferenceEndpointsImageGeneration
    assert issubclass(OpenAIImageGeneration, AsyncImageGenerationModel)
    assert issubclass(AsyncImageGenerationModel, ImageGenerationModel)


def test_openai_images_as_base64_with_usage(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(IMAGES_URL).respond(
        200,
        json={
            "created": 1,
            "data": [{"b64_json": PNG_B64}, {"b64_json": "QUJD"}],
            "usage": {"input_tokens": 4, "output_tokens": 272, "total_tokens": 276},
        },
    )
    model = loaded(openai_model(generation_kwargs={"size": "1024x1024", "quality": "low"}))
    outputs = model.generate_outputs(["a white siamese cat"], num_generations=2, size="1024x1024")
    assert outputs == [
        [
            {
                "images": [PNG_B64, "QUJD"],
                "statistics": {"input_tokens": [4], "output_tokens": [272]},
            }
        ]
    ]
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "model": "gpt-image-1",
        "prompt": "a white siamese cat",
        "size": "1024x1024",
        "n": 2,
    }
    assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"


def test_a_reply_without_usage_is_distilabels_shape(mock_api: respx.MockRouter, loaded):
    mock_api.post(IMAGES_URL).respond(200, json={"created": 1, "data": [{"b64_json": PNG_B64}]})
    model = loaded(openai_model())
    assert model.generate(["a", "b"]) == [[{"images": [PNG_B64]}], [{"images": [PNG_B64]}]]


def test_image_urls_are_downloaded_without_the_key(mock_api: respx.MockRouter, loaded):
    mock_api.post(IMAGES_URL).respond(
        200, json={"created": 1, "data": [{"url": "https://files.test/img.png?sig=abc"}]}
    )
    download = mock_api.get("https://files.test/img.png?sig=abc").respond(200, content=PNG)
    model = loaded(openai_model(model="dall-e-3"))
    assert model.generate(["a cat"], response_format="url") == [[{"images": [PNG_B64]}]]
    assert "authorization" not in download.calls.last.request.headers


def test_an_expired_image_url_is_a_clear_error(mock_api: respx.MockRouter, loaded):
    mock_api.post(IMAGES_URL).respond(
        200, json={"created": 1, "data": [{"url": "https://files.test/img.png?sig=secret"}]}
    )
    mock_api.get("https://files.test/img.png?sig=secret").respond(403)
    model = loaded(openai_model(model="dall-e-3"))
    with pytest.raises(LLMRequestError, match="answered 403") as caught:
        model.generate(["a cat"])
    assert "sig=secret" not in str(caught.value)


def test_401_names_the_key_variable(mock_api: respx.MockRouter, loaded):
    mock_api.post(IMAGES_URL).respond(401, json={"error": {"message": "Incorrect API key"}})
    model = loaded(openai_model())
    with pytest.raises(LLMRequestError, match="OPENAI_API_KEY") as caught:
        model.generate(["a cat"])
    assert API_KEY not in str(caught.value)


def test_429_with_retry_after_then_success(mock_api: respx.MockRouter, loaded, sleeps):
    route = mock_api.post(IMAGES_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "2"}, json={"error": {}}),
            httpx.Response(200, json={"data": [{"b64_json": PNG_B64}]}),
        ]
    )
    model = loaded(openai_model())
    assert model.generate(["a cat"]) == [[{"images": [PNG_B64]}]]
    assert route.call_count == 2
    (delay,) = sleeps
    assert 2.0 <= delay <= 2.2  # Retry-After, plus a little jitter


@pytest.mark.parametrize(
    "body", [{"data": []}, {"data": [{"revised_prompt": "x"}]}, {"error": "nope"}, ["x"]]
)
def test_a_malformed_reply_is_not_retried(mock_api: respx.MockRouter, loaded, body):
    route = mock_api.post(IMAGES_URL).respond(200, json=body)
    model = loaded(openai_model())
    with pytest.raises(LLMRequestError, match="malformed reply"):
        model.generate(["a cat"])
    assert route.call_count == 1


def test_unknown_settings_are_refused_before_any_request(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(IMAGES_URL).respond(200, json={"data": [{"b64_json": PNG_B64}]})
    model = loaded(openai_model())
    with pytest.raises(UnknownRuntimeParameterError, match="temperature"):
        model.generate(["a cat"], temperature=0.5)
    assert route.call_count == 0


def test_a_prompt_string_instead_of_a_list_is_a_clear_error(loaded):
    model = loaded(openai_model())
    with pytest.raises(TypeError, match="list of inputs"):
        model.generate("a cat")  # type: ignore[arg-type]


def test_the_key_never_enters_the_dump():
    dumped = json.dumps(openai_model().dump())
    assert API_KEY not in dumped and "OpenAIImageGeneration" in dumped


# --- Hugging Face ----------------------------------------------------------------------------


def test_hf_router_text_to_image(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(f"{ROUTER_URL}/hf-inference/models/org/flux").respond(
        200, content=PNG, headers={"content-type": "image/png"}
    )
    model = loaded(InferenceEndpointsImageGeneration(model_id="org/flux", api_key=API_KEY, **FAST))
    outputs = model.generate(["a cat"], num_generations=2, width=512, guidance_scale=3.5)
    assert outputs == [[{"images": [PNG_B64, PNG_B64]}]]
    assert route.call_count == 2
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "inputs": "a cat",
        "parameters": {"width": 512, "guidance_scale": 3.5},
    }
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["accept"].startswith("image/")
    assert model.model_name == "org/flux"


def test_hf_server_by_base_url_needs_no_token(mock_api: respx.MockRouter, loaded, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", "/nonexistent/token")
    route = mock_api.post(TGI_URL).respond(200, content=PNG)
    model = loaded(InferenceEndpointsImageGeneration(base_url=TGI_URL, **FAST))
    assert model.generate(["a cat"]) == [[{"images": [PNG_B64]}]]
    assert json.loads(route.calls.last.request.content) == {"inputs": "a cat"}


def test_hf_reply_that_is_no_image_is_malformed(mock_api: respx.MockRouter, loaded):
    mock_api.post(f"{ROUTER_URL}/hf-inference/models/org/flux").respond(
        200, json={"generated_text": "not an image"}
    )
    model = loaded(InferenceEndpointsImageGeneration(model_id="org/flux", api_key=API_KEY, **FAST))
    with pytest.raises(LLMRequestError, match="expected an image"):
        model.generate(["a cat"])


def test_hf_401_names_hf_token(mock_api: respx.MockRouter, loaded):
    mock_api.post(f"{ROUTER_URL}/hf-inference/models/org/flux").respond(
        401, json={"error": "Invalid credentials"}
    )
    model = loaded(InferenceEndpointsImageGeneration(model_id="org/flux", api_key=API_KEY, **FAST))
    with pytest.raises(LLMRequestError, match="HF_TOKEN"):
        model.generate(["a cat"])


# --- against the mock server -------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_mock_server_images(loaded, transport, response_format):
    with MockLLMServer(api_key="k-mock", fail_first=1, fail_with=500) as server:
        model = loaded(
            OpenAIImageGeneration(
                model="gpt-image-1",
                base_url=server.base_url,
                api_key="k-mock",
                http_transport=transport,
                **FAST,
            )
        )
        outputs = model.generate(
            ["a cat", "a dog"], num_generations=2, response_format=response_format
        )
        stats = server.stats()
    for prompt, (output,) in zip(["a cat", "a dog"], outputs, strict=True):
        images = [base64.b64decode(image) for image in output["images"]]
        assert images == [image_of(prompt, 0), image_of(prompt, 1)]
        assert images[0] != images[1]
    assert stats.requests_by_endpoint == {"images.generations": 4}
    assert stats.errors_by_status == {500: 2}


def test_mock_server_refuses_a_wrong_key(loaded):
    with MockLLMServer(api_key="k-mock") as server:
        model = loaded(
            OpenAIImageGeneration(
                model="gpt-image-1", base_url=server.base_url, api_key="wrong", **FAST
            )
        )
        with pytest.raises(LLMRequestError, match="401"):
            model.generate(["a cat"])


def test_mock_server_hf_text_to_image(loaded):
    with MockLLMServer(api_key="hf-mock", fail_first=1, fail_with=503) as server:
        model = loaded(
            InferenceEndpointsImageGeneration(
                base_url=f"{server.url}/hf-inference/models/org/flux", api_key="hf-mock", **FAST
            )
        )
        outputs = model.generate(["a cat", "a dog"], guidance_scale=2.0)
        stats = server.stats()
    assert [base64.b64decode(output["images"][0]) for (output,) in outputs] == [
        image_of("a cat", 0),
        image_of("a dog", 0),
    ]
    assert stats.requests_by_endpoint == {"text-to-image": 4}
    assert stats.errors_by_status == {503: 2}
