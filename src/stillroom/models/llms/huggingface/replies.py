"""Reading the replies of TGI's two APIs (and of the router's chat API) into `Sample`s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stillroom.models.llms.logprobs import chat_logprobs
from stillroom.models.llms.resilience import FailedAttempt
from stillroom.models.llms.structured import Sample

Malformed = Callable[[str, Any], FailedAttempt]


def chat_sample(data: Any, malformed: Malformed) -> Sample:
    """The first choice of a chat completion, with its usage and per-token top log-probs."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise malformed("expected a JSON object with a non-empty 'choices' list", data)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise malformed("the choice has no 'message' object", data)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Sample(
        message.get("content"),
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        chat_logprobs(choices[0].get("logprobs")),
    )


def text_generation_sample(data: Any, input_tokens: int | None, malformed: Malformed) -> Sample:
    """A text-generation reply (an object, or a list of one as the serverless API sends)."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    text = data.get("generated_text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise malformed("expected a JSON object with a 'generated_text' string", data)
    details = data.get("details") if isinstance(data.get("details"), dict) else {}
    top_tokens = details.get("top_tokens")
    logprobs = None
    if isinstance(top_tokens, list):
        logprobs = [
            [{"token": alt.get("text"), "logprob": alt.get("logprob")} for alt in position]
            for position in top_tokens
            if isinstance(position, list)
        ]
    prefill = details.get("prefill")
    if input_tokens is None and isinstance(prefill, list):
        input_tokens = len(prefill)
    return Sample(text, input_tokens, details.get("generated_tokens"), logprobs)
