"""OpenAI's chat and completions APIs, and how each OpenAI-compatible server (vLLM,
llama-cpp-python, llama-server, TGI, Ollama) takes a structured output there."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from stillroom.testing.dialects.common import (
    MAX_N,
    BadRequest,
    Refused,
    _chat_message,
    _check_not_streaming,
    _forced_tool,
    _images,
    _model,
    _positive_int,
    _require_object,
    _schema,
    _text_of,
)
from stillroom.testing.image_parts import openai_images
from stillroom.testing.replies import Generation, LLMRequest, Structured


class OpenAIChat:
    """`POST /v1/chat/completions`."""

    endpoint: ClassVar[str] = "chat.completions"
    path: ClassVar[str] = "/v1/chat/completions"
    _error_types: ClassVar[dict[int, tuple[str, str | None]]] = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        404: ("invalid_request_error", "not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        _check_not_streaming(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty list of messages")
        normalised = []
        images = 0
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise BadRequest(f"messages[{i}] must be an object with a 'role'")
            content = _text_of(message.get("content"), f"messages[{i}]")
            normalised.append({"role": message["role"], "content": content})
            images += _images(openai_images, message.get("content"), f"messages[{i}]")
        return LLMRequest(
            endpoint=self.endpoint,
            model=_model(body),
            messages=normalised,
            n=self._n(body),
            max_tokens=_positive_int(body, "max_completion_tokens", None)
            or _positive_int(body, "max_tokens", None),
            structured=self._structured_of(body),
            body=body,
            images=images,
        )

    def _structured_of(self, body: dict[str, Any]) -> Structured | None:
        """The structured output a chat request asks for, in OpenAI's forms."""
        return self._response_format(body.get("response_format")) or _forced_tool(body)

    @staticmethod
    def _n(body: dict[str, Any]) -> int:
        n = _positive_int(body, "n", 1) or 1
        if n > MAX_N:
            raise BadRequest(f"'n' must be at most {MAX_N}, got {n}")
        return n

    @staticmethod
    def _response_format(value: Any) -> Structured | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise BadRequest("'response_format' must be an object")
        kind = value.get("type")
        if kind == "text":
            return None
        if kind == "json_object":
            if isinstance(value.get("value"), dict):  # TGI's form: the schema in `value`
                return Structured("json_schema", schema=value["value"])
            return Structured("json_object")
        if kind == "json_schema":
            spec = value.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise BadRequest(
                    "'response_format.json_schema.schema' must be a JSON schema object"
                )
            return Structured("json_schema", schema=spec["schema"])
        raise BadRequest(
            f"'response_format.type' must be 'text', 'json_object' or 'json_schema', got {kind!r}"
        )

    @staticmethod
    def authorized(headers: Mapping[str, str], api_key: str) -> bool:
        """OpenAI clients send `Authorization: Bearer <key>`."""
        return hmac.compare_digest(headers.get("authorization", ""), f"Bearer {api_key}")

    @staticmethod
    def check_headers(headers: Mapping[str, str]) -> None:
        """OpenAI's API needs no header besides the key."""

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind, code = self._error_types.get(status, ("server_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    @staticmethod
    def usage(request: LLMRequest, generations: list[Generation]) -> dict[str, int]:
        prompt = request.prompt_tokens
        completion = sum(g.tokens for g in generations)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{reply_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": i,
                    "message": _chat_message(g, request.structured, f"call_{reply_id}_{i}"),
                    "finish_reason": "tool_calls" if g.tool_input is not None else g.finish,
                    "logprobs": None,
                }
                for i, g in enumerate(generations)
            ],
            "usage": self.usage(request, generations),
        }


class OpenAICompletions(OpenAIChat):
    """`POST /v1/completions` (one prompt per request; `response_format` as vLLM accepts it)."""

    endpoint: ClassVar[str] = "completions"
    path: ClassVar[str] = "/v1/completions"

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        _check_not_streaming(body)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise BadRequest(
                "'prompt' must be a string (the mock server takes one prompt per request)"
            )
        return LLMRequest(
            endpoint=self.endpoint,
            model=_model(body),
            messages=[{"role": "user", "content": prompt}],
            n=self._n(body),
            max_tokens=_positive_int(body, "max_tokens", None),
            structured=self._response_format(body.get("response_format")),
            body=body,
        )

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        return {
            "id": f"cmpl-{reply_id}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {"index": i, "text": g.text, "finish_reason": g.finish, "logprobs": None}
                for i, g in enumerate(generations)
            ],
            "usage": self.usage(request, generations),
        }


