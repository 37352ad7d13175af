"""`RewardModelScore`: score responses with a reward model run in-process by transformers.

The model is a sequence-classification head (`AutoModelForSequenceClassification`) over a
chat-templated conversation; transformers and torch come with the `[transformers]` extra and
are imported by `load()`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt, PrivateAttr, SecretStr

from stillroom.errors import StillroomUserError
from stillroom.models.llms.huggingface.transformers import hf_token_from_env, load_pretrained
from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import StepColumns, StepOutput
from stillroom.typing import ChatType


class RewardModelScore(Step):
    """Give each row the `score` a reward model assigns to its response.

    A row is either an `instruction` and a `response` (sent as a user turn and an assistant
    turn) or a whole `conversation` (a list of chat messages); the model's tokenizer renders
    it with its chat template, and the classification head's output is the score (a float;
    a list of floats for a head with several outputs). Each batch is one forward pass.
    `model` is a Hub repository id or a local folder. Needs the `[transformers]` extra.

    Attributes:
        model: Hub id or folder of the reward model.
        revision: Hub revision.
        torch_dtype: weights dtype ("auto": as saved).
        trust_remote_code: run modelling code shipped with the model.
        device_map: where transformers places the model ("cuda", "auto", a layer map); the
            CPU when None.
        token: Hub token for gated models (default `$HF_TOKEN`).
        truncation: cut conversations longer than `max_length` tokens.
        max_length: the token limit for `truncation`.

    Input columns:
        - instruction (`str`, optional): the prompt, with `response`.
        - response (`str`, optional): the answer to score.
        - conversation (`list[dict]`, optional): a whole chat, instead of the two above.

    Output columns:
        - score (`float`): the reward model's score.

    Example:
        ```python
        rm = RewardModelScore(model="a/reward-model")
        rm.load()
        next(rm.process([{"instruction": "2+2?", "response": "4"}]))[0]["score"]
        ```
    """

    model: str = Field(description="Hub id or folder of the reward model.")
    revision: str = Field(default="main", description="Hub revision.")
    torch_dtype: str = Field(default="auto", description='Weights dtype; "auto": as saved.')
    trust_remote_code: bool = Field(default=False, description="Run the model's own code.")
    device_map: str | dict[str, Any] | None = Field(
        default=None, description='Model placement ("cuda", "auto", a map); CPU when None.'
    )
    token: SecretStr | None = Field(
        default_factory=hf_token_from_env, description="Hub token (default $HF_TOKEN)."
    )
    truncation: bool = Field(default=False, description="Cut conversations to max_length.")
    max_length: PositiveInt | None = Field(default=None, description="Token limit.")

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    @property
    def inputs(self) -> StepColumns:
        return {"response": False, "instruction": False, "conversation": False}

    @property
    def outputs(self) -> StepColumns:
        return ["score"]

    def load(self) -> None:
        super().load()
        self._tokenizer, self._model = load_pretrained(self, "AutoModelForSequenceClassification")

    def unload(self) -> None:
        self._model = self._tokenizer = None
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        if not inputs:
            yield inputs
            return
        import torch

        conversations = [self._conversation(index, row) for index, row in enumerate(inputs)]
        encoded = self._tokenizer.apply_chat_template(
            conversations,
            tokenize=True,
            padding=True,
            truncation=self.truncation,
            max_length=self.max_length,
            return_tensors="pt",
            return_dict=True,
        ).to(self._model.device)
        with torch.no_grad():
            logits = self._model(**encoded).logits.float().cpu()
        for row, values in zip(inputs, logits.tolist(), strict=True):
            row["score"] = values[0] if len(values) == 1 else values
        yield inputs

    def _conversation(self, index: int, row: dict[str, Any]) -> ChatType:
        """The chat to score: `instruction` + `response`, else `conversation`."""
        if isinstance(row.get("instruction"), str) and isinstance(row.get("response"), str):
            return [
                {"role": "user", "content": row["instruction"]},
                {"role": "assistant", "content": row["response"]},
            ]
        conversation = row.get("conversation")
        if isinstance(conversation, list) and conversation:
            return conversation
        raise StillroomUserError(
            f"{self._label()}: row {index} has neither an instruction and a response (strings) "
            "nor a conversation (a list of messages); give one of them, or map your columns "
            "with input_mappings."
        )
