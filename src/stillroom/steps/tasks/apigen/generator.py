"""`APIGenGenerator`: queries and the function calls answering them (APIGen, Liu et al. 2024)."""

from __future__ import annotations

import json
import random
from typing import Any

from pydantic import Field, PrivateAttr

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.apigen.utils import remove_fences
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType, StructuredOutputType


class APIGenGenerator(Task):
    """Write a user query for a function and the JSON calls that answer it.

    For each row's function (`func_name`, `func_desc`, optionally its `tools` definition),
    with few-shot `examples`, the LLM writes `number` query/answers pairs in the xLAM
    layout; the first pair is kept. `number` may be an int, a list to pick from, or a
    `{number: probability}` dict (drawn per row); above 1, queries may hold several
    parallel requests. A reply that is not such a JSON list is malformed.

    Columns: inputs = `examples`, `func_name`, `func_desc`, `tools` (optional); outputs =
    `query`, `answers` (JSON string of a list of `{"name", "arguments"}`), `model_name`.
    """

    system_prompt: str = Field(
        default_factory=lambda: prompts.render("apigen/generator_system"),
        description="System prompt describing the labelling job.",
    )
    number: int | list[int] | dict[int, float] = Field(
        default=1, description="Pairs per request: an int, a list to pick from, or weights."
    )
    use_tools: bool = Field(default=True, description="Show the row's `tools` definition.")

    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    @property
    def inputs(self) -> StepColumns:
        return {"examples": True, "func_name": True, "func_desc": True, "tools": False}

    @property
    def outputs(self) -> StepColumns:
        return ["query", "answers", "model_name"]

    def _number(self) -> int:
        if isinstance(self.number, list):
            return int(self._rng.choice(self.number))
        if isinstance(self.number, dict):
            return int(self._rng.choices(list(self.number), list(self.number.values()))[0])
        return self.number

    def format_input(self, input: dict[str, Any]) -> ChatType:
        user = prompts.render(
            "apigen/generator",
            examples=input["examples"],
            number=self._number(),
            func_name=input["func_name"],
            func_desc=input["func_desc"],
            tools=input.get("tools") if self.use_tools else None,
            structured=self.use_default_structured_output,
        )
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user},
        ]

    def get_structured_output(self) -> StructuredOutputType:
        call = json_schema({"name": {"type": "string"}, "arguments": {"type": "object"}})
        pair = json_schema(
            {"query": {"type": "string"}, "answers": {"type": "array", "items": call}}
        )
        return {
            "format": "json",
            "schema": json_schema({"pairs": {"type": "array", "items": pair}}),
        }

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data = parsing.json_value(remove_fences(output or ""))
        pairs = data.get("pairs") if isinstance(data, dict) else data
        if not isinstance(pairs, list) or not pairs or not isinstance(pairs[0], dict):
            raise ValueError("expected a JSON list of {query, answers} pairs")
        first = pairs[0]
        if not isinstance(first.get("query"), str) or not isinstance(first.get("answers"), list):
            raise ValueError("the first pair lacks a 'query' string or an 'answers' list")
        return {"query": first["query"], "answers": json.dumps(first["answers"])}
