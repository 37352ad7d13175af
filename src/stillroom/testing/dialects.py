"""The request and response shapes of each served API.

A dialect turns a JSON body into an `LLMRequest` (raising `BadRequest` with the message the
real API would give), checks the API key where that API carries it, and writes replies and
errors in that API's format. The server itself never looks at API-specific fields.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from stillroom.testing.image_parts import anthropic_images, openai_images
from stillroom.testing.replies import Generation, LLMRequest, Structured

MAX_N = 128
"""Largest `n` accepted, as in OpenAI's API."""


class BadRequest(Exception):
    """A request body the API would reject with 400; the message says what is wrong."""

    status: int = 400


def _text_of(content: Any, where: str) -> str:
    """Plain text of a message content: a string, or the text parts of a list of parts/blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict):
                raise BadRequest(f"{where}: each content part must be an object")
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif part.get("type") == "tool_result":
                texts.append(_text_of(part.get("content"), where))
        return "\n".join(texts)
    raise BadRequest(f"{where}: content must be a string or a list of content parts")


def _images(count: Callable[[Any, str], int], content: Any, where: str) -> int:
    """The images in `content` as `count` (a checker of `image_parts`) finds them; a
    malformed image part is a 400."""
    try:
        return count(content, where)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _positive_int(body: dict[str, Any], name: str, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"'{name}' must be a positive integer, got {value!r}")
    return value


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a non-empty string")
    return model


def _check_not_streaming(body: dict[str, Any]) -> None:
    if body.get("stream"):
        raise BadRequest("the mock server does not stream; send the request without 'stream'")


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


# --- Providers with their own protocols (TGI, Ollama, Cohere, Gemini) ---------------------------


def _bearer(headers: Mapping[str, str], api_key: str) -> bool:
    return hmac.compare_digest(headers.get("authorization", ""), f"Bearer {api_key}")


def _no_header_check(headers: Mapping[str, str]) -> None:
    """These APIs need no header besides the key."""


def _schema_of(value: Any, where: str) -> Structured:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a JSON schema object")
    return Structured("json_schema", schema=value)


class TGIGenerate:
    """TGI's text generation: `POST /` (and `/generate`) with `inputs` and `parameters`."""

    endpoint: ClassVar[str] = "tgi.generate"
    path: ClassVar[str] = "/"

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        _check_not_streaming(body)
        inputs = body.get("inputs")
        if not isinstance(inputs, str):
            raise BadRequest("Input validation error: `inputs` must be a string")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise BadRequest("Input validation error: `parameters` must be an object")
        grammar = parameters.get("grammar")
        structured = None
        if grammar is not None:
            if not isinstance(grammar, dict) or grammar.get("type") != "json":
                raise BadRequest("the mock server takes only json grammars")
            structured = _schema_of(grammar.get("value"), "grammar.value")
        return LLMRequest(
            endpoint=self.endpoint,
            model="tgi",
            messages=[{"role": "user", "content": inputs}],
            max_tokens=_positive_int(parameters, "max_new_tokens", None),
            structured=structured,
            body=body,
        )

    authorized = staticmethod(_bearer)
    check_headers = staticmethod(_no_header_check)

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message, "error_type": "validation" if status == 422 else "mock"}

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        (generation,) = generations
        parameters = (request.body or {}).get("parameters") or {}
        details: dict[str, Any] = {
            "finish_reason": "length" if generation.finish == "length" else "eos_token",
            "generated_tokens": generation.tokens,
        }
        if parameters.get("decoder_input_details"):
            words = request.messages[0]["content"].split()
            details["prefill"] = [
                {"id": i, "text": w, "logprob": None} for i, w in enumerate(words)
            ]
        return {"generated_text": generation.text, "details": details}


class TGIGenerateRoute(TGIGenerate):
    """TGI's `POST /generate` (the same API as its root)."""

    path: ClassVar[str] = "/generate"


