"""`TextGeneration`: send one prompt per row (optionally from a template) and keep the reply."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from stillroom.errors import StillroomUserError, step_label
from stillroom.steps.tasks.base import Task
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType
from stillroom.utils import templates
from stillroom.utils.chat import check_ends_with_user
from stillroom.utils.chat import is_openai_format as is_conversation


class TextGeneration(Task):
    """Generate a reply for each row's prompt.

    By default the prompt is the `instruction` column. With `template` and `columns` the
    prompt is a Jinja2 template rendered with those columns, e.g.
    `template="Summarise: {{ text }}", columns=["text"]`. A `system_prompt` (or a
    `system_prompt` column in the row, which wins) is sent as the system message.

    Columns: inputs = `columns`; outputs = `generation`, `model_name`.
    """

    _can_be_used_with_offline_batch_generation: ClassVar[bool] = True

    system_prompt: str | None = Field(default=None, description="System message for every row.")
    use_system_prompt: bool = Field(default=True, description="Send the system prompt at all.")
    template: str = Field(
        default="{{ instruction }}", description="Jinja2 template of the user message."
    )
    columns: str | list[str] = Field(
        default="instruction", validate_default=True, description="Row columns the template reads."
    )

    @field_validator("template")
    @classmethod
    def _checked_template(cls, value: str, info: ValidationInfo) -> str:
        owner = step_label(cls, info.data.get("name"))
        return templates.check(value, owner=owner, field="field 'template'")

    @field_validator("columns")
    @classmethod
    def _as_list(cls, value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else list(value)

    def configuration_problems(self) -> list[str]:
        """`columns` the template never reads: `load()` refuses them, and so does a pipeline
        before any step loads (a later load stage would otherwise find them only after the
        earlier stages paid for their requests)."""
        problems = super().configuration_problems()
        unused = [c for c in self.columns if c not in templates.variables(self.template)]
        if unused:
            problems.append(
                f"{self._label()}: columns {unused} are not used by the template "
                f"{self.template!r}. Reference each column as {{{{ column }}}} in the template, "
                "or drop it from `columns`."
            )
        return problems

    @property
    def inputs(self) -> StepColumns:
        return {**dict.fromkeys(self.columns, True), "system_prompt": False}

    @property
    def outputs(self) -> StepColumns:
        return ["generation", "model_name"]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        """The user message: the template rendered with the row's `columns`.

        The default template sends the column as the prompt, so it must hold text; a custom
        template may read other values (e.g. loop over a list). A conversation is refused
        either way: ChatGeneration continues those.
        """
        values = {}
        custom = self.template != type(self).model_fields["template"].default
        for column in self.columns:
            value = input[column]
            if (value and is_conversation(value)) or not (custom or isinstance(value, str)):
                raise StillroomUserError(
                    f"TextGeneration {self.name!r}: column {column!r} must hold text, got "
                    f"{type(value).__name__} {value!r:.200}. Use ChatGeneration for "
                    "conversations, or a `template` that reads other values."
                )
            values[column] = value
        prompt = templates.render(
            self.template, owner=self._label(), field="field 'template'", **values
        )
        messages: ChatType = [{"role": "user", "content": prompt}]
        system_prompt = input.get("system_prompt") or self.system_prompt
        if system_prompt and self.use_system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        return messages

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"generation": output}


class ChatGeneration(Task):
    """Continue each row's conversation with the assistant's next message.

    The `messages` column holds a conversation in the OpenAI format (a list of
    `{"role": ..., "content": ...}` dicts) that ends with a user message.

    Columns: inputs = `messages`; outputs = `generation`, `model_name`.
    """

    _can_be_used_with_offline_batch_generation: ClassVar[bool] = True

    @property
    def inputs(self) -> StepColumns:
        return ["messages"]

    @property
    def outputs(self) -> StepColumns:
        return ["generation", "model_name"]

    def _sample_row(self) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "<PLACEHOLDER_USER_MESSAGE>"}]}

    def format_input(self, input: dict[str, Any]) -> ChatType:
        messages = input["messages"]
        if (
            not isinstance(messages, list)
            or not messages
            or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
                for m in messages
            )
        ):
            raise StillroomUserError(
                f"ChatGeneration {self.name!r}: column 'messages' must be a non-empty list of "
                f"{{'role': ..., 'content': ...}} dicts, got {messages!r:.200}."
            )
        check_ends_with_user(messages, f"ChatGeneration {self.name!r}")
        return [{"role": m["role"], "content": m["content"]} for m in messages]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"generation": output}
