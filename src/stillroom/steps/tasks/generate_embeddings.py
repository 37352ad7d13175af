"""`GenerateEmbeddings`: a vector per row from the last hidden state of an in-process LLM.

The idea of Deita's data selection (Liu et al., 2023, https://arxiv.org/abs/2312.15685): a
chat model's hidden state after the last token of a conversation describes the whole of it.
The LLM must hold its model in this process (`TransformersLLM`, `LlamaCppLLM`), since only
then are the hidden states there to read; for a hosted embedding model use
`EmbeddingGeneration` instead.
"""

from __future__ import annotations

from typing import Any

from stillroom.errors import StillroomUserError
from stillroom.models.llms.base import LLM
from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import StepColumns, StepOutput
from stillroom.typing import ChatType
from stillroom.utils.chat import is_openai_format


class GenerateEmbeddings(Step):
    """Embed each row's `text` (a string or a conversation) with an LLM's last hidden state.

    The text becomes a one-message user conversation (a conversation is taken as it is),
    the LLM renders it with its chat template, and the hidden state of its last token is the
    row's `embedding` (the LLM's hidden size long). Each batch is one call to the LLM's
    `get_last_hidden_states`. A row whose `text` is neither stops the batch with an error
    naming the row, before the model runs.

    Attributes:
        llm: an LLM run in this process that gives hidden states (`TransformersLLM`,
            `LlamaCppLLM`).

    Input columns:
        - text (`str` or `list[dict]`): the text, or a conversation in OpenAI's chat format.

    Output columns:
        - embedding (`list[float]`): the last token's hidden state.
        - model_name (`str`): the LLM's model.

    Example:
        ```python
        from stillroom.models.llms import TransformersLLM

        step = GenerateEmbeddings(llm=TransformersLLM(model="path/or/hub-id"))
        step.load()
        next(step.process([{"text": "Hello, how are you?"}]))[0]["embedding"][:3]
        ```
    """

    llm: LLM

    @property
    def inputs(self) -> StepColumns:
        return ["text"]

    @property
    def outputs(self) -> StepColumns:
        return ["embedding", "model_name"]

    def load(self) -> None:
        super().load()
        self.llm.load()

    def unload(self) -> None:
        self.llm.unload()
        super().unload()

    def format_input(self, input: dict[str, Any]) -> ChatType:
        """The conversation the LLM sees for one row: its `text` as a user message, or its
        conversation as it is."""
        text = input.get("text")
        if isinstance(text, str):
            return [{"role": "user", "content": text}]
        if is_openai_format(text) and text:
            return text  # type: ignore[no-any-return]
        raise StillroomUserError(
            f"{self._label()}: text={text!r} ({type(text).__name__}) is neither a string nor "
            "a non-empty conversation (a list of {'role': ..., 'content': ...} messages). Map the right "
            "column with input_mappings={'text': ...} or drop such rows first."
        )

    def process(self, inputs: StepInput) -> StepOutput:
        conversations = []
        for index, row in enumerate(inputs):
            try:
                conversations.append(self.format_input(row))
            except StillroomUserError as exc:
                raise StillroomUserError(f"row {index}: {exc}") from None
        states = self.llm.get_last_hidden_states(conversations) if conversations else []
        for row, state in zip(inputs, states, strict=True):
            row["embedding"] = [float(x) for x in state[-1]]
            row["model_name"] = self.llm.model_name
        yield inputs