class OllamaChat:
    """Ollama's `POST /api/chat`."""

    endpoint: ClassVar[str] = "ollama.chat"
    path: ClassVar[str] = "/api/chat"

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        if body.get("stream", True) is not False:
            raise BadRequest("the mock server does not stream; send 'stream': false")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: a non-empty list is required")
        normalised = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise BadRequest(f"messages[{i}] must have a 'role' and a string 'content'")
            normalised.append({"role": str(message.get("role")), "content": message["content"]})
        return self._request(body, normalised)

    def _request(self, body: dict[str, Any], messages: list[dict[str, str]]) -> LLMRequest:
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("options must be an object")
        fmt = body.get("format")
        structured = None
        if fmt == "json":
            structured = Structured("json_object")
        elif fmt not in (None, ""):
            structured = _schema_of(fmt, "format")
        return LLMRequest(
            endpoint=self.endpoint,
            model=_model(body),
            messages=messages,
            max_tokens=_positive_int(options, "num_predict", None),
            structured=structured,
            body=body,
        )

    authorized = staticmethod(_bearer)
    check_headers = staticmethod(_no_header_check)

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    def _usage(self, request: LLMRequest, generation: Generation) -> dict[str, Any]:
        return {
            "model": request.model,
            "created_at": "2025-01-01T00:00:00Z",
            "done": True,
            "done_reason": "length" if generation.finish == "length" else "stop",
            "prompt_eval_count": request.prompt_tokens,
            "eval_count": generation.tokens,
        }

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        (generation,) = generations
        message = {"role": "assistant", "content": generation.text}
        return {"message": message, **self._usage(request, generation)}


class OllamaGenerate(OllamaChat):
    """Ollama's `POST /api/generate` (a raw prompt needs `raw: true`)."""

    endpoint: ClassVar[str] = "ollama.generate"
    path: ClassVar[str] = "/api/generate"

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        if body.get("stream", True) is not False:
            raise BadRequest("the mock server does not stream; send 'stream': false")
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise BadRequest("prompt must be a string")
        return self._request(body, [{"role": "user", "content": prompt}])

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        (generation,) = generations
        return {"response": generation.text, **self._usage(request, generation)}


class CohereChat:
    """Cohere's `POST /v2/chat`."""

    endpoint: ClassVar[str] = "cohere.chat"
    path: ClassVar[str] = "/v2/chat"

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        _check_not_streaming(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("invalid request: messages must be a non-empty list")
        normalised = []
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("system", "user", "assistant", "tool"):
                raise BadRequest(f"invalid request: messages[{i}].role is not a valid role")
            normalised.append({"role": role, "content": _text_of(message.get("content"), role)})
        response_format = body.get("response_format")
        structured = None
        if response_format is not None:
            if not isinstance(response_format, dict) or response_format.get("type") not in (
                "json_object",
                "text",
            ):
                raise BadRequest("invalid request: response_format.type must be json_object")
            if response_format.get("json_schema") is not None:
                structured = _schema_of(response_format["json_schema"], "json_schema")
            elif response_format["type"] == "json_object":
                structured = Structured("json_object")
        return LLMRequest(
            endpoint=self.endpoint,
            model=_model(body),
            messages=normalised,
            max_tokens=_positive_int(body, "max_tokens", None),
            structured=structured,
            body=body,
        )

    authorized = staticmethod(_bearer)
    check_headers = staticmethod(_no_header_check)

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"message": message}

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        (generation,) = generations
        counts = {"input_tokens": request.prompt_tokens, "output_tokens": generation.tokens}
        return {
            "id": reply_id,
            "finish_reason": "MAX_TOKENS" if generation.finish == "length" else "COMPLETE",
            "message": {
                "role": "assistant",
                "content": [{"type": "text", "text": generation.text}],
            },
            "usage": {"billed_units": counts, "tokens": counts},
        }


def _from_gemini_schema(node: Any) -> Any:
    """A Gemini `responseSchema` back as a JSON schema (lower-case types, `nullable` dropped)."""
    if isinstance(node, list):
        return [_from_gemini_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _from_gemini_schema(v) for k, v in node.items() if k != "nullable"}
    if isinstance(node.get("type"), str):
        out["type"] = node["type"].lower()
    if "properties" in node:
        out["properties"] = {k: _from_gemini_schema(v) for k, v in node["properties"].items()}
    return out


