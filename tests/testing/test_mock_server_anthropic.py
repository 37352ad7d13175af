"""Anthropic's Messages API (`POST /v1/messages`), driven with httpx."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import BaseModel, ValidationError

from stillroom.utils.image_bytes import png_bytes

pytestmark = pytest.mark.timeout(30)

HEADERS = {"anthropic-version": "2023-06-01"}


class Answer(BaseModel):
    answer: str
    confidence: float


def messages(text: str = "what is rain", **extra) -> dict:
    return {
        "model": "claude-mock",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def test_text_reply_with_system_and_usage(server, http_client) -> None:
    body = messages(system="answer briefly")
    reply = http_client(server).post("/v1/messages", json=body, headers=HEADERS).json()
    assert (
        reply["type"] == "message"
        and reply["role"] == "assistant"
        and reply["model"] == "claude-mock"
    )
    assert reply["content"] == [{"type": "text", "text": "echo: what is rain"}]
    assert reply["stop_reason"] == "end_turn"
    assert reply["usage"] == {"input_tokens": 5, "output_tokens": 4}
    assert server.stats().requests_by_prompt == {"system: answer briefly\nuser: what is rain": 1}


PNG_BLOCK = {
    "type": "image",
    "source": {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(png_bytes(2, 2, (0, 0, 0))).decode(),
    },
}


def test_content_blocks_and_system_blocks(server, http_client) -> None:
    body = messages(system=[{"type": "text", "text": "sys"}])
    body["messages"] = [
        {"role": "user", "content": [{"type": "text", "text": "first"}]},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "second"}, PNG_BLOCK],
        },
    ]
    reply = http_client(server).post("/v1/messages", json=body, headers=HEADERS).json()
    assert reply["content"][0]["text"] == "echo: second"
    assert reply["usage"]["input_tokens"] == 4
    assert server.stats().images_received == 1


def test_max_tokens_stops_the_reply(server, http_client) -> None:
    reply = (
        http_client(server)
        .post("/v1/messages", json=messages(max_tokens=2), headers=HEADERS)
        .json()
    )
    assert reply["content"][0]["text"] == "echo: what"
    assert (reply["stop_reason"], reply["usage"]["output_tokens"]) == ("max_tokens", 2)


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            HEADERS,
            "max_tokens: Field required",
        ),
        (messages(), {}, "anthropic-version: header is required"),
        (
            {**messages(), "messages": [{"role": "system", "content": "x"}]},
            HEADERS,
            "put a system prompt in 'system'",
        ),
        (
            messages(tools=[{"name": "a"}], tool_choice={"type": "tool", "name": "b"}),
            HEADERS,
            "no tool named 'b'",
        ),
        (
            messages(output_format={"type": "json_schema"}),
            HEADERS,
            "'schema' must be a JSON schema",
        ),
    ],
)
def test_bad_requests_get_anthropic_errors(server, http_client, body, headers, message) -> None:
    response = http_client(server).post("/v1/messages", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert message in response.json()["error"]["message"]


def test_forced_tool_returns_a_tool_use_block(server, http_client) -> None:
    tools = [
        {"name": "other", "input_schema": {"type": "object"}},
        {"name": "record", "description": "save", "input_schema": Answer.model_json_schema()},
    ]
    body = messages(tools=tools, tool_choice={"type": "tool", "name": "record"})
    reply = http_client(server).post("/v1/messages", json=body, headers=HEADERS).json()
    (block,) = reply["content"]
    assert (block["type"], block["name"], reply["stop_reason"]) == (
        "tool_use",
        "record",
        "tool_use",
    )
    assert Answer.model_validate(block["input"]).answer == "echo: what is rain"
    assert reply["usage"]["output_tokens"] == len(json.dumps(block["input"]).split())


def test_tool_choice_any_uses_the_first_tool_and_auto_answers_text(server, http_client) -> None:
    tools = [{"name": "record", "input_schema": Answer.model_json_schema()}]
    client = http_client(server)
    forced = client.post(
        "/v1/messages", json=messages(tools=tools, tool_choice={"type": "any"}), headers=HEADERS
    )
    assert forced.json()["content"][0]["name"] == "record"
    auto = client.post("/v1/messages", json=messages(tools=tools), headers=HEADERS)
    assert auto.json()["content"][0]["type"] == "text"


@pytest.mark.parametrize("field", ["output_format", "output_config"])
def test_output_format_json_schema(server, http_client, field) -> None:
    spec = {"type": "json_schema", "schema": Answer.model_json_schema()}
    body = messages(**({field: spec} if field == "output_format" else {field: {"format": spec}}))
    reply = http_client(server).post("/v1/messages", json=body, headers=HEADERS).json()
    assert Answer.model_validate_json(reply["content"][0]["text"]).confidence == 0.0


def test_tool_faults_malformed_then_invalid(start_server, http_client) -> None:
    server = start_server(malformed_json_first=1, invalid_json_first=1)
    body = messages(
        tools=[{"name": "r", "input_schema": Answer.model_json_schema()}],
        tool_choice={"type": "any"},
    )
    client = http_client(server)
    first, second, third = (
        client.post("/v1/messages", json=body, headers=HEADERS).json() for _ in range(3)
    )
    # A malformed structured reply is half a JSON text and no tool call.
    assert first["content"][0]["type"] == "text" and first["stop_reason"] == "end_turn"
    with pytest.raises(json.JSONDecodeError):
        json.loads(first["content"][0]["text"])
    with pytest.raises(ValidationError):
        Answer.model_validate(second["content"][0]["input"])
    assert Answer.model_validate(third["content"][0]["input"])


def test_api_key_goes_in_x_api_key(start_server, http_client) -> None:
    server = start_server(api_key="sk-ant-secret")
    client = http_client(server)
    bearer = client.post(
        "/v1/messages",
        json=messages(),
        headers={**HEADERS, "authorization": "Bearer sk-ant-secret"},
    )
    assert bearer.status_code == 401
    assert bearer.json()["error"]["type"] == "authentication_error"
    ok = client.post(
        "/v1/messages", json=messages(), headers={**HEADERS, "x-api-key": "sk-ant-secret"}
    )
    assert ok.status_code == 200


def test_anthropic_fault_formats(start_server, http_client) -> None:
    server = start_server(fail_first=1, fail_with="529")
    response = http_client(server).post("/v1/messages", json=messages(), headers=HEADERS)
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"
