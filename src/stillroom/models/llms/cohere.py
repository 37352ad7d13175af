"""`CohereLLM`: Cohere's chat API, version 2 (`POST /v2/chat`), over plain HTTP.

Messages keep their roles (system, user, assistant); structured output is a
`response_format` of type `json_object` holding the JSON schema; usage is read from
`usage.tokens` (what the model processed), else `usage.billed_units`. Each generation is its
own request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import Field

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.rate_limit import estimate_chat_tokens
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION, RemoteLLM
from stillroom.models.llms.structured import Sample
from stillroom.models.llms.transport import LoopSessions
from stillroom.typing import FormattedInput, GenerateOutput

if TYPE_CHECKING:
    pass

COHERE_BASE_URL = "https://api.cohere.com"


class CohereLLM(RemoteLLM):
    """Cohere's Command models through the v2 chat API."""

    base_url: RuntimeParameter[str] = Field(
        default_factory=lambda: os.environ.get("COHERE_BASE_URL") or COHERE_BASE_URL,
        description="The API's URL (default $COHERE_BASE_URL, else Cohere's); a trailing "
        "/v1 or /v2 is dropped.",
    )
    api_key_env: str | None = Field(default="COHERE_API_KEY", description=API_KEY_ENV_DESCRIPTION)
    client_name: RuntimeParameter[str] = Field(
        default="stillroom", description="Sent as the X-Client-Name header."
    )

    def _api_root(self) -> str:
        root = self.base_url.rstrip("/")
        for suffix in ("/v1", "/v2"):
            root = root.removesuffix(suffix)
        return root

    def _endpoint(self) -> str:
        return self._api_root()

    def _make_client(self, sessions: LoopSessions) -> Any:
        return None  # the requests are plain JSON; the cohere SDK is not needed

    def _request_headers(self) -> dict[str, str]:
        secret = self._secret.get_secret_value() if self._secret is not None else ""
        return {
            "authorization": f"Bearer {secret}",
            "content-type": "application/json",
            "accept": "application/json",
            "x-client-name": self.client_name,
        }

    def request_settings(
        self,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_new_tokens: int | None = None,
        k: int | None = None,
        p: float | None = None,
        seed: int | None = None,
        stop_sequences: list[str] | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        raw_prompting: bool | None = None,
    ) -> dict[str, Any]:
        """The v2 chat API's settings, by its names; `max_new_tokens` (the name other
        backends use) is sent as `max_tokens` when that is not given."""
        return {
            "temperature": temperature,
            "max_tokens": max_tokens if max_tokens is not None else max_new_tokens,
            "k": k,
            "p": p,
            "seed": seed,
            "stop_sequences": stop_sequences,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
            "raw_prompting": raw_prompting,
        }

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` replies to one conversation, one request each."""
        messages, collector = self._conversation_and_collector(input, num_generations)
        params = self._settings_payload(settings)
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), **params}
        if collector.spec is not None:
            body["response_format"] = {"type": "json_object", "json_schema": collector.spec.schema}
        estimate = estimate_chat_tokens(messages, params.get("max_tokens"))
        url = f"{self._api_root()}/v2/chat"

        def payload(index: int) -> dict[str, Any]:
            seed = params.get("seed")
            return body if seed is None else {**body, "seed": seed + index}

        return await self._one_request_per_generation(
            collector, url, payload, self._sample, estimate
        )

    def _sample(self, data: Any) -> Sample:
        """The text of a v2 chat reply, with its token usage."""
        message = data.get("message") if isinstance(data, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
            raise self._malformed("expected a 'message' with a 'content' list of blocks", data)
        texts = [str(b.get("text", "")) for b in content if b.get("type") == "text"]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        counts = usage.get("tokens") or usage.get("billed_units") or {}
        return Sample(
            "".join(texts) if texts else None,
            counts.get("input_tokens"),
            counts.get("output_tokens"),
        )