class GeminiGenerateContent:
    """Vertex AI's `POST .../publishers/google/models/{model}:generateContent`."""

    endpoint: ClassVar[str] = "gemini.generateContent"
    path: ClassVar[str] = (
        "/v1/projects/{project}/locations/{location}/publishers/google/models/"
        "{model}:generateContent"
    )

    def parse(self, body: Any) -> LLMRequest:
        body = _require_object(body)
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise BadRequest("contents is not specified")
        messages = []
        system = body.get("systemInstruction")
        if system is not None:
            messages.append({"role": "system", "content": self._text(system, "systemInstruction")})
        for i, content in enumerate(contents):
            role = content.get("role") if isinstance(content, dict) else None
            if role not in ("user", "model"):
                raise BadRequest(f"contents[{i}].role must be 'user' or 'model'")
            text = self._text(content, f"contents[{i}]")
            messages.append({"role": "user" if role == "user" else "assistant", "content": text})
        config = body.get("generationConfig") or {}
        if not isinstance(config, dict):
            raise BadRequest("generationConfig must be an object")
        structured = None
        if config.get("responseMimeType") == "application/json":
            schema = config.get("responseSchema")
            structured = (
                _schema_of(_from_gemini_schema(schema), "responseSchema")
                if schema is not None
                else Structured("json_object")
            )
        if (config.get("candidateCount") or 1) != 1:
            raise BadRequest("the mock server answers one candidate per request")
        return LLMRequest(
            endpoint=self.endpoint,
            model="gemini",
            messages=messages,
            max_tokens=_positive_int(config, "maxOutputTokens", None),
            structured=structured,
            body=body,
        )

    @staticmethod
    def _text(content: Any, where: str) -> str:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise BadRequest(f"{where}.parts must be a list of parts")
        return "".join(str(p.get("text", "")) for p in parts)

    authorized = staticmethod(_bearer)
    check_headers = staticmethod(_no_header_check)

    _statuses: ClassVar[dict[int, str]] = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        503: "UNAVAILABLE",
    }

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": self._statuses.get(status, "INTERNAL"),
            }
        }

    def render(
        self, request: LLMRequest, generations: list[Generation], reply_id: str
    ) -> dict[str, Any]:
        (generation,) = generations
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": generation.text}]},
                    "finishReason": "MAX_TOKENS" if generation.finish == "length" else "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": request.prompt_tokens,
                "candidatesTokenCount": generation.tokens,
                "totalTokenCount": request.prompt_tokens + generation.tokens,
            },
            "modelVersion": request.model,
        }


NativeDialect = TGIGenerate | OllamaChat | CohereChat | GeminiGenerateContent
"""The dialects of providers with their own protocols (subclasses included)."""

Dialect = OpenAIChat | AnthropicMessages | NativeDialect
"""Any of the served APIs (`OpenAICompletions` is an `OpenAIChat`)."""


# --- OpenAI-compatible servers: where each takes a structured output ---------------------------


class Refused(BadRequest):
    """A request refused with the status the real server uses (TGI 422, llama-cpp-python 500)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _forced_tool(body: dict[str, Any]) -> Structured | None:
    """A forced function call (`tool_choice` naming one of `tools`), as OpenAI takes it."""
    choice, tools = body.get("tool_choice"), body.get("tools") or []
    if not isinstance(choice, dict) or not isinstance(tools, list):
        return None
    name = (choice.get("function") or {}).get("name")
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name") == name:
            return Structured("tool", schema=function.get("parameters") or {}, tool_name=name)
    raise BadRequest(f"tool_choice names {name!r}, which is not in 'tools'")


def _chat_message(g: Generation, structured: Structured | None, call_id: str) -> dict[str, Any]:
    if g.tool_input is None or structured is None:
        return {"role": "assistant", "content": g.text}
    call = {"name": structured.tool_name, "arguments": json.dumps(g.tool_input)}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": call}],
    }


def _schema(value: Any, where: str) -> Structured:
    if not isinstance(value, dict):
        raise BadRequest(f"'{where}' must be a JSON schema object")
    return Structured("json_schema", schema=value)


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
