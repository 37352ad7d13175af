"""The OpenAI-compatible endpoints, driven through the openai SDK."""

from __future__ import annotations

import json
from typing import Literal

import openai
import pytest
from pydantic import BaseModel, Field, ValidationError

from stillroom.testing import ReplyContext, echo_reply

pytestmark = pytest.mark.timeout(30)

USER = [{"role": "user", "content": "name three colours"}]


class Pet(BaseModel):
    name: str
    species: Literal["cat", "dog"]


class Person(BaseModel):
    name: str = Field(min_length=20)
    age: int = Field(ge=18, le=99)
    height: float
    member: bool
    nickname: str | None = None
    tags: list[str] = Field(min_length=2)
    pets: list[Pet]


def person_format() -> dict:
    return {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": Person.model_json_schema(), "strict": True},
    }


def test_chat_completion_echoes_with_usage(server, openai_client) -> None:
    reply = openai_client(server).chat.completions.create(model="mock-model", messages=USER)
    assert reply.model == "mock-model"
    (choice,) = reply.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: name three colours"
    assert choice.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
        3,
        4,
        7,
    )


def test_n_returns_distinct_choices_in_order(server, openai_client) -> None:
    reply = openai_client(server).chat.completions.create(model="m", messages=USER, n=3)
    texts = [c.message.content for c in reply.choices]
    assert texts == [
        "echo: name three colours",
        "echo: name three colours #1",
        "echo: name three colours #2",
    ]
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert reply.usage.completion_tokens == 4 + 5 + 5
    stats = server.stats()
    assert (stats.requests_total, stats.generations) == (1, 3)


def test_reject_n_answers_400(start_server, openai_client) -> None:
    server = start_server(reject_n=True)
    client = openai_client(server)
    with pytest.raises(openai.BadRequestError, match="'n' must be 1"):
        client.chat.completions.create(model="m", messages=USER, n=2)
    assert client.chat.completions.create(model="m", messages=USER, n=1).choices
    assert server.stats().errors_by_status == {400: 1}


def test_max_tokens_cuts_the_reply(server, openai_client) -> None:
    client = openai_client(server)
    reply = client.chat.completions.create(model="m", messages=USER, max_tokens=2)
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (
        "echo: name",
        "length",
    )
    reply = client.chat.completions.create(model="m", messages=USER, max_completion_tokens=3)
    assert reply.choices[0].message.content == "echo: name three"


def test_text_completions(server, openai_client) -> None:
    reply = openai_client(server).completions.create(model="m", prompt="once upon a time", n=2)
    assert [c.text for c in reply.choices] == [
        "echo: once upon a time",
        "echo: once upon a time #1",
    ]
    assert reply.usage.prompt_tokens == 4
    assert server.stats().requests_by_endpoint == {"completions": 1}


def test_models_lists_the_configured_ids(start_server, openai_client) -> None:
    server = start_server(models=["small", "large"])
    assert [m.id for m in openai_client(server).models.list()] == ["small", "large"]


def test_multipart_content_and_system_prompt(server, openai_client) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "two"}],
        },
    ]
    reply = openai_client(server).chat.completions.create(model="m", messages=messages)
    assert reply.choices[0].message.content == "echo: part one\ntwo"
    assert reply.usage.prompt_tokens == 5
    assert server.stats().requests_by_prompt == {"system: be brief\nuser: part one\ntwo": 1}


def test_json_schema_reply_validates(server, openai_client) -> None:
    client = openai_client(server)
    reply = client.chat.completions.create(
        model="m", messages=USER, response_format=person_format(), n=2
    )
    people = [Person.model_validate_json(c.message.content) for c in reply.choices]
    assert people[0].name.startswith("echo: name three colours")
    assert 18 <= people[0].age <= 99 and len(people[0].tags) == 2
    assert [p.pets[0].species for p in people] == ["cat", "dog"]  # enums follow the choice index


def test_json_object_reply(server, openai_client) -> None:
    client = openai_client(server)
    reply = client.chat.completions.create(
        model="m", messages=USER, response_format={"type": "json_object"}
    )
    assert json.loads(reply.choices[0].message.content) == {"reply": "echo: name three colours"}


