"""Anthropic's Messages API."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

from stillroom.testing.dialects.common import (
    BadRequest,
    _check_not_streaming,
    _images,
    _model,
    _positive_int,
    _require_object,
    _text_of,
)
from stillroom.testing.image_parts import anthropic_images
from stillroom.testing.replies import Generation, LLMRequest, Structured


class AnthropicMessages:
    """`POST /v1/messages`, Anthropic's Messages API."""

    endpoint: ClassVar[str] = "messages"
    path: ClassVar[str] = "/v1/messages"
    _error_types: ClassVar[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        _check_not_streaming(body)
        max_tokens = _positive_int(body, "max_tokens", None)
        if max_tokens is None:
            raise BadRequest("max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: must be a non-empty list")
        normalised = []
        images = 0
        system = body.get("system")
        if system is not None:
            normalised.append({"role": "system", "content": _text_of(system, "system")})
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                raise BadRequest(
                    f"messages.{i}.role: must be 'user' or 'assistant' (put a system prompt in 'system')"
                )
            normalised.append(
                {"role": role, "content": _text_of(message.get("content"), f"messages.{i}")}
            )
            images += _images(anthropic_images, message.get("content"), f"messages.{i}")
        return LLMRequest(
            endpoint=self.endpoint,
            model=_model(body),
            messages=normalised,
            max_tokens=max_tokens,
            structured=self._structured(body),
            body=body,
            images=images,
        )

    @staticmethod
    def _structured(body: dict[str, Any]) -> Structured | None:
        output_format = body.get("output_format") or (body.get("output_config") or {}).get("format")
        if output_format is not None:
            if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
                raise BadRequest("output format: 'type' must be 'json_schema'")
            if not isinstance(output_format.get("schema"), dict):
                raise BadRequest("output format: 'schema' must be a JSON schema object")
            return Structured("json_schema", schema=output_format["schema"])
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {"type": "auto"}
        if not isinstance(tools, list) or not all(
            isinstance(t, dict) and "name" in t for t in tools
        ):
            raise BadRequest("tools: each tool must be an object with a 'name'")
        if choice.get("type") not in ("tool", "any") or not tools:
            return None  # the mock model never chooses a tool on its own
        name = choice.get("name") if choice["type"] == "tool" else tools[0]["name"]
        tool = next((t for t in tools if t["name"] == name), None)
        if tool is None:
            raise BadRequest(f"tool_choice: no tool named {name!r} in 'tools'")
        return Structured(
            "tool", schema=tool.get("input_schema") or {"type": "object"}, tool_name=name
        )

    @staticmethod
    def authorized(headers: Mapping[str, str], api_key: str) -> bool:
        """Anthropic clients send the key in `x-api-key`."""
        return hmac.compare_digest(headers.get("x-api-key", ""), api_key)

    @staticmethod
    def check_headers(headers: Mapping[str, str]) -> None:
        """Anthropic's API refuses requests without an `anthropic-version` header."""
        if "anthropic-version" not in headers:
            raise BadRequest("anthropic-version: header is required")

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": self._error_types.get(status, "api_error"), "message": message},
        }

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        (generation,) = generations
        structured = request.structured
        if generation.tool_input is not None and structured is not None:
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{reply_id}",
                    "name": structured.tool_name,
                    "input": generation.tool_input,
                }
            ]
            stop_reason = "tool_use"
        else:
            content = [{"type": "text", "text": generation.text}]
            stop_reason = "max_tokens" if generation.finish == "length" else "end_turn"
        return {
            "id": f"msg_{reply_id}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": request.prompt_tokens,
                "output_tokens": generation.tokens,
            },
        }