# --- OpenAI-compatible servers: where each takes a structured output ---------------------------


class VLLMChat(OpenAIChat):
    """vLLM: OpenAI's response formats, plus `guided_json` and `structured_outputs.json`."""

    def _structured_of(self, body: dict[str, Any]) -> Structured | None:
        if body.get("guided_json") is not None:
            return _schema(body["guided_json"], "guided_json")
        outputs = body.get("structured_outputs")
        if isinstance(outputs, dict) and outputs.get("json") is not None:
            return _schema(outputs["json"], "structured_outputs.json")
        return super()._structured_of(body)


class LlamaCppPythonChat(OpenAIChat):
    """llama-cpp-python's server (`python -m llama_cpp.server`): `response_format` is `text` or
    `json_object` (with an optional `schema`), anything else a pydantic validation error sent
    as HTTP 500; `n` is ignored (one choice)."""

    def _structured_of(self, body: dict[str, Any]) -> Structured | None:
        value = body.get("response_format")
        if isinstance(value, dict) and value.get("type") not in ("text", "json_object"):
            raise Refused(
                500,
                "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
                "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
                f"'input': {value.get('type')!r}}}",
            )
        if isinstance(value, dict) and value.get("type") == "json_object" and "schema" in value:
            return _schema(value["schema"], "response_format.schema")
        return super()._structured_of(body)

    @staticmethod
    def _n(body: dict[str, Any]) -> int:
        return 1


class LlamaServerChat(OpenAIChat):
    """llama.cpp's `llama-server`: `json_schema` and `json_object` + `schema` response formats,
    and its own top-level `json_schema` field."""

    def _structured_of(self, body: dict[str, Any]) -> Structured | None:
        value = body.get("response_format")
        if isinstance(value, dict) and value.get("type") == "json_object" and "schema" in value:
            return _schema(value["schema"], "response_format.schema")
        if body.get("json_schema") is not None:
            return _schema(body["json_schema"], "json_schema")
        return super()._structured_of(body)


class TGIChat(OpenAIChat):
    """Text Generation Inference's Messages API: a grammar `{"type": "json", "value": schema}`
    (`json_object` is an alias) or `regex`; other forms fail to deserialize (HTTP 422)."""

    def _structured_of(self, body: dict[str, Any]) -> Structured | None:
        value = body.get("response_format")
        if value is None:
            return _forced_tool(body)
        kind = value.get("type") if isinstance(value, dict) else None
        prefix = "Failed to deserialize the JSON body into the target type: response_format"
        if kind not in ("json", "json_object", "regex"):
            raise Refused(422, f"{prefix}: unknown variant `{kind}`, expected `json` or `regex`")
        if "value" not in value:
            raise Refused(422, f"{prefix}: missing field `value`")
        if kind == "regex":
            raise BadRequest("the mock server does not generate from a regex")
        return _schema(value["value"], "response_format.value")


class OllamaOpenAIChat(OpenAIChat):
    """Ollama's OpenAI-compatible endpoint: OpenAI's response formats, and Ollama's `format`
    (a JSON schema, or "json")."""

    def _structured_of(self, body: dict[str, Any]) -> Structured | None:
        value = body.get("format")
        if value == "json":
            return Structured("json_object")
        if value is not None:
            return _schema(value, "format")
        return super()._structured_of(body)


class PlainChat(OpenAIChat):
    """A server with no structured output at all: it refuses `response_format` and `tools`."""

    def _structured_of(self, body: dict[str, Any]) -> Structured | None:
        for field in ("response_format", "tools"):
            if body.get(field) is not None:
                raise BadRequest(f"'{field}' is not supported by this server")
        return None


OPENAI_SERVERS: dict[str, type[OpenAIChat]] = {
    "openai": OpenAIChat,
    "vllm": VLLMChat,
    "llama-cpp-python": LlamaCppPythonChat,
    "llama-server": LlamaServerChat,
    "tgi": TGIChat,
    "ollama": OllamaOpenAIChat,
    "plain": PlainChat,
}
"""`openai_server` option -> how `/v1/chat/completions` takes a structured output there."""