def test_malformed_then_invalid_then_valid_json(start_server, openai_client) -> None:
    server = start_server(malformed_json_first=1, invalid_json_first=2)
    client = openai_client(server)

    def attempt(prompt: str) -> str:
        messages = [{"role": "user", "content": prompt}]
        return (
            client.chat.completions.create(
                model="m", messages=messages, response_format=person_format()
            )
            .choices[0]
            .message.content
        )

    first = attempt("a")
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    for _ in range(2):
        with pytest.raises(ValidationError):
            Person.model_validate_json(attempt("a"))
    assert Person.model_validate_json(attempt("a"))
    # Each prompt has its own count; plain-text requests are not affected.
    with pytest.raises(json.JSONDecodeError):
        json.loads(attempt("b"))
    assert (
        client.chat.completions.create(model="m", messages=USER)
        .choices[0]
        .message.content.startswith("echo")
    )
    assert server.stats().requests_by_prompt == {"a": 4, "b": 1, "name three colours": 1}


def test_invalid_json_without_required_fields_breaks_the_type(start_server, openai_client) -> None:
    class Loose(BaseModel):
        note: str = "x"

    server = start_server(invalid_json_first=1)
    schema_format = {
        "type": "json_schema",
        "json_schema": {"name": "L", "schema": Loose.model_json_schema()},
    }
    reply = openai_client(server).chat.completions.create(
        model="m", messages=USER, response_format=schema_format
    )
    with pytest.raises(ValidationError):
        Loose.model_validate_json(reply.choices[0].message.content)


def test_reply_template(start_server, openai_client) -> None:
    server = start_server(reply="{model} says {prompt} ({index}, try {attempt})")
    reply = openai_client(server).chat.completions.create(model="m1", messages=USER, n=2)
    assert [c.message.content for c in reply.choices] == [
        "m1 says name three colours (0, try 1)",
        "m1 says name three colours (1, try 1)",
    ]


def test_reply_function_text_and_json(start_server, openai_client) -> None:
    seen: list[ReplyContext] = []

    def reply(context: ReplyContext) -> object:
        seen.append(context)
        if context.schema is not None:
            return {"name": "fixed", "anything": [1, 2]}
        return echo_reply(context).upper()

    server = start_server(reply=reply)
    client = openai_client(server)
    assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == (
        "ECHO: NAME THREE COLOURS"
    )
    structured = client.chat.completions.create(
        model="m", messages=USER, response_format=person_format()
    )
    assert json.loads(structured.choices[0].message.content) == {
        "name": "fixed",
        "anything": [1, 2],
    }
    assert [(c.attempt, c.endpoint, c.prompt) for c in seen] == [
        (1, "chat.completions", "name three colours"),
        (2, "chat.completions", "name three colours"),
    ]


def test_failing_reply_function_answers_500(start_server, openai_client) -> None:
    def reply(context: ReplyContext) -> str:
        raise KeyError("boom")

    server = start_server(reply=reply)
    with pytest.raises(openai.InternalServerError, match="reply function raised KeyError"):
        openai_client(server).chat.completions.create(model="m", messages=USER)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m", "messages": []}, "'messages' must be a non-empty list"),
        ({"messages": USER}, "'model' is required"),
        ({"model": "m", "messages": USER, "n": 0}, "'n' must be a positive integer"),
        ({"model": "m", "messages": USER, "n": 500}, "'n' must be at most 128"),
        ({"model": "m", "messages": USER, "stream": True}, "does not stream"),
        (
            {"model": "m", "messages": USER, "response_format": {"type": "xml"}},
            "response_format.type",
        ),
        (
            {"model": "m", "messages": USER, "response_format": {"type": "json_schema"}},
            "json_schema.schema",
        ),
    ],
)
def test_bad_chat_requests_get_400(server, http_client, body, message) -> None:
    response = http_client(server).post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert response.json()["error"]["type"] == "invalid_request_error"
