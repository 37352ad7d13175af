"""JSON values built from schemas, and configuration checks."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from stillroom.testing import MockLLMServer, MockServerConfig, instance_for, invalid_instance_for
from stillroom.testing.json_schema import SchemaError


class Leaf(BaseModel):
    label: Literal["a", "b", "c"]
    weight: float = Field(gt=0, lt=1)


class Tree(BaseModel):
    title: str = Field(max_length=5)
    count: int = Field(gt=3)
    leaves: list[Leaf] = Field(min_length=3, max_length=3)
    pair: tuple[int, str]
    either: int | str
    maybe: Leaf | None = None
    children: list[Tree] = []
    fixed: Literal["yes"] = "yes"


@pytest.mark.parametrize("index", [0, 1, 4])
def test_instances_of_a_pydantic_schema_validate(index: int) -> None:
    value = instance_for(Tree.model_json_schema(), "some text", index)
    tree = Tree.model_validate(value)
    assert tree.title == "some "
    assert tree.count == 4 + index
    assert [leaf.label for leaf in tree.leaves] == [["a", "b", "c"][index % 3]] * 3


def test_invalid_instances_fail_validation() -> None:
    class Optional(BaseModel):
        note: str = "x"

    class Numbers(BaseModel):
        value: int | None = None

    for model in (Tree, Leaf, Optional, Numbers):
        with pytest.raises(ValidationError):
            model.model_validate(invalid_instance_for(model.model_json_schema(), "t"))
    assert not isinstance(invalid_instance_for({"type": "string"}, "t"), str)
    assert not isinstance(invalid_instance_for({"type": "integer"}, "t"), int)
    assert not isinstance(invalid_instance_for({"type": "object"}, "t"), dict)
    assert not isinstance(invalid_instance_for({"enum": ["a", "b"]}, "t"), str)
    assert invalid_instance_for({}, "t") == {"unexpected": "t"}  # nothing to break: a best effort


def test_simple_types_and_bounds() -> None:
    assert instance_for({"type": "boolean"}, "t") is True
    assert instance_for({"type": "null"}, "t") is None
    assert instance_for({"type": "string", "minLength": 4}, "ab") == "ab.."
    assert instance_for({"type": "number", "minimum": 1.5, "maximum": 1.5}, "t") == 1.5
    assert instance_for({"type": "integer", "minimum": 1.2, "maximum": 9}, "t", 100) == 9
    assert instance_for({"type": "array", "items": {"type": "integer"}, "maxItems": 0}, "t") == []
    assert instance_for({"type": ["null", "integer"]}, "t") == 0
    assert instance_for({"properties": {"a": {"const": 3}}}, "t") == {"a": 3}


def test_unsupported_schemas_raise_schema_error() -> None:
    with pytest.raises(SchemaError, match="only local"):
        instance_for({"$ref": "https://example.invalid/schema"}, "t")
    with pytest.raises(SchemaError, match="cannot resolve"):
        instance_for({"$ref": "#/$defs/Missing"}, "t")
    endless = {
        "$defs": {
            "N": {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}, "required": ["n"]}
        },
        "$ref": "#/$defs/N",
    }
    with pytest.raises(SchemaError, match="endlessly nested"):
        instance_for(endless, "t")


@pytest.mark.parametrize(
    ("schema", "keyword_message"),
    [
        ({"type": "string", "pattern": "^[0-9]+$"}, "does not match"),
        ({"type": "array", "minItems": 2, "uniqueItems": True}, "non-unique"),
        ({"type": "integer", "minimum": 1, "multipleOf": 7}, "not a multiple of 7"),
    ],
)
def test_keywords_the_builder_cannot_satisfy_are_named(schema: dict, keyword_message: str) -> None:
    with pytest.raises(SchemaError, match=f"the value built for it breaks it: .*{keyword_message}"):
        instance_for(schema, "text")


def test_unsatisfiable_schema_answers_400() -> None:
    import httpx

    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"$ref": "#/nope"}},
        },
    }
    with MockLLMServer() as server:
        response = httpx.post(f"{server.base_url}/chat/completions", json=body)
    assert response.status_code == 400 and "cannot resolve" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_429": -0.1}, "rate_429 must be between 0 and 1"),
        ({"rate_429": 0.6, "rate_500": 0.6}, "the rates add up to 1.2"),
        ({"latency": -1}, "latency must not be negative"),
        ({"latency_sigma": 1.0}, "needs a positive mean latency"),
        ({"fail_with": "teapot"}, "fail_with must be an HTTP status"),
        ({"fail_with": "200"}, "fail_with must be an HTTP status"),
        ({"retry_after": -1}, "retry_after must not be negative"),
        ({"models": ()}, "models must name at least one model"),
        ({"reply": "{prompt} {unknown}"}, "Invalid reply template"),
        ({"idle_timeout": 0}, "idle_timeout must be positive"),
    ],
)
def test_bad_configurations_are_explained(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockServerConfig(**options)


def test_unknown_option_suggests_the_right_name() -> None:
    with pytest.raises(
        TypeError, match=re.escape("Unknown mock server option 'latancy'. Did you mean 'latency'")
    ):
        MockLLMServer(latancy=1)
    assert MockLLMServer(fail_with=429).config.fail_with == "429"
