"""Conversations with images (`ImageContent` parts) sent to OpenAI-compatible servers, as they
are, and to Anthropic, as its `image` blocks; then a pipeline through both against the mock
server."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import respx
from backend_helpers import (
    ANTHROPIC_URL,
    API_KEY,
    FAST,
    OPENAI_URL,
    anthropic_message,
    chat_completion,
)

from stillroom.errors import StillroomError
from stillroom.models import AnthropicLLM, OpenAILLM
from stillroom.models.llms.rate_limit import RateLimiter
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import ChatGeneration
from stillroom.testing import MockLLMServer
from stillroom.utils.image_bytes import png_bytes

pytestmark = pytest.mark.timeout(60)

PNG = base64.b64encode(png_bytes(2, 2, (0, 128, 255))).decode()
DATA_URL = f"data:image/png;base64,{PNG}"
WEB_URL = "https://images.test/cat.jpg"


def conversation(*urls: str) -> list[dict]:
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [
        {"role": "system", "content": "Describe images."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, *parts]},
    ]


def test_openai_sends_image_parts_as_they_are(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(f"{OPENAI_URL}/chat/completions").respond(
        200, json=chat_completion("a square")
    )
    llm = loaded(OpenAILLM(model="gpt-4o", base_url=OPENAI_URL, api_key=API_KEY, **FAST))
    chat = conversation(DATA_URL, WEB_URL)
    (output,) = llm.generate([chat])
    assert output["generations"] == ["a square"]
    assert json.loads(route.calls.last.request.content)["messages"] == chat


def test_anthropic_gets_image_blocks(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(f"{ANTHROPIC_URL}/v1/messages").respond(
        200, json=anthropic_message("a square")
    )
    llm = loaded(AnthropicLLM(model="claude-test", base_url=ANTHROPIC_URL, api_key=API_KEY, **FAST))
    (output,) = llm.generate([conversation(DATA_URL, WEB_URL)])
    assert output["generations"] == ["a square"]
    sent = json.loads(route.calls.last.request.content)
    assert sent["system"] == "Describe images."
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
                {"type": "image", "source": {"type": "url", "url": WEB_URL}},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:image/bmp;base64,Qk0=", "not image/bmp"),
        ("file:///tmp/cat.png", "neither an http"),
        ("", "image_url part needs"),
    ],
)
def test_anthropic_refuses_a_bad_image_before_sending(
    mock_api: respx.MockRouter, loaded, url, message
):
    route = mock_api.post(f"{ANTHROPIC_URL}/v1/messages").respond(200, json=anthropic_message("x"))
    llm = loaded(AnthropicLLM(model="claude-test", base_url=ANTHROPIC_URL, api_key=API_KEY, **FAST))
    with pytest.raises(StillroomError, match=message) as caught:
        llm.generate([conversation(url)])
    assert "AnthropicLLM" in str(caught.value)
    assert route.call_count == 0


def test_the_token_estimate_leaves_out_the_image_data(mock_api: respx.MockRouter, loaded):
    """A megabyte of base64 is not 250,000 prompt tokens: under a 60,000 tokens-per-minute
    limit, two requests with such an image go without waiting."""
    big = base64.b64encode(png_bytes(600, 600, (1, 2, 3)) + b"\x00" * 750_000).decode()
    mock_api.post(f"{OPENAI_URL}/chat/completions").respond(200, json=chat_completion("ok"))
    llm = loaded(OpenAILLM(model="gpt-4o", base_url=OPENAI_URL, api_key=API_KEY, **FAST))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)
        raise AssertionError(f"the rate limiter made a request wait {seconds:.0f} s")

    llm._limiter = RateLimiter(tokens_per_minute=60_000, sleep=record)
    chat = conversation(f"data:image/png;base64,{big}")
    outputs = llm.generate([chat, chat])
    assert [o["generations"] for o in outputs] == [["ok"], ["ok"]]
    assert waits == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_pipeline_with_image_inputs_against_the_mock_server(provider: str, tmp_path: Path):
    rows = [{"messages": conversation(DATA_URL, WEB_URL)[1:]} for _ in range(3)]
    for i, row in enumerate(rows):
        row["messages"][0]["content"][0]["text"] = f"What is picture {i}?"
    with MockLLMServer(api_key="k-mock") as server:
        if provider == "openai":
            llm = OpenAILLM(model="mock", base_url=server.base_url, api_key="k-mock", **FAST)
        else:
            llm = AnthropicLLM(model="mock", base_url=server.url, api_key="k-mock", **FAST)
        with Pipeline(name=f"images-{provider}", cache_dir=tmp_path / "cache") as pipeline:
            LoadDataFromDicts(data=rows) >> ChatGeneration(name="describe", llm=llm)
        distiset = pipeline.run(progress=False, use_cache=False)
        stats = server.stats()
    assert stats.images_received == 6 and stats.errors_total == 0
    generated = sorted(row["generation"] for row in distiset["default"]["train"].to_list())
    assert generated == [f"echo: What is picture {i}?" for i in range(3)]
