"""Reading an OpenAI (chat) completion body: its generations, their log-probabilities and
token counts (`read_samples`), shared by `OpenAILLM` and its Batch API results."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stillroom.models.llms.logprobs import chat_logprobs, completion_logprobs
from stillroom.models.llms.structured import Sample
from stillroom.models.llms.structured_modes import reply_text

if TYPE_CHECKING:
    from stillroom.models.llms.resilience import FailedAttempt
    from stillroom.models.llms.structured_modes import StructuredOutputMode


def read_samples(
    data: Any,
    chat: bool,
    mode: StructuredOutputMode | None,
    malformed: Callable[[str, Any], FailedAttempt],
    asked: int = 1,
) -> list[Sample]:
    """Every generation of a (chat) completion body; `malformed(what was expected, what came)`
    is the error for a body that is not one.

    The reply's token usage is split across the `asked` generations the request asked for (`n`).
    Choices a server returns beyond those are kept, marked `extra`: their tokens are already
    in that total, so they carry no counts of their own.
    """
    choices = data.get("choices") if isinstance(data, dict) else None
    if (
        not isinstance(choices, list)
        or not choices
        or not all(isinstance(c, dict) for c in choices)
    ):
        raise malformed("expected a JSON object with a non-empty 'choices' list of objects", data)
    texts: list[str | None] = []
    logprobs: list[Any] = []
    for choice in sorted(choices, key=lambda c: c.get("index") or 0):
        message = choice.get("message") if chat else choice
        if not isinstance(message, dict):
            raise malformed("a choice has no message", choice)
        texts.append(reply_text(message, mode) if chat else message.get("text"))
        read = chat_logprobs if chat else completion_logprobs
        logprobs.append(read(choice.get("logprobs")))
    usage = data["usage"] if isinstance(data.get("usage"), dict) else {}
    counted = min(asked, len(texts))
    outputs = split_count(usage.get("completion_tokens"), texts[:counted])
    samples = [
        Sample(text, usage.get("prompt_tokens"), out, lp)
        for text, out, lp in zip(texts[:counted], outputs, logprobs[:counted], strict=True)
    ]
    if counted == len(texts):
        return samples
    extras = zip(texts[counted:], logprobs[counted:], strict=True)
    return samples + [Sample(text, logprobs=lp, extra=True) for text, lp in extras]


def total_tokens(data: Any) -> int | None:
    """The `total_tokens` a reply's usage reports (None: not reported)."""
    usage = data.get("usage") if isinstance(data, dict) else None
    return usage.get("total_tokens") if isinstance(usage, dict) else None


def split_count(total: int | None, texts: list[str | None]) -> list[int | None]:
    """Split a request's completion-token total across its generations, by text length.

    With `n` > 1 servers report one total; splitting it this way keeps the sum exact.
    """
    if total is None:
        return [None] * len(texts)
    if len(texts) == 1:
        return [total]
    weights = [len(t or "") for t in texts]
    if not any(weights):
        weights = [1] * len(texts)
    shares = [total * w // sum(weights) for w in weights]
    for index in range(total - sum(shares)):
        shares[index % len(shares)] += 1
    return [*shares]  # as list[int | None]
