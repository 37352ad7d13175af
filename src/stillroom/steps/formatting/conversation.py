"""`ConversationTemplate`: an instruction and its response as a two-turn conversation."""

from __future__ import annotations

from stillroom.steps.base import Step, StepInput
from stillroom.steps.formatting.chat import text_value
from stillroom.steps.typing import StepColumns, StepOutput


class ConversationTemplate(Step):
    """Add a `conversation` column: the instruction as user turn, the response as assistant turn.

    Input columns:
        - instruction (`str`): the user's message.
        - response (`str`): the assistant's answer (`None` is kept as `None` content).

    Output columns:
        - conversation (`list[dict]`): `[{"role": "user", ...}, {"role": "assistant", ...}]`.

    Example:
        ```python
        template = ConversationTemplate()
        next(template.process([{"instruction": "Hello", "response": "Hi"}]))[0]["conversation"]
        # [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}]
        ```
    """

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "response"]

    @property
    def outputs(self) -> StepColumns:
        return ["conversation"]

    def process(self, inputs: StepInput) -> StepOutput:
        """One batch of rows with their `conversation` added."""
        label = self._label()
        rows = []
        for index, row in enumerate(inputs):
            instruction = text_value(label, index, "instruction", row["instruction"])
            response = text_value(label, index, "response", row["response"])
            conversation = [
                {"role": "user", "content": instruction},
                {"role": "assistant", "content": response},
            ]
            rows.append({**row, "conversation": conversation})
        yield rows
