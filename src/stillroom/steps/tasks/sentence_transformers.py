"""`GenerateSentencePair`: positive (and negative) sentences for training embedding models."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import (
    DefaultStructuredOutputMixin,
    json_schema,
)
from stillroom.steps.typing import StepColumns
from stillroom.typing import FormattedInput, StructuredOutputType

GenerationAction = Literal["paraphrase", "semantically-similar", "query", "answer"]

_ACTIONS: dict[str, str] = {
    "paraphrase": "restate the anchor in different words while keeping its meaning",
    "semantically-similar": "be close in meaning to the anchor without repeating it",
    "query": "be a search query for which the anchor would be a good result",
    "answer": "be an answer to the anchor",
}

_SECTION = re.compile(r"^\s*#+\s*(positive|negative)\s*:?\s*$", re.IGNORECASE | re.MULTILINE)


class GenerateSentencePair(DefaultStructuredOutputMixin, Task):
    """From each `anchor` sentence, generate a `positive` and, with `triplet`, a `negative`.

    `action` says how the positive relates to the anchor: "paraphrase",
    "semantically-similar", "query" (a search query the anchor answers) or "answer".
    The negative is unrelated in meaning; with `hard_negative` it is built to look like the
    anchor, which makes harder training examples. `context` is shown to the LLM to steer it.

    Columns: inputs = `anchor`; outputs = `positive`, `negative` (with `triplet`),
    `model_name`.
    """

    triplet: bool = Field(default=False, description="Also generate a negative sentence.")
    action: GenerationAction = Field(description="How the positive relates to the anchor.")
    hard_negative: bool = Field(
        default=False, description="Make the negative look like the anchor (a hard negative)."
    )
    context: str = Field(default="", description="Context shown to the LLM with every anchor.")

    @property
    def inputs(self) -> StepColumns:
        return ["anchor"]

    @property
    def outputs(self) -> StepColumns:
        return (
            ["positive", "negative", "model_name"] if self.triplet else ["positive", "model_name"]
        )

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        system = prompts.render(
            "generate_sentence_pair_system",
            action=_ACTIONS[self.action],
            triplet=self.triplet,
            hard_negative=self.hard_negative,
            context=bool(self.context),
            structured=self.use_default_structured_output,
        )
        user = prompts.render(
            "generate_sentence_pair", anchor=input["anchor"], context=self.context
        )
        return self._request(
            [{"role": "system", "content": system}, {"role": "user", "content": user}]
        )

    def get_structured_output(self) -> StructuredOutputType:
        string = {"type": "string"}
        properties = (
            {"positive": string, "negative": string} if self.triplet else {"positive": string}
        )
        return {"format": "json", "schema": json_schema(properties)}

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        text = output or ""
        sections = (
            parsing.json_object(text) if self.use_default_structured_output else _sections(text)
        )
        wanted = ["positive", "negative"] if self.triplet else ["positive"]
        result = {}
        for name in wanted:
            value = sections.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"the reply has no {name} sentence")
            result[name] = value.strip()
        return result


def _sections(text: str) -> dict[str, str]:
    """`## Positive` / `## Negative` sections of a reply, by lower-cased heading."""
    headings = list(_SECTION.finditer(text))
    return {
        match.group(1).lower(): text[
            match.end() : headings[i + 1].start() if i + 1 < len(headings) else len(text)
        ].strip()
        for i, match in enumerate(headings)
    }
