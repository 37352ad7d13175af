"""Log-probabilities of OpenAI-form replies in distilabel's shape (`typing.LLMLogprobs`).

Per generation, per generated token, the candidate tokens the server reported at that
position as `{"token", "logprob"}`. The chat API gives `logprobs.content[i].top_logprobs`;
the completions API `logprobs.top_logprobs[i]` as `{token: logprob}`.
"""

from __future__ import annotations

from typing import Any

from stillroom.typing import Logprob


def chat_logprobs(raw: Any) -> list[list[Logprob]] | None:
    """The top candidates per token of a chat choice's `logprobs` (None: none reported)."""
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, list):
        return None
    return [
        [
            Logprob(token=alt["token"], logprob=alt["logprob"])
            for alt in (token.get("top_logprobs") or [])
            if isinstance(alt, dict) and "token" in alt and "logprob" in alt
        ]
        for token in content
        if isinstance(token, dict)
    ]


def completion_logprobs(raw: Any) -> list[list[Logprob]] | None:
    """The top candidates per token of a completions choice's `logprobs`."""
    tops = raw.get("top_logprobs") if isinstance(raw, dict) else None
    if not isinstance(tops, list):
        return None
    return [
        [Logprob(token=token, logprob=value) for token, value in position.items()]
        for position in tops
        if isinstance(position, dict)
    ]
