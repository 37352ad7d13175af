"""`SelfInstruct`: write several user queries about each row's input (Self-Instruct, Wang et al. 2023)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType


class SelfInstruct(Task):
    """Generate `num_instructions` queries an application's users might ask about `input`.

    The Self-Instruct idea: bootstrap instruction data from a model by asking it for varied
    new tasks around a seed. `criteria_for_query_generation` says what makes a good query;
    `application_description` names the application the queries are for.

    Columns: inputs = `input` (the seed topic or text); outputs = `instructions` (list of
    str, one per line of the reply), `model_name`.
    """

    num_instructions: PositiveInt = Field(default=5, description="Queries to ask for per row.")
    criteria_for_query_generation: str = Field(
        default_factory=lambda: prompts.render("self_instruct_criteria"),
        description="What the queries must be like.",
    )
    application_description: str = Field(
        default="AI assistant", description="The application the queries are meant for."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["input"]

    @property
    def outputs(self) -> StepColumns:
        return ["instructions", "model_name"]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        prompt = prompts.render(
            "self_instruct",
            num_instructions=self.num_instructions,
            criteria_for_query_generation=self.criteria_for_query_generation,
            application_description=self.application_description,
            input=input["input"],
        )
        return [{"role": "user", "content": prompt}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"instructions": parsing.list_items(output or "")}
