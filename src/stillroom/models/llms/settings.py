"""Generation settings of a request: checked by name, then mapped to a backend's payload.

Backends declare their settings once, as the keyword-only parameters of a `request_settings`
method that maps them to what their API expects (`max_new_tokens` -> `max_tokens`, ...). That
method is also what `LLM.allowed_generation_kwargs` reads (via `_generation_signature`), so the
runtime-parameter checks and the request path accept exactly the same names.
"""

from __future__ import annotations

from typing import Any

from stillroom.errors import UnknownRuntimeParameterError, did_you_mean
from stillroom.models.llms.base import LLM


def request_settings(llm: LLM, settings: dict[str, Any]) -> dict[str, Any]:
    """`llm.request_settings(**settings)`, with a clear error for a setting it does not know."""
    allowed, _ = llm.allowed_generation_kwargs()
    for name in settings:
        if name not in allowed:
            raise UnknownRuntimeParameterError(
                f"{llm._label()} does not accept the generation setting {name!r}."
                f"{did_you_mean(name, allowed)} Accepted: {', '.join(sorted(allowed))}."
            )
    payload: dict[str, Any] = llm.request_settings(**settings)  # type: ignore[attr-defined]
    return {key: value for key, value in payload.items() if value is not None}
