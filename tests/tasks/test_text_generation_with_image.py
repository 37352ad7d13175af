"""`TextGenerationWithImage`: the prompt and the row's image in one user message, sent to
OpenAI-compatible and Anthropic models (the mock server checks the image parts)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from stillroom.errors import StillroomError
from stillroom.models import AnthropicLLM, OpenAILLM
from stillroom.models.llms.mock import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGenerationWithImage
from stillroom.testing import MockLLMServer
from stillroom.utils.image_bytes import png_bytes

pytestmark = pytest.mark.timeout(60)

PNG = base64.b64encode(png_bytes(2, 2, (9, 9, 9))).decode()
GIF = base64.b64encode(b"GIF89a" + b"\x00" * 30).decode()


def task(**options) -> TextGenerationWithImage:
    return TextGenerationWithImage(name="look", llm=MockLLM(), **options)


def image_part(messages: list[dict]) -> str:
    (text, image) = messages[-1]["content"]
    assert text == {"type": "text", "text": "What is it?"}
    assert image["type"] == "image_url"
    return image["image_url"]["url"]


def test_inputs_add_the_image_column():
    assert task().inputs == {"instruction": True, "system_prompt": False, "image": True}


@pytest.mark.parametrize(
    ("image_type", "image", "url"),
    [
        ("url", "https://images.test/cat.png", "https://images.test/cat.png"),
        ("base64", PNG, f"data:image/png;base64,{PNG}"),
        ("base64", GIF, f"data:image/gif;base64,{GIF}"),
        ("base64", f"data:image/png;base64,{PNG}", f"data:image/png;base64,{PNG}"),
    ],
)
def test_the_image_follows_the_prompt(image_type, image, url):
    messages = task(image_type=image_type, system_prompt="Be terse.").format_input(
        {"instruction": "What is it?", "image": image}
    )
    assert messages[0] == {"role": "system", "content": "Be terse."}
    assert image_part(messages) == url


@pytest.mark.parametrize(
    ("image", "message"),
    [("not base64!", "not base64"), (base64.b64encode(b"hello").decode(), "no PNG"), (3, "string")],
)
def test_a_bad_base64_image_is_a_clear_error(image, message):
    with pytest.raises(StillroomError, match=message):
        task(image_type="base64").format_input({"instruction": "What is it?", "image": image})


def test_pil_images_are_sent_as_jpeg():
    class FakeImage:  # what the task uses of a Pillow image: save(buffer, format=...)
        def save(self, buffer, format):
            assert format == "JPEG"
            buffer.write(b"\xff\xd8\xff\xe0jpeg")

    messages = task(image_type="PIL").format_input(
        {"instruction": "What is it?", "image": FakeImage()}
    )
    expected = base64.b64encode(b"\xff\xd8\xff\xe0jpeg").decode()
    assert image_part(messages) == f"data:image/jpeg;base64,{expected}"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_pipeline_against_the_mock_server(provider: str, tmp_path: Path):
    rows = [
        {"instruction": f"What is picture {i}?", "image": PNG if i % 2 else GIF} for i in range(4)
    ]
    with MockLLMServer(api_key="k-mock") as server:
        fast = {"retry_backoff": 0.001, "timeout": 5.0}
        if provider == "openai":
            llm = OpenAILLM(model="mock", base_url=server.base_url, api_key="k-mock", **fast)
        else:
            llm = AnthropicLLM(model="mock", base_url=server.url, api_key="k-mock", **fast)
        with Pipeline(name=f"with-image-{provider}", cache_dir=tmp_path / "cache") as pipeline:
            LoadDataFromDicts(data=rows) >> TextGenerationWithImage(
                name="look", llm=llm, image_type="base64"
            )
        distiset = pipeline.run(progress=False)
        stats = server.stats()
    assert stats.images_received == 4 and stats.errors_total == 0
    generated = sorted(row["generation"] for row in distiset["default"]["train"].to_list())
    assert generated == [f"echo: What is picture {i}?" for i in range(4)]
