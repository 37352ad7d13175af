"""`use_default_structured_output`: tasks that can ask the LLM for JSON matching their schema.

A task with this mixin defines `get_structured_output()`. When the user sets
`use_default_structured_output=True`, each request is sent as `(messages, structured_output)`
so that backends able to constrain generation (the embedded model, OpenAI's JSON schema
mode) return JSON the task parses directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from stillroom.typing import ChatType, FormattedInput, StructuredOutputType


class DefaultStructuredOutputMixin(BaseModel):
    """The request pairing `use_default_structured_output` (a field of every task, as in
    distilabel) implies, for a task defining `get_structured_output()`."""

    if TYPE_CHECKING:  # fields and methods of the task (`_Task`)
        use_default_structured_output: bool

        def get_structured_output(self) -> StructuredOutputType | None: ...

    def _request(self, messages: ChatType, items: int | None = None) -> FormattedInput:
        """`messages`, paired with the task's schema when structured output is on.

        `items` is how many entries each list of the reply must hold (one per text the row
        asks about): the schema then bounds every array to exactly that many, so a
        schema-constrained model cannot write too few or too many.
        """
        structured = self.get_structured_output() if self.use_default_structured_output else None
        if not structured:
            return messages
        if items is not None:
            structured = {**structured, "schema": with_item_count(structured["schema"], items)}
        return messages, structured


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
    """A copy of an object `schema` whose array properties must hold exactly `items` entries."""
    properties = {
        name: {**prop, "minItems": items, "maxItems": items}
        if isinstance(prop, dict) and prop.get("type") == "array"
        else prop
        for name, prop in schema.get("properties", {}).items()
    }
    return {**schema, "properties": properties}
