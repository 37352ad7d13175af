"""`TextClassification`: assign one or several labels to each row's text."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, PositiveInt

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType, StructuredOutputType


class TextClassification(Task):
    """Label each row's `text` with `n` labels, free or chosen from `available_labels`.

    The LLM answers `{"labels": ...}`: one string when `n == 1`, else a list of `n` strings.
    `available_labels` is a list of labels or a dict label -> description; without it the
    LLM invents suitable labels. `default_label` is what it should answer for text it
    cannot classify. Structured output is on by default (`use_default_structured_output`),
    which also restricts the labels to `available_labels` on backends that support schemas.

    Columns: inputs = `text`; outputs = `labels` (str, or list of str when `n > 1`),
    `model_name`.
    """

    system_prompt: str | None = Field(
        default_factory=lambda: prompts.render("text_classification_system"),
        description="System message sent with every request.",
    )
    n: PositiveInt = Field(default=1, description="How many labels to assign to each text.")
    context: str | None = Field(
        default="Each label should name, in a word or two, what the text is chiefly about.",
        description="Guidance on what the labels should capture.",
    )
    examples: list[str] | None = Field(
        default=None, description="Few-shot examples shown to the LLM, as text."
    )
    available_labels: list[str] | dict[str, str] | None = Field(
        default=None, description="Labels to choose from, or label -> description."
    )
    default_label: str | list[str] | None = Field(
        default="Unclassified", description="Answer for text that cannot be classified."
    )
    query_title: str = Field(
        default="User Query", description="Heading under which the text is shown."
    )
    use_default_structured_output: bool = Field(
        default=True, description="Ask the LLM for JSON following the task's own schema."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["text"]

    @property
    def outputs(self) -> StepColumns:
        return ["labels", "model_name"]

    def _labels(self) -> list[tuple[str, str | None]]:
        if isinstance(self.available_labels, dict):
            return list(self.available_labels.items())
        return [(label, None) for label in self.available_labels or []]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        if self.n == 1:
            labels_format = '"label"'
        else:
            labels_format = json.dumps([f"label_{i + 1}" for i in range(self.n)])
        prompt = prompts.render(
            "text_classification",
            n=self.n,
            query_title=self.query_title,
            context=self.context,
            available_labels=self._labels(),
            default_label=json.dumps(self.default_label),
            examples=self.examples,
            text=input["text"],
            labels_format=labels_format,
        )
        messages: ChatType = [{"role": "user", "content": prompt}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    def get_structured_output(self) -> StructuredOutputType:
        label: dict[str, Any] = {"type": "string"}
        if self.available_labels:
            allowed = [name for name, _ in self._labels()]
            defaults = self.default_label if isinstance(self.default_label, list) else []
            extra = [self.default_label] if isinstance(self.default_label, str) else defaults
            label["enum"] = allowed + [d for d in extra if d not in allowed]
        labels: dict[str, Any] = (
            label
            if self.n == 1
            else {"type": "array", "items": label, "minItems": self.n, "maxItems": self.n}
        )
        return {"format": "json", "schema": json_schema({"labels": labels})}

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        labels = parsing.json_object(output or "")["labels"]
        if self.n == 1 and isinstance(labels, list) and len(labels) == 1:
            labels = labels[0]
        if self.n > 1 and isinstance(labels, str):
            labels = [labels]
        valid = isinstance(labels, str) if self.n == 1 else _all_strings(labels)
        if not valid:
            raise ValueError(
                f"'labels' should be {'a string' if self.n == 1 else 'a list of strings'}, got {labels!r}"
            )
        return {"labels": labels}


def _all_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
