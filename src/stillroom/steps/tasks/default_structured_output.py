"""Building blocks of the JSON schemas tasks send with `use_default_structured_output`.

A task defines `get_structured_output()`; when the user sets `use_default_structured_output`,
`Task.formatted_request` sends each row's messages with `structured_output_for(row)`, so that
backends able to constrain generation (the embedded model, OpenAI's JSON schema mode) return
JSON the task parses directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def json_schema(
    properties: Mapping[str, object], required: list[str] | None = None
) -> dict[str, Any]:
    """A JSON schema of an object with `properties` (all required unless told otherwise)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def with_item_count(schema: dict[str, Any], items: int) -> dict[str, Any]:
    """A copy of an object `schema` whose array properties must hold exactly `items` entries.

    For a row asking about `items` texts, so that a schema-constrained model cannot write
    too few or too many entries."""
    properties = {
        name: {**prop, "minItems": items, "maxItems": items}
        if isinstance(prop, dict) and prop.get("type") == "array"
        else prop
        for name, prop in schema.get("properties", {}).items()
    }
    return {**schema, "properties": properties}
