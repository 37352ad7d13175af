"""Sending `OpenAILLM`'s requests through an openai SDK client the user set as `_aclient`.

distilabel's OpenAILLM calls the SDK client in `_aclient`, and code written for it (tests
with a mocked client, a client with custom hooks) sets that attribute. When a user does,
the request built by `OpenAILLM` goes through that client instead of the connections, as
the innermost link of the same chain (`sending`: retries, rate limits, timeout, redaction).
The SDK's reply objects are read back into the JSON form the API documents, so one reader
serves both roads. Nothing here imports the SDK until a request is sent through it.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from stillroom.models.llms.resilience import (
    FailedAttempt,
    Failure,
    error_detail,
    failure_from_status,
    timeout_failure,
)
from stillroom.models.llms.sending import Request

_T = TypeVar("_T")


class SdkCall:
    """The innermost link when a client was set: `create(**body)` on the SDK endpoint the
    request's URL names (chat completions or completions)."""

    def __init__(self, client: Any, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    async def __call__(self, request: Request[_T]) -> _T:
        payload = json.loads(request.body)
        chat = request.url.endswith("/chat/completions")
        endpoint = self._client.chat.completions if chat else self._client.completions
        try:
            reply = await endpoint.create(**payload)
        except Exception as error:
            failure = _sdk_failure(error, self._timeout)
            if failure is None:
                raise
            raise FailedAttempt(failure) from None
        return request.read(reply_as_json(reply, chat))


def _sdk_failure(error: Exception, timeout: float) -> Failure | None:
    """The `Failure` for an error the openai SDK raised (None: not a request failure)."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return timeout_failure(timeout)
    if isinstance(error, openai.APIConnectionError):
        return Failure(
            summary=f"connection error ({type(error).__name__})",
            retryable=True,
            kind="connection error",
        )
    if isinstance(error, openai.APIStatusError):
        response = error.response
        return failure_from_status(
            error.status_code, response.headers, error_detail(response.content)
        )
    return None


def reply_as_json(reply: Any, chat: bool) -> Any:
    """An SDK (chat) completion as the API's JSON: `model_dump` for the SDK's own models,
    else the fields the readers use, read as attributes (a duck-typed or mocked reply)."""
    dump = getattr(reply, "model_dump", None)
    if callable(dump) and type(reply).__module__.startswith("openai."):
        return dump(exclude_none=True)
    choices = []
    for index, choice in enumerate(_list(getattr(reply, "choices", None)) or []):
        logprobs = getattr(choice, "logprobs", None)
        read = _chat_logprobs_json(logprobs) if chat else _completion_logprobs_json(logprobs)
        item: dict[str, Any] = {"index": index, "logprobs": read}
        if chat:
            message = getattr(choice, "message", None)
            item["message"] = {"role": "assistant", "content": _str(message, "content")}
        else:
            item["text"] = _str(choice, "text")
        choices.append(item)
    usage = getattr(reply, "usage", None)
    prompt, completion = _int(usage, "prompt_tokens"), _int(usage, "completion_tokens")
    counts = {"prompt_tokens": prompt, "completion_tokens": completion}
    if prompt is not None and completion is not None:
        counts["total_tokens"] = prompt + completion
    return {"choices": choices, "usage": {k: v for k, v in counts.items() if v is not None}}


def _chat_logprobs_json(logprobs: Any) -> dict[str, Any] | None:
    content = _list(getattr(logprobs, "content", None))
    if logprobs is None or content is None:
        return None
    return {
        "content": [
            {
                "top_logprobs": [
                    {"token": _str(alt, "token"), "logprob": getattr(alt, "logprob", None)}
                    for alt in _list(getattr(token, "top_logprobs", None)) or []
                ]
            }
            for token in content
        ]
    }


def _completion_logprobs_json(logprobs: Any) -> dict[str, Any] | None:
    tops = _list(getattr(logprobs, "top_logprobs", None))
    if logprobs is None or tops is None:
        return None
    return {"top_logprobs": [dict(position) for position in tops if isinstance(position, dict)]}


def _list(value: Any) -> list[Any] | None:
    return list(value) if isinstance(value, (list, tuple)) else None


def _str(owner: Any, name: str) -> str | None:
    value = getattr(owner, name, None)
    return value if isinstance(value, str) else None


def _int(owner: Any, name: str) -> int | None:
    value = getattr(owner, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
