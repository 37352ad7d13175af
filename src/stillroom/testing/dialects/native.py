"""Providers with their own protocols: TGI, Ollama, Cohere, Gemini."""

from __future__ import annotations

from typing import Any, ClassVar

from stillroom.testing.dialects.common import (
    BadRequest,
    _bearer,
    _check_not_streaming,
    _model,
    _no_header_check,
    _positive_int,
    _require_object,
    _schema,
    _text_of,
)
from stillroom.testing.replies import Generation, LLMRequest, Structured


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
            structured = _schema(grammar.get("value"), "grammar.value")
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
            structured = _schema(fmt, "format")
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
                structured = _schema(response_format["json_schema"], "json_schema")
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
                _schema(_from_gemini_schema(schema), "responseSchema")
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
