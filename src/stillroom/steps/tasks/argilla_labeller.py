"""`ArgillaLabeller`: suggest an answer to an Argilla question for each record.

Works on Argilla 2.x's serialized settings: a record as `Record.to_dict()` gives it
(`{"fields": {...}, "responses": {...}}`), fields and a question as their `serialize()`
gives them (`{"name", "settings": {"type", "options"}}`). Argilla objects themselves are
accepted too (they are serialized with those methods), so the `argilla` SDK is not needed.
The suggestions are dicts ready for `rg.Suggestion(**suggestion)`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType, FormattedInput

_ANSWER_KEY = {
    "label_selection": "label",
    "multi_label_selection": "labels",
    "rating": "rating",
    "text": "text",
}
"""The JSON key the reply holds the answer under, per Argilla question type."""

_LAYOUT = {
    "label_selection": '{"label": "one allowed value"}',
    "multi_label_selection": '{"labels": ["zero or more allowed values"]}',
    "rating": '{"rating": one allowed value (an integer)}',
    "text": '{"text": "your answer"}',
}


def _serialized(value: Any) -> Any:
    """An Argilla object as its dict (`to_dict()` for records, `serialize()` for settings)."""
    for method in ("to_dict", "serialize"):
        if hasattr(value, method) and not isinstance(value, dict):
            return getattr(value, method)()
    return value


class ArgillaLabeller(Task):
    """Answer an Argilla `question` about each `record`, as a suggestion.

    The question (`label_selection`, `multi_label_selection`, `rating` or `text`) and the
    `fields` to show come from the row or, when the row has none, from the task's runtime
    parameters; so do annotated `example_records` (few-shot) and `guidelines`. Requests ask
    for JSON (the question's schema is sent as structured output); a reply whose answer is
    missing or not among the question's options is malformed.

    Columns: inputs = `record`; optional `fields`, `question`, `example_records`,
    `guidelines`; outputs = `suggestion` (`{"value", "question_name", "type": "model",
    "agent"}`), `model_name`.
    """

    system_prompt: str = Field(
        default=(
            "You are a careful expert annotator. You read a record's fields and answer a "
            "question about them with a JSON object, exactly as asked."
        ),
        description="System prompt sent with every request.",
    )
    question_to_label_instruction: dict[str, str] = Field(
        default_factory=lambda: {
            "label_selection": "Choose the one label that fits the record best.",
            "multi_label_selection": "Choose every label that fits the record (possibly none).",
            "text": "Write the answer the question asks for.",
            "rating": "Rate the record.",
        },
        description="What to ask the LLM for, per question type.",
    )
    example_records: RuntimeParameter[list[Any] | None] = Field(
        default=None, description="Annotated records shown as examples."
    )
    fields: RuntimeParameter[list[Any] | None] = Field(
        default=None, description="The fields (serialized settings) to show."
    )
    question: RuntimeParameter[Any | None] = Field(
        default=None, description="The question (serialized settings) to answer."
    )
    guidelines: RuntimeParameter[str | None] = Field(
        default=None, description="Annotation guidelines shown to the LLM."
    )

    @property
    def inputs(self) -> StepColumns:
        return {
            "record": True,
            "fields": False,
            "question": False,
            "example_records": False,
            "guidelines": False,
        }

    @property
    def outputs(self) -> StepColumns:
        return ["suggestion", "model_name"]

    def _question(self, input: dict[str, Any]) -> dict[str, Any]:
        question = _serialized(input.get("question") or self.question)
        if not isinstance(question, dict):
            raise ValueError("no question: give a 'question' column or the question parameter")
        kind = (question.get("settings") or {}).get("type")
        if kind not in _ANSWER_KEY:
            raise ValueError(
                f"unsupported question type {kind!r}; expected one of {sorted(_ANSWER_KEY)}"
            )
        return question

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        question = self._question(input)
        fields = [_serialized(f) for f in (input.get("fields") or self.fields or [])]
        if not fields or any(not isinstance(f, dict) for f in fields):
            raise ValueError("no fields: give a 'fields' column or the fields parameter")
        kind = question["settings"]["type"]
        examples = [
            {"fields": _fields_text(record, fields), "answer": answer}
            for record in map(
                _serialized, input.get("example_records") or self.example_records or []
            )
            if (answer := _response(record, question)) is not None
        ]
        prompt = prompts.render(
            "argilla_labeller",
            question=question.get("description") or question.get("title") or question["name"],
            instruction=self.question_to_label_instruction.get(kind, ""),
            options=[str(value) for value in _options(question)],
            fields=_fields_text(_record(input["record"]), fields),
            examples=examples,
            guidelines=input.get("guidelines") or self.guidelines,
            layout=_LAYOUT[kind],
        )
        messages: ChatType = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": prompt},
        ]
        return messages, {"format": "json", "schema": _schema(question)}

    def _sample_row(self) -> dict[str, Any]:
        names = [_serialized(f).get("name", "field") for f in self.fields or []]
        fields = {name: f"<PLACEHOLDER_{name.upper()}>" for name in names or ["text"]}
        return {"record": {"fields": fields}}

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        question = self._question(input or {})
        value = _answer(parsing.json_object(output or ""), question)
        return {
            "suggestion": {
                "value": value,
                "question_name": question["name"],
                "type": "model",
                "agent": self.llm.model_name,
            }
        }


def _options(question: dict[str, Any]) -> list[Any]:
    return [option.get("value") for option in question["settings"].get("options") or []]


def _record(value: Any) -> dict[str, Any]:
    record = _serialized(value)
    if not isinstance(record, dict):
        raise ValueError(
            f"'record' is a {type(record).__name__}; expected an Argilla record or its dict"
        )
    return record


def _fields_text(record: dict[str, Any], fields: list[dict[str, Any]]) -> str:
    values = record.get("fields") or {}
    return "\n".join(f"{field['name']}: {values.get(field['name'], '')}" for field in fields)


def _response(record: dict[str, Any], question: dict[str, Any]) -> str | None:
    """An example record's first response to `question`, as the JSON the LLM should write."""
    responses = (record.get("responses") or {}).get(question["name"]) or []
    if not responses:
        return None
    return json.dumps({_ANSWER_KEY[question["settings"]["type"]]: responses[0].get("value")})


def _schema(question: dict[str, Any]) -> dict[str, Any]:
    kind = question["settings"]["type"]
    options = _options(question)
    types: dict[str, dict[str, Any]] = {
        "label_selection": {"type": "string"},
        "multi_label_selection": {"type": "array", "items": {"type": "string"}},
        "rating": {"type": "integer"},
        "text": {"type": "string"},
    }
    value = types[kind]
    if options and kind in ("label_selection", "rating"):
        value = {**value, "enum": options}
    if options and kind == "multi_label_selection":
        value = {**value, "items": {"type": "string", "enum": options}}
    return json_schema({_ANSWER_KEY[kind]: value})


def _answer(data: dict[str, Any], question: dict[str, Any]) -> Any:
    """The answer in the reply, checked against the question's type and options."""
    kind = question["settings"]["type"]
    key = _ANSWER_KEY[kind]
    if key not in data:
        raise ValueError(f"the reply has no {key!r}")
    value, options = data[key], _options(question)
    if kind == "multi_label_selection":
        if not isinstance(value, list) or any(options and v not in options for v in value):
            raise ValueError(f"'labels' must be a list of allowed values {options}")
        return value
    if kind == "rating":
        value = parsing.number(value)
        if value is None or not value.is_integer():
            raise ValueError("'rating' is not an integer")
        value = int(value)
    elif not isinstance(value, str):
        raise ValueError(f"{key!r} is not a string")
    if options and kind != "text" and value not in options:
        raise ValueError(f"{value!r} is not one of the allowed values {options}")
    return value
