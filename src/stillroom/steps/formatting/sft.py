"""SFT formatting: generated rows as chat conversations for supervised fine-tuning."""

from __future__ import annotations

from stillroom.steps.formatting.chat import (
    RowFormattingStep,
    first_user_message,
    messages_value,
    prompt_id,
    text_value,
    user_turn,
)
from stillroom.steps.typing import Row, StepColumns

_OUTPUTS = ["prompt", "prompt_id", "messages"]


class _FormatSFT(RowFormattingStep):
    """Adds the SFT columns (`prompt`, `prompt_id`, `messages`) to each row."""

    @property
    def outputs(self) -> StepColumns:
        return list(_OUTPUTS)


class FormatTextGenerationSFT(_FormatSFT):
    """Turn `instruction` + `generation` (a `TextGeneration` output) into an SFT conversation.

    The layout is the one SFT trainers read (`prompt`, `prompt_id`, `messages`, as in
    ultrachat-style datasets): the instruction as the user turn, the generation as the
    assistant turn, and the row's `system_prompt` first when it is a non-empty string. A
    `None` generation (a failed request) is kept as `None` content rather than dropping the
    row; filter such rows before training.

    Input columns:
        - instruction (`str`): the user's request.
        - generation (`str`): the model's answer.
        - system_prompt (`str`, optional): the system prompt used to generate it.

    Output columns:
        - prompt (`str`): the instruction.
        - prompt_id (`str`): SHA-256 hex digest of the prompt.
        - messages (`list[dict]`): `[system?, user, assistant]` messages.

    Example:
        ```python
        sft = FormatTextGenerationSFT()
        next(sft.process([{"instruction": "2+2?", "generation": "4"}]))[0]["messages"]
        # [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
        ```
    """

    @property
    def inputs(self) -> StepColumns:
        return {"instruction": True, "generation": True, "system_prompt": False}

    def _format(self, index: int, row: Row) -> Row:
        label = self._label()
        instruction = text_value(label, index, "instruction", row["instruction"])
        generation = text_value(label, index, "generation", row["generation"])
        messages = user_turn(row.get("system_prompt"), instruction)
        # a None generation (its request failed upstream) stays None, as distilabel keeps it
        messages.append({"role": "assistant", "content": generation})  # type: ignore[typeddict-item]
        return {
            **row,
            "prompt": instruction,
            "prompt_id": prompt_id(instruction),
            "messages": messages,
        }


class FormatChatGenerationSFT(_FormatSFT):
    """Append `generation` to the `messages` a `ChatGeneration` answered, for SFT.

    `prompt` is the first user message of the conversation. The input `messages` column is
    replaced by the conversation including the assistant's answer.

    Input columns:
        - messages (`list[dict]`): the conversation so far (at least one user message).
        - generation (`str`): the model's answer to it.

    Output columns:
        - prompt (`str`): the first user message.
        - prompt_id (`str`): SHA-256 hex digest of the prompt.
        - messages (`list[dict]`): the conversation followed by the assistant's answer.

    Example:
        ```python
        sft = FormatChatGenerationSFT()
        row = {"messages": [{"role": "user", "content": "Hi"}], "generation": "Hello!"}
        next(sft.process([row]))[0]["messages"][-1]
        # {"role": "assistant", "content": "Hello!"}
        ```
    """

    @property
    def inputs(self) -> StepColumns:
        return ["messages", "generation"]

    def _format(self, index: int, row: Row) -> Row:
        label = self._label()
        messages = messages_value(label, index, "messages", row["messages"])
        generation = text_value(label, index, "generation", row["generation"])
        prompt = first_user_message(label, index, messages)
        return {
            **row,
            "prompt": prompt,
            "prompt_id": prompt_id(prompt),
            "messages": [*messages, {"role": "assistant", "content": generation}],
        }
