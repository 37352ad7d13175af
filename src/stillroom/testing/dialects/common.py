"""What the dialects share: the error a refused request raises and the checks of common fields."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from stillroom.testing.replies import Generation, Structured

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


def _bearer(headers: Mapping[str, str], api_key: str) -> bool:
    return hmac.compare_digest(headers.get("authorization", ""), f"Bearer {api_key}")


def _no_header_check(headers: Mapping[str, str]) -> None:
    """These APIs need no header besides the key."""


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
