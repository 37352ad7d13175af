"""`StructuredGeneration`: a reply per row that follows the row's own JSON schema or regex."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from stillroom.errors import StillroomError
from stillroom.steps.tasks.base import Task
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType, StructuredInput, StructuredOutputType


class StructuredGeneration(Task):
    """Generate, for each row's `instruction`, a reply shaped by the row's `structured_output`.

    `structured_output` is `{"format": "json", "schema": <JSON schema or pydantic model>}` or
    `{"format": "regex", "schema": <pattern>}` (the older `{"type": ..., "value": ...}` spelling
    is accepted too). A regex needs a backend that holds decoding to a pattern
    (TransformersLLM, vLLM, InferenceEndpointsLLM on TGI); others keep such a row with the
    error. A row without one (no column, or None) gets a free-form reply, as in distilabel.
    The reply is kept as text: parse the JSON downstream if you need it.
    With `use_system_prompt=True` a `system_prompt` column is sent as the system message.

    Columns: inputs = `instruction`, optional `structured_output` (and `system_prompt` with
    `use_system_prompt`); outputs = `generation`, `model_name`.
    """

    use_system_prompt: bool = Field(
        default=False, description="Send the row's `system_prompt` column as the system message."
    )

    @property
    def inputs(self) -> StepColumns:
        columns = {"instruction": True, "structured_output": False}
        if self.use_system_prompt:
            columns["system_prompt"] = True
        return columns

    @property
    def outputs(self) -> StepColumns:
        return ["generation", "model_name"]

    def _sample_row(self) -> dict[str, Any]:
        return {
            **super()._sample_row(),
            "structured_output": {"format": "json", "schema": {"type": "object"}},
        }

    def format_input(self, input: dict[str, Any]) -> StructuredInput:
        instruction = input["instruction"]
        if not isinstance(instruction, str):
            raise StillroomError(
                f"StructuredGeneration {self.name!r}: column 'instruction' must hold text, got "
                f"{type(instruction).__name__}."
            )
        messages: ChatType = [{"role": "user", "content": instruction}]
        if self.use_system_prompt:
            messages.insert(0, {"role": "system", "content": str(input["system_prompt"])})
        return messages, self._structured_output(input.get("structured_output"))

    def _structured_output(self, value: Any) -> StructuredOutputType | None:
        if value is None:
            return None
        if isinstance(value, dict) and "type" in value and "value" in value:
            value = {"format": value["type"], "schema": value["value"]}
        if (
            not isinstance(value, dict)
            or value.get("format") not in ("json", "regex")
            or value.get("schema") is None
        ):
            raise StillroomError(
                f"StructuredGeneration {self.name!r}: column 'structured_output' must be "
                "{'format': 'json', 'schema': <JSON schema>} or {'format': 'regex', 'schema': "
                f"<pattern>}}, got {value!r:.200}."
            )
        return value  # type: ignore[return-value]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"generation": output}
