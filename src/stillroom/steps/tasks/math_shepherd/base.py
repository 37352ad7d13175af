"""What `MathShepherdGenerator` and `MathShepherdCompleter` share: the system prompt's
parts, the request layout and the reading of one or several solutions from a reply."""

from __future__ import annotations

from pydantic import Field

from stillroom.steps.tasks import parsing
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema
from stillroom.steps.tasks.math_shepherd import prompts
from stillroom.steps.tasks.math_shepherd.utils import split_solution_steps
from stillroom.typing import ChatType, StructuredOutputType
from stillroom.utils import templates

SOLUTION_SEPARATOR = "---"
"""What separates several solutions in one plain-text reply."""


class MathShepherdPrompting(Task):
    """The system prompt (a template of `extra_rules`, `few_shots`, `structured_prompt`)."""

    system_prompt: str | None = Field(
        default=prompts.SYSTEM_PROMPT,
        description="System prompt template; None sends no system message.",
    )
    extra_rules: str | None = Field(
        default=prompts.RULES_GSM8K,
        description="Dataset-specific rules (RULES_GSM8K, RULES_MATH or your own).",
    )
    few_shots: str | None = Field(
        default=prompts.FEW_SHOTS_GSM8K,
        description="Worked examples (FEW_SHOTS_GSM8K, FEW_SHOTS_MATH or your own).",
    )

    def _messages(self, user: str) -> ChatType:
        messages: ChatType = [{"role": "user", "content": user}]
        if self.system_prompt:
            system = templates.render(
                self.system_prompt,
                owner=self._label(),
                field="system_prompt",
                extra_rules=self.extra_rules or "",
                few_shots=self.few_shots or "",
                structured_prompt=(
                    prompts.STRUCTURED_PROMPT if self.use_default_structured_output else ""
                ),
            )
            messages.insert(0, {"role": "system", "content": system})
        return messages

    def get_structured_output(self) -> StructuredOutputType:
        solution = json_schema({"solution": {"type": "string"}})
        return {
            "format": "json",
            "schema": json_schema({"solutions": {"type": "array", "items": solution}}),
        }

    def _solutions(self, reply: str, count: int | None) -> list[list[str]]:
        """The solutions in `reply`, each split into steps: `count` of them (separated by
        `---`, or a JSON list), or the whole reply as one when `count` is None."""
        if self.use_default_structured_output:
            items = parsing.json_object(reply).get("solutions")
            if not isinstance(items, list) or not items:
                raise ValueError("'solutions' is not a non-empty list")
            texts = [
                str(item.get("solution", "")) if isinstance(item, dict) else "" for item in items
            ]
        else:
            texts = reply.split(SOLUTION_SEPARATOR) if count else [reply]
        solutions = [split_solution_steps(text) for text in texts]
        solutions = [steps for steps in solutions if steps]
        if not solutions:
            raise ValueError("no 'Step n:' or 'The answer is:' lines in the reply")
        return solutions[:count] if count else solutions[:1]
