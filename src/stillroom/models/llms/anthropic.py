"""`AnthropicLLM`: Anthropic's Messages API as plain JSON over HTTP (no SDK).

System messages are sent in the separate `system` field, `max_tokens` is always sent (the API
requires it) and token usage goes into the statistics. The API has no `n`, so generations are
requested one after another. A structured output is requested as a forced tool call whose input
schema is the output schema; the tool call's input is the reply, validated like any other.
"""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import Field

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.image_parts import IMAGE_TOKENS, anthropic_content, count_images
from stillroom.models.llms.rate_limit import estimate_tokens
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION, RemoteLLM
from stillroom.models.llms.sending import Request
from stillroom.models.llms.structured import Sample, StructuredSpec, split_input
from stillroom.models.llms.transport import LoopSessions
from stillroom.typing import ChatType, FormattedInput, GenerateOutput
from stillroom.utils.chat import content_text

if TYPE_CHECKING:
    import httpx

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicLLM(RemoteLLM):
    """Claude models through the Messages API."""

    base_url: RuntimeParameter[str] = Field(
        default_factory=lambda: os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL,
        description="The API's URL (default $ANTHROPIC_BASE_URL, else Anthropic's).",
    )
    api_key_env: str | None = Field(
        default="ANTHROPIC_API_KEY", description=API_KEY_ENV_DESCRIPTION
    )

    def _make_client(self, sessions: LoopSessions) -> httpx.AsyncClient:
        import httpx

        from stillroom.models.llms.sdk_transport import SessionTransport

        return httpx.AsyncClient(
            base_url=self.base_url.rstrip("/"),
            headers=self._request_headers(),
            timeout=httpx.Timeout(self.timeout),
            transport=SessionTransport(sessions),
        )

    def _request_headers(self) -> dict[str, str]:
        secret = self._secret.get_secret_value() if self._secret is not None else ""
        return {
            "x-api-key": secret,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }

    def request_settings(
        self,
        *,
        max_new_tokens: int = 1024,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: str | list[str] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The generation settings `AnthropicLLM` accepts.

        `max_new_tokens` is sent as `max_tokens` (required by the API, hence the default),
        `stop` as `stop_sequences`; `extra_body` adds any other Messages API field.
        """
        return {
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
            "stop_sequences": [stop] if isinstance(stop, str) else stop,
            **(extra_body or {}),
        }

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` replies to one conversation (see `request_settings`)."""
        messages, collector = self._conversation_and_collector(input, num_generations)
        payload = self._payload(input, settings)
        estimate = estimate_tokens(
            [content_text(m["content"] or "") for m in messages], payload["max_tokens"]
        ) + IMAGE_TOKENS * sum(count_images(m["content"]) for m in messages)
        url = self._api_url("messages")
        body = self._json_body(payload)
        while count := collector.missing:
            request = Request(
                url,
                body,
                read=functools.partial(self._sample, spec=collector.spec),
                estimated_tokens=estimate,
                tokens_used=lambda s: (s.input_tokens or 0) + (s.output_tokens or 0),
            )
            collector.add([await self._send(request) for _ in range(count)])
        return collector.output()

    def _payload(self, input: FormattedInput, settings: dict[str, Any]) -> dict[str, Any]:
        """The Messages API body of one request for `input` (a forced tool call when it asks
        for a structured output)."""
        messages, structured = split_input(input)
        payload = {
            "model": self.model,
            **_split_system(messages, self._label()),
            **self._settings_payload(settings),
        }
        spec = self._collector(structured, 1).spec
        if spec is not None:
            payload.update(_forced_tool(spec, self._label()))
        return payload

    def _api_url(self, endpoint: str) -> str:
        """The URL of `endpoint` ("messages", "messages/batches", ...) under /v1."""
        return f"{self.base_url.rstrip('/')}/v1/{endpoint}"

    def offline_batch_generate(
        self,
        inputs: list[FormattedInput] | None = None,
        num_generations: int = 1,
        **settings: Any,
    ) -> list[GenerateOutput]:
        """Replies through Message Batches (see `anthropic_batch`): the first call creates
        the batch and raises `StillroomOfflineBatchGenerationNotFinishedException`; later
        calls poll it (`jobs_ids`) and return one output per input once it has ended."""
        from stillroom.models.llms.anthropic_batch import offline_generate

        self._ensure_loaded("offline_batch_generate()")
        return self.run_sync(offline_generate(self, inputs, num_generations, settings))

    def _sample(self, data: Any, spec: StructuredSpec | None) -> Sample:
        """One generation from a Messages API reply (the forced tool's input when `spec`)."""
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
            raise self._malformed("expected a 'content' list of blocks", data)
        if spec is not None:
            tool_inputs = [b.get("input") for b in content if b.get("type") == "tool_use"]
            text = json.dumps(tool_inputs[0]) if tool_inputs else _text(content)
        else:
            text = _text(content)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Sample(text, usage.get("input_tokens"), usage.get("output_tokens"))


def _text(content: list[dict[str, Any]]) -> str | None:
    parts = [block.get("text", "") for block in content if block.get("type") == "text"]
    return "".join(parts) if parts else None


def _split_system(messages: ChatType, label: str) -> dict[str, Any]:
    """The Messages API takes system prompts apart from the conversation."""
    system = "\n\n".join(content_text(m["content"]) for m in messages if m["role"] == "system")
    body: dict[str, Any] = {
        "messages": [
            {**m, "content": anthropic_content(m["content"], f"{label}: message {i}")}
            for i, m in enumerate(messages)
            if m["role"] != "system"
        ]
    }
    if system:
        body["system"] = system
    return body


def _forced_tool(spec: StructuredSpec, label: str) -> dict[str, Any]:
    """Ask for the structured output as the input of a tool the model must call."""
    if spec.schema.get("type", "object") != "object":
        raise StillroomError(
            f"{label}: Anthropic needs an object schema for structured output (tool input), "
            f"got type {spec.schema.get('type')!r}. Wrap the value in an object."
        )
    return {
        "tools": [
            {
                "name": spec.name,
                "description": "Record the answer in this exact structure.",
                "input_schema": spec.schema,
            }
        ],
        "tool_choice": {"type": "tool", "name": spec.name},
    }
