"""Raw prompts rendered with a Hugging Face tokenizer's chat template (`tokenizer_id`).

Servers with a text-completion API (TGI's `generate`, Ollama's `/api/generate` with `raw`)
take the prompt as the model sees it. A backend mixing `TokenizerChatTemplateMixin` in
renders each conversation with the chat template of `tokenizer_id` (a Hub repo id or a local
folder, loaded with transformers' `AutoTokenizer`, an optional extra) and, with Magpie on,
stops the prompt where a new user turn opens, so the model writes the user's message.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, model_validator
from typing_extensions import Self

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin, render_magpie_prompt
from stillroom.typing import ChatType

TOKENIZER_EXTRA = "hf-transformers"
"""The extra that installs transformers, for `tokenizer_id`."""


def load_chat_tokenizer(owner: str, tokenizer_id: str) -> Any:
    """The transformers tokenizer of `tokenizer_id` (a Hub repo id or a local folder), which
    must have a chat template; `owner` names the LLM in errors."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise MissingExtraError(
            f"{owner}(tokenizer_id=...)", TOKENIZER_EXTRA, "transformers"
        ) from exc
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_id)
    if getattr(tokenizer, "chat_template", None) is None:
        raise StillroomError(
            f"{owner}: the tokenizer {tokenizer_id!r} has no chat template, so conversations "
            "cannot be rendered into prompts; use the tokenizer of an instruct/chat model."
        )
    return tokenizer


class TokenizerChatTemplateMixin(MagpieChatTemplateMixin):
    """`tokenizer_id` and the rendering of conversations into raw prompts with its template."""

    tokenizer_id: RuntimeParameter[str | None] = Field(
        default=None,
        description="Hub repo id or local folder of a tokenizer whose chat template renders "
        "the prompts, sent as raw text (needed for Magpie); None sends conversations as chat.",
    )

    _tokenizer: Any = PrivateAttr(default=None)
    _tokenizer_loaded_from: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _magpie_needs_a_tokenizer(self) -> Self:
        if self.use_magpie_template and self.tokenizer_id is None:
            raise ValueError(
                f"{type(self).__name__}: use_magpie_template=True needs tokenizer_id (the "
                "tokenizer whose chat template renders the prompt the pre-query template is "
                "appended to); set tokenizer_id to the model's Hub repo id or a local folder."
            )
        return self

    def _load_tokenizer(self) -> None:
        """Load the tokenizer of `tokenizer_id` (kept while the id stays the same)."""
        if self.tokenizer_id is None or self.tokenizer_id == self._tokenizer_loaded_from:
            return
        self._tokenizer = load_chat_tokenizer(type(self).__name__, self.tokenizer_id)
        self._tokenizer_loaded_from = self.tokenizer_id

    def _render_prompt(self, messages: ChatType) -> str:
        """`messages` as the raw prompt: ready for the assistant's reply, or, with Magpie on
        and no user message last, open for the user's next message."""
        if self._tokenizer is None:
            raise StillroomError(
                f"{type(self).__name__}: rendering a raw prompt needs tokenizer_id (set it, "
                "then load the LLM)."
            )
        if not messages:
            return self.magpie_pre_query_for(messages) or ""
        pre_query = self.magpie_pre_query_for(messages)
        if pre_query is not None:
            return render_magpie_prompt(self._apply_template, messages, pre_query)
        return self._apply_template(messages, True)

    def _apply_template(self, messages: ChatType, add_generation_prompt: bool) -> str:
        rendered = self._tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return str(rendered)

    def _prompt_tokens(self, prompt: str) -> int | None:
        """Tokens of a rendered prompt (None without a tokenizer)."""
        if self._tokenizer is None:
            return None
        return len(self._tokenizer.encode(prompt, add_special_tokens=False))
