"""Magpie pre-query templates: let an instruct model write the *user's* next message.

An instruct model was trained on conversations rendered with its chat template. If the
prompt ends right after the header that opens a user turn, the model continues by writing a
plausible user message (Magpie, Xu et al. 2024). A backend that renders prompts itself (the
embedded llama.cpp model, the mock LLMs, and the HTTP backends that send raw prompts rendered
with a tokenizer's template: `InferenceEndpointsLLM`, `OllamaLLM`) mixes
`MagpieChatTemplateMixin` in and, for each request, appends `magpie_pre_query_for(messages)`
to the rendered conversation when it is not None. Chat APIs cannot do this: they render the
template on their side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from typing_extensions import Self

from stillroom.typing import ChatType

MagpieAvailablePreQueryTemplates = Literal["llama3", "qwen2", "chatml"]
"""Names accepted for `magpie_pre_query_template` besides a literal template string."""

MAGPIE_PRE_QUERY_TEMPLATES: dict[str, str] = {
    # Llama 3 / 3.x: a user header. The rendered conversation already starts with the BOS
    # token, so it is not repeated here.
    "llama3": "<|start_header_id|>user<|end_header_id|>\n\n",
    # ChatML (Qwen 2 / 2.5, SmolLM2 and many others).
    "qwen2": "<|im_start|>user\n",
    "chatml": "<|im_start|>user\n",
}
"""The text that opens a user turn in each named chat format."""


class MagpieChatTemplateMixin(BaseModel):
    """Adds Magpie's pre-query template to an LLM that renders its own prompts.

    `magpie_pre_query_template` is "llama3", "qwen2"/"chatml" or any literal string that opens
    a user turn in the model's chat format. The `Magpie` and `MagpieGenerator` tasks switch
    `use_magpie_template` on; with it on, every request whose conversation does not end with
    a user message gets the template appended, so the model's reply is a user message.
    """

    use_magpie_template: bool = Field(
        default=False, description="Append the pre-query template to requests (Magpie)."
    )
    magpie_pre_query_template: str | None = Field(
        default=None,
        description='"llama3", "qwen2", "chatml" or the literal text that opens a user turn.',
    )

    @field_validator("magpie_pre_query_template")
    @classmethod
    def _resolve_alias(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return MAGPIE_PRE_QUERY_TEMPLATES.get(value, value)

    @model_validator(mode="after")
    def _template_when_enabled(self) -> Self:
        if self.use_magpie_template and not self.magpie_pre_query_template:
            raise ValueError(
                f"{type(self).__name__}: use_magpie_template=True needs magpie_pre_query_template: "
                f'set it to "llama3", "qwen2"/"chatml" (or the text that opens a user turn in '
                "this model's chat format)."
            )
        return self

    def magpie_pre_query_for(self, messages: ChatType) -> str | None:
        """What to append after the rendered `messages`, or None to send them as they are.

        None when Magpie is off or when the conversation already ends with a user message
        (the model must then answer as the assistant, as usual).
        """
        if not self.use_magpie_template or (messages and messages[-1]["role"] == "user"):
            return None
        return self.magpie_pre_query_template

    if TYPE_CHECKING:

        def apply_chat_template(
            self, messages: ChatType, add_generation_prompt: bool = True
        ) -> str: ...  # the backend's, for `magpie_prompt`

    def magpie_prompt(self, messages: ChatType, pre_query: str) -> str:
        """`messages` rendered with the backend's `apply_chat_template` up to the opening of a
        new user turn, so that the model writes the user's message (`render_magpie_prompt`)."""
        return render_magpie_prompt(
            lambda chat, generation: self.apply_chat_template(chat, generation),
            messages,
            pre_query,
        )

    def apply_magpie_pre_query_template(self, prompt: str, input: ChatType) -> str:
        """`prompt` (the rendered `input`, without an assistant header) plus the pre-query."""
        suffix = self.magpie_pre_query_for(input)
        return prompt if suffix is None else prompt + suffix


def render_magpie_prompt(
    render: Callable[[ChatType, bool], str], messages: ChatType, pre_query: str
) -> str:
    """`messages` rendered up to the opening of a new user turn, with `render(messages,
    add_generation_prompt)` (a chat template).

    Rendered as they would be with a user message following, and cut where that message
    starts: chat templates that add a default system prompt when the conversation has none
    only add it inside their loop over messages, so rendering an empty conversation alone
    would lose it, and the model, prompted without its usual system turn, writes junk. A
    template whose user turn does not open with `pre_query` falls back to the conversation
    rendered on its own.
    """
    probe = "\u2063magpie-probe\u2063"
    rendered = render([*messages, {"role": "user", "content": probe}], False)
    cut = rendered.find(pre_query + probe)
    if cut < 0:
        return render(messages, False) + pre_query
    return rendered[:cut] + pre_query


__all__ = [
    "MAGPIE_PRE_QUERY_TEMPLATES",
    "MagpieAvailablePreQueryTemplates",
    "MagpieChatTemplateMixin",
    "render_magpie_prompt",
]
