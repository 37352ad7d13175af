"""Structured output: request formats, validation, re-asking, and rows kept when it never validates."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from backend_helpers import BACKENDS, USER, Backend, anthropic_message, chat_completion
from pydantic import BaseModel

from stillroom.errors import StillroomError, StructuredOutputError
from stillroom.models.llms.json_schema import schema_errors
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.structured import extract_json, resolve_structured
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN

pytestmark = pytest.mark.timeout(30)


class City(BaseModel):
    name: str
    population: int


VALID = '{"name": "Lyon", "population": 520000}'
INVALID = '{"name": "Lyon", "population": "many"}'


def structured_reply(backend: Backend, text: str) -> httpx.Response:
    """A reply carrying `text` the way the backend returns structured output."""
    if backend.name == "anthropic":
        body = anthropic_message("")
        body["content"] = [
            {"type": "tool_use", "id": "t1", "name": "City", "input": json.loads(text)}
        ]
        return httpx.Response(200, json=body)
    return httpx.Response(200, json=backend.reply(text))


def test_invalid_reply_is_asked_again_then_passes(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    route = mock_api.post(backend.url).mock(
        side_effect=[structured_reply(backend, INVALID), structured_reply(backend, VALID)]
    )
    llm = loaded(backend.make())
    (output,) = llm.generate([(USER, {"format": "json", "schema": City})])
    assert route.call_count == 2
    assert City.model_validate_json(output["generations"][0]) == City(
        name="Lyon", population=520000
    )
    body = json.loads(route.calls[0].request.content)
    if isinstance(llm, OpenAILLM):  # the OpenAI-compatible family
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "City", "schema": City.model_json_schema()},
        }
    elif backend.name == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "City"}
        assert body["tools"][0]["input_schema"] == City.model_json_schema()
    # the other backends' request forms are checked in their own test files


def test_never_valid_raises_after_the_configured_retries(
    backend: Backend, mock_api: respx.MockRouter, loaded
):
    route = mock_api.post(backend.url).mock(
        side_effect=lambda request: structured_reply(backend, INVALID)
    )
    llm = loaded(backend.make(structured_output_retries=1))
    (result,) = llm.generate_results([(USER, {"schema": City})])
    assert isinstance(result, StructuredOutputError)
    assert route.call_count == 2
    assert "population" in str(result)


def test_max_retries_in_the_structured_output_wins(mock_api: respx.MockRouter, loaded):
    backend = BACKENDS["openai"]
    route = mock_api.post(backend.url).mock(
        side_effect=lambda request: structured_reply(backend, INVALID)
    )
    llm = loaded(backend.make(structured_output={"schema": City}, structured_output_retries=5))
    llm.generate_results([(USER, {"schema": City, "max_retries": 0})])
    assert route.call_count == 1


def test_task_keeps_the_row_with_none_and_the_error(mock_api: respx.MockRouter):
    backend = BACKENDS["openai"]
    mock_api.post(backend.url).mock(side_effect=lambda request: structured_reply(backend, "nope"))
    llm = backend.make(structured_output={"schema": City}, structured_output_retries=0)
    task = TextGeneration(name="cities", llm=llm)
    task.load()
    try:
        (rows,) = list(task.process([{"instruction": "A French city"}]))
    finally:
        task.unload()
    (row,) = rows
    assert row["generation"] is None
    assert "not valid JSON" in row[METADATA_COLUMN]["error_cities"]


def test_partly_valid_generations_record_why_the_others_are_none(
    mock_api: respx.MockRouter,
):
    backend = BACKENDS["openai"]
    mock_api.post(backend.url).mock(
        side_effect=[
            httpx.Response(200, json=chat_completion(VALID, INVALID)),
            httpx.Response(200, json=chat_completion(INVALID)),
        ]
    )
    llm = backend.make(structured_output={"schema": City}, structured_output_retries=1)
    task = TextGeneration(name="cities", llm=llm, num_generations=2)
    task.load()
    try:
        (rows,) = list(task.process([{"instruction": "A French city"}]))
    finally:
        task.unload()
    assert [r["generation"] for r in rows] == [VALID, None]
    assert "error_cities" not in rows[0][METADATA_COLUMN]
    assert "does not match City" in rows[1][METADATA_COLUMN]["error_cities"]


def test_json_schema_dict_is_validated_too(mock_api: respx.MockRouter, loaded):
    backend = BACKENDS["openai"]
    schema = {
        "title": "Answer",
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["answer"],
    }
    mock_api.post(backend.url).mock(
        side_effect=[
            httpx.Response(200, json=chat_completion('{"answer": "maybe"}')),
            httpx.Response(200, json=chat_completion('```json\n{"answer": "yes"}\n```')),
        ]
    )
    (output,) = loaded(backend.make()).generate([(USER, {"format": "json", "schema": schema})])
    assert output["generations"] == ['{"answer": "yes"}']


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('Here you go:\n```json\n{"a": 1}\n```\nEnjoy', '{"a": 1}'),
        ('Sure! {"a": {"b": 2}} hope it helps', '{"a": {"b": 2}}'),
        ("[1, 2]", "[1, 2]"),
        ("no json here", "no json here"),
    ],
)
def test_extract_json(text: str, expected: str):
    assert extract_json(text) == expected


def test_resolve_structured_forms():
    assert resolve_structured(None, "x") is None
    assert resolve_structured(City, "x").model is City
    dumped = resolve_structured({"schema": {"json_schema": City.model_json_schema()}}, "x")
    assert dumped.schema == City.model_json_schema() and dumped.model is None
    assert resolve_structured({"schema": '{"type": "object"}'}, "x").schema == {"type": "object"}
    assert resolve_structured({"format": "regex", "schema": "a+"}, "x").regex == "a+"
    with pytest.raises(StillroomError, match="format 'yaml' is not supported"):
        resolve_structured({"format": "yaml", "schema": "a: 1"}, "x")
    with pytest.raises(StillroomError, match="pydantic model class or a dict"):
        resolve_structured("City", "x")


class Address(BaseModel):
    street: str
    number: int | None = None


class Person(BaseModel):
    name: str
    tags: list[str]
    address: Address


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "A", "tags": ["x"], "address": {"street": "s"}}, None),
        ({"name": "A", "tags": ["x"], "address": {"street": "s", "number": None}}, None),
        ({"name": "A", "tags": [1], "address": {"street": "s"}}, "$.tags[0]: expected string"),
        ({"name": "A", "tags": [], "address": {"street": 3}}, "$.address.street"),
        ({"name": "A", "tags": []}, "missing required key 'address'"),
        ({"name": "A", "tags": [], "address": {"street": "s", "number": "1"}}, "anyOf"),
        ([], "expected object"),
    ],
)
def test_schema_validator_on_a_pydantic_schema(value, problem):
    errors = schema_errors(value, Person.model_json_schema())
    if problem is None:
        assert errors == []
    else:
        assert any(problem in e for e in errors), errors


@pytest.mark.parametrize(
    ("schema", "good", "bad", "problem"),
    [
        ({"uniqueItems": True}, [1, 2], [1, 1], "$: [1, 1] has non-unique elements"),
        ({"multipleOf": 5}, 10, 12, "$: 12 is not a multiple of 5"),
        ({"not": {"type": "null"}}, 0, None, "$: None should not be valid under"),
        ({"minProperties": 1}, {"a": 1}, {}, "$: {} should be non-empty"),
        (
            {"patternProperties": {"^n_": {"type": "integer"}}},
            {"n_a": 1},
            {"n_a": "x"},
            "$.n_a: expected integer, got str",
        ),
        (
            {"if": {"required": ["a"]}, "then": {"required": ["b"]}},
            {"a": 1, "b": 2},
            {"a": 1},
            "$: missing required key 'b'",
        ),
        (
            {"$defs": {"Id": {"type": "string", "minLength": 3}}, "items": {"$ref": "#/$defs/Id"}},
            ["abc"],
            ["ab"],
            "$[0]: 'ab' is too short",
        ),
        (
            {"contains": {"const": "x"}},
            ["x", "y"],
            ["y"],
            "$: ['y'] does not contain items matching",
        ),
    ],
)
def test_keywords_the_hand_written_validator_ignored_are_enforced(schema, good, bad, problem):
    assert schema_errors(good, schema) == []
    errors = schema_errors(bad, schema)
    assert len(errors) == 1 and errors[0].startswith(problem), errors


def test_anyof_names_the_closest_alternative():
    schema = {"anyOf": [{"type": "string"}, {"type": "object", "required": ["k"]}]}
    (error,) = schema_errors({}, schema)
    assert error.startswith("$: matches none of the anyOf alternatives (closest: $: ")


def test_broken_schemas_are_explained():
    with pytest.raises(
        ValueError, match=r"the JSON schema is itself invalid at \$\.type: 5 is not"
    ):
        schema_errors(1, {"type": 5})
    with pytest.raises(ValueError, match=r"cannot resolve .*#/\$defs/Nope.* only references"):
        schema_errors(1, {"$ref": "#/$defs/Nope"})
    with pytest.raises(ValueError, match=r"cannot resolve .*https://example\.invalid/s"):
        schema_errors(1, {"$ref": "https://example.invalid/s"})


def test_schema_validator_keywords():
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
            "s": {"type": "string", "minLength": 2, "pattern": "^a"},
            "l": {"type": "array", "maxItems": 1},
            "c": {"const": 3},
            "b": {"type": "boolean"},
        },
    }
    assert schema_errors({"n": 5, "s": "ab", "l": [1], "c": 3, "b": False}, schema) == []
    errors = schema_errors({"n": 10, "s": "b", "l": [1, 2], "c": 4, "b": 1, "x": 0}, schema)
    assert len(errors) == 7, errors
    assert schema_errors(True, {"type": "integer"}) == ["$: expected integer, got bool"]
