"""`GenerateSentencePair`: positive (and negative) sentences for training embedding models."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from stillroom.steps.tasks import parsing
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType, StructuredOutputType

GenerationAction = Literal["paraphrase", "semantically-similar", "query", "answer"]

GENERATION_ACTION_SENTENCES: dict[str, str] = {
    "paraphrase": "paraphrase",
    "semantically-similar": "be semantically similar to",
    "query": "be a query for",
    "answer": "be an answer for",
}
"""What the positive sentence does to the anchor, for each `action` (fills {action_sentence})."""

# The system prompts are `str.format` templates (placeholders {action_sentence}, {context},
# {negative_style}), kept as module constants so that code building its own prompts can
# reuse them, as distilabel's users do with its constants of the same names.
POSITIVE_SYSTEM_PROMPT = (
    "You write sentences for training text embedding models. From the anchor sentence you "
    "receive, write one positive sentence, which must {action_sentence} the anchor "
    "sentence.{context} Reply with a single section headed `## Positive` holding that "
    "sentence, and nothing else."
)

POSITIVE_NEGATIVE_SYSTEM_PROMPT = (
    "You write sentences for training text embedding models. From the anchor sentence you "
    "receive, write one positive sentence, which must {action_sentence} the anchor "
    "sentence, and one negative sentence, which {negative_style}.{context} Reply with two "
    "sections headed `## Positive` and `## Negative`, each holding its sentence, and nothing "
    "else."
)

NEGATIVE_STYLE: dict[str, str] = {
    "negative": "may share some words with the anchor but is not related to its meaning",
    "hard-negative": (
        "looks as close to the anchor as possible (it reuses its key words and its sentence "
        "structure) while meaning something unrelated, so that a model could easily mistake "
        "it for a match"
    ),
}
"""How the negative relates to the anchor, plain or hard (fills {negative_style})."""

CONTEXT_INTRO = " Use the context given with the anchor."
"""Fills {context} when the task has a `context`; empty otherwise."""

_STRUCTURED = "\nInstead of sections, answer with a JSON object only: {shape}."

_SECTION = re.compile(r"^\s*#+\s*(positive|negative)\s*:?\s*$", re.IGNORECASE | re.MULTILINE)


class GenerateSentencePair(Task):
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

    def format_input(self, input: dict[str, Any]) -> ChatType:
        values = {
            "action_sentence": GENERATION_ACTION_SENTENCES[self.action],
            "context": CONTEXT_INTRO if self.context else "",
        }
        if self.triplet:
            values["negative_style"] = NEGATIVE_STYLE[
                "hard-negative" if self.hard_negative else "negative"
            ]
            system = POSITIVE_NEGATIVE_SYSTEM_PROMPT.format(**values)
        else:
            system = POSITIVE_SYSTEM_PROMPT.format(**values)
        if self.use_default_structured_output:
            shape = '{"positive": "..."' + (', "negative": "..."}' if self.triplet else "}")
            system += _STRUCTURED.format(shape=shape)
        user = f"## Anchor\n\n{input['anchor']}\n"
        if self.context:
            user = f"## Context\n\n{self.context}\n\n{user}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def get_structured_output(self) -> StructuredOutputType:
        string = {"type": "string"}
        properties = (
            {"positive": string, "negative": string} if self.triplet else {"positive": string}
        )
        return {"format": "json", "schema": json_schema(properties)}

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The `positive` (and `negative`) sentences; a sentence the reply lacks is None,
        except in a JSON reply, which gives the sentences it holds (as distilabel's does)."""
        sections = self._sections(output or "")
        if self.use_default_structured_output and sections:
            return {name: sections[name] for name in self._sentences() if name in sections}
        return {name: sections.get(name) for name in self._sentences()}

    def _read_reply(self, text: str, row: dict[str, Any] | None) -> dict[str, Any]:
        """The sentences, raising when one is missing (a run records why)."""
        sections = self._sections(text)
        for name in self._sentences():
            if name not in sections:
                raise ValueError(f"the reply has no {name} sentence")
        return {name: sections[name] for name in self._sentences()}

    def _sentences(self) -> list[str]:
        return ["positive", "negative"] if self.triplet else ["positive"]

    def _sections(self, text: str) -> dict[str, str]:
        """The reply's non-empty sentences by name, from JSON or from `## ...` sections."""
        if self.use_default_structured_output:
            try:
                found: dict[str, Any] = parsing.json_object(text)
            except ValueError:
                return {}
        else:
            found = _headed_sections(text)
        return {
            name: value.strip()
            for name, value in found.items()
            if isinstance(value, str) and value.strip()
        }


def _headed_sections(text: str) -> dict[str, str]:
    """`## Positive` / `## Negative` sections of a reply, by lower-cased heading."""
    headings = list(_SECTION.finditer(text))
    return {
        match.group(1).lower(): text[
            match.end() : headings[i + 1].start() if i + 1 < len(headings) else len(text)
        ].strip()
        for i, match in enumerate(headings)
    }
