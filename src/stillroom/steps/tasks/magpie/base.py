"""`Magpie`: generate instructions or whole conversations with nothing but a system prompt.

An instruct model, prompted with its chat template up to the opening of a user turn (the
pre-query template), writes a plausible user message. Sending the conversation back as
usual then gets the assistant's reply, and so on for several turns. The LLM must render
its own prompts: it has to be a `MagpieChatTemplateMixin` (the embedded local model, the
mock LLMs) with `magpie_pre_query_template` set.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, Field, PositiveInt, field_validator

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin
from stillroom.steps.tasks import parsing, prompts
from stillroom.steps.tasks.multi_round import Exchange, MultiRoundTask, Transcript
from stillroom.steps.typing import Row, StepColumns
from stillroom.typing import ChatType

_RNG = random.Random()
"""Picks system prompts; unseeded, like the sampling of the LLM itself."""

SystemPrompts = str | list[str] | dict[str, str] | dict[str, tuple[str, float]]
"""One system prompt, a list to pick from, or key -> prompt (or key -> (prompt, weight))."""


class MagpieBase(BaseModel):
    """The Magpie settings and the dialogue they describe, shared by the two Magpie tasks."""

    n_turns: RuntimeParameter[PositiveInt] = Field(
        default=1, description="User/assistant turns per conversation."
    )
    end_with_user: RuntimeParameter[bool] = Field(
        default=False, description="End the conversation with a user message."
    )
    include_system_prompt: RuntimeParameter[bool] = Field(
        default=False, description="Keep the system prompt in the `conversation` column."
    )
    only_instruction: RuntimeParameter[bool] = Field(
        default=False, description="Generate only the first user message (ignores n_turns)."
    )
    system_prompt: RuntimeParameter[SystemPrompts | None] = Field(
        default=None,
        description="System prompt steering the topic: a string, a list to pick from at random, "
        "or a dict key -> prompt or key -> (prompt, probability); a `system_prompt` column wins.",
    )

    @field_validator("system_prompt")
    @classmethod
    def _check_weights(cls, value: SystemPrompts | None) -> SystemPrompts | None:
        if isinstance(value, dict) and value:
            weighted = [isinstance(v, tuple) for v in value.values()]
            if any(weighted) and not all(weighted):
                raise ValueError(
                    "system_prompt: give every prompt a probability, (prompt, probability), or none."
                )
            weights = [v[1] for v in value.values() if isinstance(v, tuple)]
            if all(weighted) and abs(sum(weights) - 1.0) > 1e-6:
                raise ValueError("system_prompt: the probabilities must add up to 1.")
        if isinstance(value, (list, dict)) and not value:
            raise ValueError("system_prompt: give at least one prompt.")
        return value

    def _check_magpie_llm(self: Any) -> None:
        """Refuse an LLM that cannot apply a pre-query template; switch it on otherwise."""
        llm = self.llm
        if not isinstance(llm, MagpieChatTemplateMixin):
            raise StillroomError(
                f"{type(self).__name__}: {type(llm).__name__} cannot be used with Magpie, which "
                "needs an LLM that renders its own chat template (MagpieChatTemplateMixin: the "
                "embedded local model, MockLLM/AsyncMockLLM). Hosted chat APIs render the "
                "template on their side, so they cannot write the user's turn."
            )
        if not llm.magpie_pre_query_template:
            raise StillroomError(
                f"{type(self).__name__}: set magpie_pre_query_template on the LLM "
                f'({type(llm).__name__}(magpie_pre_query_template="llama3"), "qwen2", "chatml" '
                "or the text that opens a user turn in the model's chat template)."
            )
        llm.use_magpie_template = True

    def _magpie_columns(self) -> list[str]:
        if self.only_instruction:
            columns = ["instruction"]
        elif self.n_turns == 1 and not self.end_with_user:
            columns = ["instruction", "response"]
        else:
            columns = ["conversation"]
        if isinstance(self.system_prompt, dict):
            columns.append("system_prompt_key")
        return [*columns, "model_name"]

    def _opening(self, row: Row) -> tuple[ChatType, str | None]:
        """The conversation before the first user turn, and the system prompt key used."""
        if row.get("system_prompt"):
            return [{"role": "system", "content": str(row["system_prompt"])}], None
        prompts_given = self.system_prompt
        chosen: str | None = None
        key: str | None = None
        if isinstance(prompts_given, str):
            chosen = prompts_given
        elif isinstance(prompts_given, list):
            chosen = _RNG.choice(prompts_given)
        elif isinstance(prompts_given, dict):
            keys = list(prompts_given)
            values = list(prompts_given.values())
            weights = [v[1] for v in values if isinstance(v, tuple)] or None
            key = _RNG.choices(keys, weights=weights)[0]
            picked = prompts_given[key]
            chosen = picked[0] if isinstance(picked, tuple) else picked
        if chosen is None and self.n_turns > 1 and not self.only_instruction:
            chosen = prompts.render("magpie/multi_turn_system")
        if chosen is None:
            return [], key
        return [{"role": "system", "content": chosen}], key

    def _dialogue(self, row: Row, transcript: Transcript) -> Exchange[dict[str, Any]]:
        conversation, key = self._opening(row)
        system = conversation[:1]
        turns = 1 if self.only_instruction else self.n_turns
        for turn in range(turns):
            user = yield from transcript.ask(list(conversation), parsing.clean_text)
            conversation.append({"role": "user", "content": user})
            if self.only_instruction or (turn == turns - 1 and self.end_with_user):
                break
            reply = yield from transcript.ask(list(conversation), parsing.clean_text)
            conversation.append({"role": "assistant", "content": reply})
        dialogue = conversation[len(system) :]
        if self.only_instruction:
            outputs: dict[str, Any] = {"instruction": dialogue[0]["content"]}
        elif "response" in self._magpie_columns():
            outputs = {"instruction": dialogue[0]["content"], "response": dialogue[1]["content"]}
        else:
            outputs = {"conversation": conversation if self.include_system_prompt else dialogue}
        if key is not None:
            outputs["system_prompt_key"] = key
        return outputs


class Magpie(MagpieBase, MultiRoundTask):
    """Generate an instruction, an instruction and its response, or a conversation per row.

    Each row may carry a `system_prompt` column to steer the topic; otherwise the task's
    `system_prompt` applies (a list or dict of prompts is sampled per row). With
    `only_instruction` one user message is generated; with `n_turns == 1` an instruction
    and its response; otherwise a `conversation` of `n_turns` user/assistant turns
    (`end_with_user` stops after the last user message). A failed or empty reply keeps the
    row with None outputs.

    Columns: inputs = `system_prompt` (optional); outputs = `instruction` (and `response`)
    or `conversation`, `system_prompt_key` (when `system_prompt` is a dict), `model_name`.
    """

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._check_magpie_llm()

    @property
    def inputs(self) -> StepColumns:
        return {"system_prompt": False}

    @property
    def outputs(self) -> StepColumns:
        return self._magpie_columns()

    def _rounds(self, row: Row, transcript: Transcript) -> Exchange[dict[str, Any]]:
        return self._dialogue(row, transcript)
