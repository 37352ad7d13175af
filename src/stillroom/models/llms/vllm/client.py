"""`ClientvLLM`: a vLLM server through its OpenAI-compatible API, with its tokenizer endpoints.

Chat requests go to the server's `/v1/chat/completions`, where the served model's chat
template renders them. For raw-template generation (Magpie: a prompt that ends by opening a
user turn), the conversation is rendered by the server's own `/tokenize` endpoint (chat
template, no generation prompt) and `/detokenize`, the pre-query template is appended and the
text is continued at `/v1/completions`, with no special tokens added a second time. So no
tokenizer is downloaded or run here: the template is always the served model's.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION
from stillroom.models.llms.sending import Request
from stillroom.models.llms.structured import split_input
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin
from stillroom.typing import ChatType, FormattedInput, GenerateOutput

VLLM_BASE_URL = "http://localhost:8000/v1"


class ClientvLLM(OpenAILLM, MagpieChatTemplateMixin):
    """A running `vllm serve` server: `ClientvLLM(base_url="http://gpu:8000/v1")`.

    `model` may be left empty: the served model's name is then asked from the server's
    `/v1/models` when the LLM loads. `tokenizer` and `tokenizer_revision` are distilabel's
    fields, kept so its pipelines load; the chat template used is the server's (the served
    model's tokenizer), so they need not be set.
    """

    model: str = Field(default="", description="The served model ('' asks the server).")
    base_url: RuntimeParameter[str] = Field(
        default=VLLM_BASE_URL, description="The server's OpenAI-compatible URL, ending in /v1."
    )
    api_key_env: str | None = Field(default="VLLM_API_KEY", description=API_KEY_ENV_DESCRIPTION)
    tokenizer: str | None = Field(
        default=None, description="distilabel's tokenizer id (the server's tokenizer is used)."
    )
    tokenizer_revision: str | None = Field(
        default=None, description="distilabel's tokenizer revision (likewise unused here)."
    )

    def load(self) -> None:
        """Load, then ask the server for its model's name when `model` is empty."""
        super().load()
        if not self.model:
            self.model = self._served_model()

    def _served_model(self) -> str:
        import httpx  # with the LLM's transport, not when this module is imported

        url = f"{self.base_url.rstrip('/')}/models"
        try:
            reply = httpx.get(url, headers=self._headers, timeout=self.timeout)
            reply.raise_for_status()
            return str(reply.json()["data"][0]["id"])
        except (httpx.HTTPError, ValueError, LookupError, TypeError) as exc:
            raise StillroomError(
                f"{self._label()}: model is empty and the served model's name could not be read "
                f"from {url} ({type(exc).__name__}); check that the vLLM server is up at "
                "base_url, or set model=..."
            ) from None

    @property
    def _server_root(self) -> str:
        """The server's root URL (its tokenizer endpoints are not under /v1)."""
        root = self.base_url.rstrip("/")
        return root[: -len("/v1")] if root.endswith("/v1") else root

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """Chat replies (see `OpenAILLM.agenerate`), or, with Magpie's pre-query template in
        use, continuations of the conversation rendered up to a new user turn."""
        messages, _ = split_input(input)
        pre_query = self.magpie_pre_query_for(messages)
        if pre_query is None:
            return await super().agenerate(input, num_generations, **settings)
        prompt = await self.aapply_chat_template(messages, add_generation_prompt=False)
        extra = {**(settings.pop("extra_body", None) or {}), "add_special_tokens": False}
        return await self._complete_prompt(
            {"prompt": prompt + pre_query}, num_generations, {**settings, "extra_body": extra}
        )

    async def aapply_chat_template(
        self, messages: ChatType, add_generation_prompt: bool = True
    ) -> str:
        """The prompt text the served model sees for `messages`, rendered by the server.

        With `add_generation_prompt=False` the text ends after the last message, so a caller
        can append the start of a new turn and continue it (`agenerate_from_prompt`, which
        should then be given `extra_body={"add_special_tokens": False}`).
        """
        self._ensure_loaded("apply_chat_template()")
        tokens = await self._send(
            Request(
                f"{self._server_root}/tokenize",
                self._json_body(
                    {
                        "model": self.model,
                        "messages": messages,
                        "add_generation_prompt": add_generation_prompt,
                    }
                ),
                read=lambda data: self._field(data, "tokens", list),
            )
        )
        return await self._send(
            Request(
                f"{self._server_root}/detokenize",
                self._json_body({"model": self.model, "tokens": tokens}),
                read=lambda data: self._field(data, "prompt", str),
            )
        )

    def apply_chat_template(self, messages: ChatType, add_generation_prompt: bool = True) -> str:
        """`aapply_chat_template` from synchronous code."""
        return self.run_sync(self.aapply_chat_template(messages, add_generation_prompt))

    def _field(self, data: Any, name: str, kind: type) -> Any:
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, kind):
            raise self._malformed(f"expected a JSON object with a {kind.__name__} {name!r}", data)
        return value
