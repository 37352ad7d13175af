"""`APIGenSemanticChecker`: does a query's generated call answer it? (APIGen's last check)"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.apigen.utils import remove_fences
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema
from stillroom.steps.tasks.lenient_output import NoneOnUnreadableReply
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType, StructuredOutputType


class APIGenSemanticChecker(NoneOnUnreadableReply, Task):
    """Judge whether a row's `answers` (and their `execution_result`) fit its `query`.

    The last of APIGen's three checks (format, execution, semantics). With
    `exclude_failed_execution`, a row whose calls failed `APIGenExecutionChecker` is not
    sent: it keeps None outputs and the reason. A reply that is not a JSON object with
    `passes` "yes" or "no" is malformed.

    Columns: inputs = `func_desc`, `query`, `answers`, `execution_result`,
    `keep_row_after_execution_check`; outputs = `keep_row_after_semantic_check` (bool),
    `thought`, `model_name`.
    """

    system_prompt: str = Field(
        default_factory=lambda: prompts.render("apigen/semantic_checker_system"),
        description="System prompt listing when data fails.",
    )
    exclude_failed_execution: bool = Field(
        default=True, description="Do not send rows that failed the execution check."
    )

    @property
    def inputs(self) -> StepColumns:
        return {
            "func_desc": True,
            "query": True,
            "answers": True,
            "execution_result": True,
            "keep_row_after_execution_check": True,
        }

    @property
    def outputs(self) -> StepColumns:
        return ["keep_row_after_semantic_check", "thought", "model_name"]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        if self.exclude_failed_execution and input.get("keep_row_after_execution_check") is False:
            raise ValueError("the row failed the execution check; not sent")
        user = prompts.render(
            "apigen/semantic_checker",
            func_desc=input["func_desc"],
            query=input["query"],
            func_call=input["answers"],
            execution_result=input["execution_result"],
            structured=self.use_default_structured_output,
        )
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user},
        ]

    def get_structured_output(self) -> StructuredOutputType:
        schema = json_schema(
            {"thought": {"type": "string"}, "passes": {"type": "string", "enum": ["yes", "no"]}}
        )
        return {"format": "json", "schema": schema}

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The input row's columns with the verdict and thought added (as distilabel's
        does); None outputs for a reply that is missing or unreadable."""
        return {**(input or {}), **super().format_output(output, input)}

    def _read_reply(self, text: str, row: dict[str, Any] | None) -> dict[str, Any]:
        data = parsing.json_object(remove_fences(text))
        passes = str(data.get("passes", "")).strip().lower()
        if passes not in ("yes", "no"):
            raise ValueError('\'passes\' is not "yes" or "no"')
        thought = data.get("thought")
        return {
            "keep_row_after_semantic_check": passes == "yes",
            "thought": thought if isinstance(thought, str) else None,
        }
