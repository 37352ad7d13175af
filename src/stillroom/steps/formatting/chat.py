"""Checks, builders and the base step shared by the formatting steps: prompts, ids, messages."""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from typing import Any

from stillroom.errors import InvalidRowsError
from stillroom.steps.base import Step, StepInput
from stillroom.steps.bookkeeping import check_required_columns
from stillroom.steps.typing import Row, StepOutput
from stillroom.typing import ChatType
from stillroom.utils.chat import content_text


def prompt_id(prompt: str | None) -> str | None:
    """SHA-256 hex digest of the prompt's UTF-8 bytes (None for a missing prompt)."""
    return None if prompt is None else hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def text_value(label: str, index: int, column: str, value: Any) -> str | None:
    """`value` if it is a string or None (a failed generation); anything else is an error."""
    if value is None or isinstance(value, str):
        return value
    raise InvalidRowsError(
        f"{label}: column {column!r} of row {index} should be a string, got "
        f"{type(value).__name__} {value!r:.80}."
    )


def messages_value(label: str, index: int, column: str, value: Any) -> ChatType:
    """`value` if it is a list of `{"role", "content"}` dicts; anything else is an error."""
    if isinstance(value, list) and all(
        isinstance(m, dict) and "role" in m and "content" in m for m in value
    ):
        return value
    raise InvalidRowsError(
        f"{label}: column {column!r} of row {index} should be a list of messages like "
        f'[{{"role": "user", "content": "..."}}], got {value!r:.80}.'
    )


def first_user_message(label: str, index: int, messages: ChatType) -> str | None:
    """The content of the first user message, which identifies the conversation's prompt."""
    for message in messages:
        if message["role"] == "user":
            return content_text(message["content"])
    raise InvalidRowsError(
        f"{label}: the messages of row {index} have no user message, so there is no prompt "
        f"to format (roles found: {[m['role'] for m in messages]})."
    )


def user_turn(system_prompt: Any, instruction: str | None) -> ChatType:
    """The conversation that asks `instruction`, after the system prompt when there is one."""
    messages: ChatType = []
    if isinstance(system_prompt, str) and system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    # a None instruction (its request failed upstream) stays None in the conversation
    messages.append({"role": "user", "content": instruction})  # type: ignore[typeddict-item]
    return messages


class RowFormattingStep(Step):
    """A step that adds columns to each row on its own, through the subclass's `_format`."""

    def process(self, *inputs: StepInput) -> StepOutput:
        """One output batch per input batch: its required columns checked, each row formatted."""
        for batch in inputs:
            check_required_columns(
                self.name, self._required_inputs(), (batch,), self.input_mappings
            )
            yield [self._format(index, row) for index, row in enumerate(batch)]

    @abstractmethod
    def _format(self, index: int, row: Row) -> Row:
        """The row (the `index`-th of its batch) with the step's outputs added."""
