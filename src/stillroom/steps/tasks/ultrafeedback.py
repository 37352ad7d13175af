"""`UltraFeedback`: rate several generations for one instruction on an aspect (Cui et al. 2023)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema, with_item_count
from stillroom.steps.typing import Row, StepColumns
from stillroom.typing import ChatType, StructuredOutputType

UltraFeedbackAspect = Literal[
    "helpfulness", "honesty", "instruction-following", "truthfulness", "overall-rating"
]

_TYPED_ASPECTS = ("helpfulness", "truthfulness")
_TYPED_COLUMNS = ["types", "rationales", "ratings", "rationales-for-ratings"]
_PLAIN_COLUMNS = ["ratings", "rationales"]

_TEXT_HEADER = re.compile(
    r"^[ \t]*#*[ \t]*(?:output for[ \t]+)?text[ \t]*(\d+)[ \t]*(?::|$)",
    re.IGNORECASE | re.MULTILINE,
)
"""Opens a text's block: `#### Text 2` on its own line, or `Text 2:` followed by its fields."""
_FIELD = re.compile(
    r"^\s*(type|rationale|rating rationale|rating)\s*:\s*", re.IGNORECASE | re.MULTILINE
)
_FIELD_COLUMNS = {
    "type": "types",
    "rationale": "rationales",
    "rating": "ratings",
    "rating rationale": "rationales-for-ratings",
}


class UltraFeedback(Task):
    """Rate each of a row's `generations` for its `instruction` on one `aspect`.

    UltraFeedback's fine-grained feedback: the LLM sees all the texts together and rates
    each from 1 to 5 with a rationale. Aspects: "helpfulness", "honesty",
    "instruction-following", "truthfulness", and "overall-rating" (all of them in one
    judgement, so one request instead of four). "helpfulness" and "truthfulness" also
    classify each text (`types`: a kind of informativeness, or of hallucination) and explain
    the rating separately. A text whose block cannot be read gets None entries.

    Columns: inputs = `instruction`, `generations` (list of str); outputs = `ratings`,
    `rationales` (and `types`, `rationales-for-ratings` for helpfulness/truthfulness),
    `model_name`.
    """

    aspect: UltraFeedbackAspect = Field(
        default="overall-rating", description="What the ratings judge."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "generations"]

    @property
    def outputs(self) -> StepColumns:
        return [*self._columns(), "model_name"]

    def _typed(self) -> bool:
        return self.aspect in _TYPED_ASPECTS

    def _columns(self) -> list[str]:
        return _TYPED_COLUMNS if self._typed() else _PLAIN_COLUMNS

    def _sample_row(self) -> dict[str, Any]:
        return {
            "instruction": "<PLACEHOLDER_INSTRUCTION>",
            "generations": ["<PLACEHOLDER_GENERATION_1>", "<PLACEHOLDER_GENERATION_2>"],
        }

    def format_input(self, input: dict[str, Any]) -> ChatType:
        generations = input["generations"]
        system = prompts.render("ultrafeedback/system", count=len(generations))
        user = prompts.render(
            "ultrafeedback/request",
            criteria=prompts.render(f"ultrafeedback/{self.aspect}"),
            instruction=input["instruction"],
            generations=generations,
            typed=self._typed(),
            structured=self.use_default_structured_output,
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def structured_output_for(self, row: Row) -> StructuredOutputType | None:
        """The schema with each list bound to the row's number of generations."""
        structured = super().structured_output_for(row)
        if structured is None:
            return None
        count = len(row.get("generations") or [])
        return {**structured, "schema": with_item_count(structured["schema"], count)}

    def get_structured_output(self) -> StructuredOutputType:
        """The reply's JSON schema: one list per output column. Requests bound each list to
        the row's number of generations; this row-independent form leaves them unbounded."""
        rating = {"type": ["integer", "null"], "minimum": 1, "maximum": 5}
        kind = {"type": ["integer", "null"], "minimum": 1, "maximum": 3}
        text = {"type": "string"}
        kinds = {"types": kind, "ratings": rating, "rationales": text}
        kinds["rationales-for-ratings"] = text
        properties = {c: {"type": "array", "items": kinds[c]} for c in self._columns()}
        return {"format": "json", "schema": json_schema(properties)}

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        count = len((input or {}).get("generations") or [])
        if self.use_default_structured_output:
            blocks = _json_blocks(output or "", self._columns(), count)
        else:
            blocks = _text_blocks(output or "", count)
        result: dict[str, list[Any]] = {column: [] for column in self._columns()}
        for block in blocks:
            for column in self._columns():
                result[column].append(_value(column, block.get(column)))
        if all(rating is None for rating in result["ratings"]):
            raise ValueError(f"no rating from 1 to 5 could be read for any of the {count} texts")
        return result


def _value(column: str, raw: Any) -> Any:
    if column == "ratings":
        return parsing.integer_in_range(raw, 1, 5)
    if column == "types":
        return parsing.integer_in_range(raw, 1, 3)
    return raw.strip() if isinstance(raw, str) and raw.strip() else None


def _json_blocks(reply: str, columns: list[str], count: int) -> list[dict[str, Any]]:
    data = parsing.json_object(reply)
    blocks: list[dict[str, Any]] = [{} for _ in range(count)]
    for column in columns:
        values = data.get(column)
        if isinstance(values, list):
            for index, value in enumerate(values[:count]):
                blocks[index][column] = value
    return blocks


def _text_blocks(reply: str, count: int) -> list[dict[str, Any]]:
    """One dict of fields per text, from `#### Text n` blocks (or blank-line separated ones)."""
    headers = list(_TEXT_HEADER.finditer(reply))
    if headers:
        chunks: dict[int, str] = {}
        for i, match in enumerate(headers):
            end = headers[i + 1].start() if i + 1 < len(headers) else len(reply)
            chunks.setdefault(int(match.group(1)) - 1, reply[match.end() : end])
        ordered = [chunks.get(index, "") for index in range(count)]
    else:
        ordered = [c for c in re.split(r"\n\s*\n", reply) if _FIELD.search(c)][:count]
        ordered += [""] * (count - len(ordered))
    return [_fields(chunk) for chunk in ordered]


def _fields(chunk: str) -> dict[str, Any]:
    """The fields of one text's block. A second `Rationale:` (UltraFeedback's own layout for
    the typed aspects: Type, Rationale, Rating, Rationale) explains the rating."""
    found = list(_FIELD.finditer(chunk))
    fields: dict[str, Any] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(chunk)
        column = _FIELD_COLUMNS[re.sub(r"\s+", " ", match.group(1).lower())]
        if column == "rationales" and column in fields:
            column = "rationales-for-ratings"
        fields.setdefault(column, chunk[match.end() : end].strip())
    return fields
