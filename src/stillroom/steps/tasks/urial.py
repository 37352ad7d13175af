"""`URIAL`: answer with a base (not instruction-tuned) model through in-context alignment."""

from __future__ import annotations

from typing import Any

from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType, FormattedInput
from stillroom.utils.chat import check_ends_with_user


class URIAL(Task):
    """Answer a row's `instruction`, or continue its `conversation`, with a base model.

    URIAL (Lin et al. 2023) wraps the conversation in a fixed preamble and `# User:` /
    `# Assistant:` turns; the base model continues the last assistant turn, and the reply is
    cut where the model starts writing the next user turn. The conversation's last message
    must be the user's.

    Columns: inputs = `instruction` or `conversation` (one of them); outputs =
    `generation`, `model_name`.
    """

    @property
    def inputs(self) -> StepColumns:
        return {"instruction": False, "conversation": False}

    @property
    def outputs(self) -> StepColumns:
        return ["generation", "model_name"]

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        messages: ChatType
        if input.get("instruction") is not None:
            messages = [{"role": "user", "content": input["instruction"]}]
        elif input.get("conversation"):
            messages = input["conversation"]
        else:
            raise ValueError("URIAL needs an 'instruction' or a non-empty 'conversation' column")
        check_ends_with_user(messages, f"URIAL {self.name!r}")
        return [{"role": "user", "content": prompts.render("urial", messages=messages)}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        answer = (output or "").split("\n\n# User")[0]
        return {"generation": parsing.clean_text(answer)}

    def _sample_row(self) -> dict[str, Any]:
        return {"instruction": "<PLACEHOLDER_INSTRUCTION>"}
