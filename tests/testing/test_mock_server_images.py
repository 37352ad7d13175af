"""Images at the mock server: image parts in chat requests (OpenAI and Anthropic forms),
checked and counted, and OpenAI's `/v1/images/generations`."""

from __future__ import annotations

import base64

import pytest

from stillroom.testing.images import image_of
from stillroom.utils.image_bytes import image_media_type, png_bytes

pytestmark = pytest.mark.timeout(30)

PNG = base64.b64encode(png_bytes(2, 2, (255, 0, 0))).decode()
JPEG_HEAD = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 20).decode()
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


def openai_chat(*parts: dict) -> dict:
    content = [{"type": "text", "text": "describe"}, *parts]
    return {"model": "m", "messages": [{"role": "user", "content": content}]}


def anthropic_chat(*blocks: dict) -> dict:
    content = [{"type": "text", "text": "describe"}, *blocks]
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}


def image_url(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url, "detail": "low"}}


def image_block(**source: str) -> dict:
    return {"type": "image", "source": source}


def test_openai_image_parts_are_counted_and_left_out_of_the_text(server, http_client) -> None:
    body = openai_chat(image_url(f"data:image/png;base64,{PNG}"), image_url("https://x.test/a.jpg"))
    reply = http_client(server).post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "echo: describe"
    assert server.stats().images_received == 2


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (image_url("data:text/plain;base64,aGVsbG8="), "Invalid image URL"),
        (image_url("ftp://x.test/a.png"), "Invalid image URL"),
        (image_url("data:image/png;base64,not base64!"), "not valid base64"),
        (image_url("data:image/png;base64,aGVsbG8gd29ybGQ="), "unsupported image"),
        ({"type": "image_url", "image_url": {}}, "image_url.url"),
        (image_block(type="base64", media_type="image/png", data=PNG), "Invalid value: 'image'"),
    ],
)
def test_openai_refuses_malformed_image_parts(server, http_client, part, message) -> None:
    reply = http_client(server).post("/v1/chat/completions", json=openai_chat(part))
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]
    assert server.stats().images_received == 0


def test_anthropic_image_blocks_are_counted(server, http_client) -> None:
    body = anthropic_chat(
        image_block(type="base64", media_type="image/png", data=PNG),
        image_block(type="url", url="https://x.test/a.png"),
    )
    reply = http_client(server).post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert reply.status_code == 200, reply.text
    assert reply.json()["content"][0]["text"] == "echo: describe"
    assert server.stats().images_received == 2


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (image_url(f"data:image/png;base64,{PNG}"), "Input tag 'image_url'"),
        (image_block(type="base64", media_type="image/bmp", data=PNG), "media_type"),
        (
            image_block(type="base64", media_type="image/jpeg", data=PNG),
            "appears to be a image/png",
        ),
        (image_block(type="base64", media_type="image/jpeg", data="###"), "not valid base64"),
        (image_block(type="url", url="file:///etc/passwd"), "http(s) URL"),
        (image_block(type="file"), "'base64' or 'url'"),
    ],
)
def test_anthropic_refuses_malformed_image_blocks(server, http_client, block, message) -> None:
    body = anthropic_chat(block)
    reply = http_client(server).post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]


def test_anthropic_takes_a_jpeg_said_to_be_a_jpeg(server, http_client) -> None:
    body = anthropic_chat(image_block(type="base64", media_type="image/jpeg", data=JPEG_HEAD))
    reply = http_client(server).post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert reply.status_code == 200, reply.text


def test_images_generations_base64(start_server, openai_client) -> None:
    server = start_server(api_key="k")
    reply = openai_client(server, api_key="k").images.generate(
        model="gpt-image-1", prompt="a red fox", n=2
    )
    images = [base64.b64decode(item.b64_json) for item in reply.data]
    assert images == [image_of("a red fox", 0), image_of("a red fox", 1)]
    assert all(image_media_type(image) == "image/png" for image in images)
    assert reply.usage.input_tokens == 3 and reply.usage.output_tokens > 0


def test_images_generations_by_url(server, openai_client, http_client) -> None:
    reply = openai_client(server).images.generate(
        model="dall-e-3", prompt="a red fox", response_format="url"
    )
    (item,) = reply.data
    assert item.url.startswith(server.url)
    downloaded = http_client(server).get(item.url.removeprefix(server.url))
    assert downloaded.headers["content-type"] == "image/png"
    assert downloaded.content == image_of("a red fox", 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "x"}, "'model' is required"),
        ({"model": "m"}, "'prompt' is required"),
        ({"model": "m", "prompt": "x", "n": 11}, "'n' must be"),
        ({"model": "m", "prompt": "x", "response_format": "png"}, "Invalid value"),
    ],
)
def test_images_generations_refuses_bad_requests(server, http_client, body, message) -> None:
    reply = http_client(server).post("/v1/images/generations", json=body)
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]


def test_images_generations_checks_the_key(start_server, http_client) -> None:
    server = start_server(api_key="k")
    body = {"model": "m", "prompt": "x"}
    assert http_client(server).post("/v1/images/generations", json=body).status_code == 401


def test_hf_text_to_image_answers_the_png(server, http_client) -> None:
    client = http_client(server)
    reply = client.post("/hf-inference/models/org/flux", json={"inputs": "a red fox"})
    assert reply.headers["content-type"] == "image/png"
    assert reply.content == image_of("a red fox", 0)
    refused = client.post("/hf-inference/models/org/flux", json={"inputs": ""})
    assert refused.status_code == 400 and "'inputs'" in refused.json()["error"]["message"]
