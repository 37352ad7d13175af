"""Generation settings of a request: checked by name, then mapped to a backend's payload.

A backend declares its settings once, as the keyword-only parameters of its
`request_settings` method, which maps them to what its API expects (`max_new_tokens` ->
`max_tokens`, ...). `RequestSettingsMixin` makes that method the signature
`LLM.allowed_generation_kwargs` reads, so the runtime-parameter checks and the request path
accept exactly the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stillroom.errors import UnknownRuntimeParameterError, did_you_mean

_ALLOWED: dict[type, frozenset[str]] = {}
"""Setting names per backend class (reading a signature on every request is slow)."""


class RequestSettingsMixin:
    """For LLM backends defining `request_settings(self, *, setting=default, ...) -> dict`."""

    def _generation_signature(self) -> Callable[..., Any]:
        return type(self).request_settings  # type: ignore[attr-defined, no-any-return]

    def _settings_payload(self, settings: dict[str, Any]) -> dict[str, Any]:
        """`request_settings(**settings)` without unset values; an unknown name is a clear error."""
        allowed = _ALLOWED.get(type(self))
        if allowed is None:
            names, _ = self.allowed_generation_kwargs()  # type: ignore[attr-defined]
            allowed = _ALLOWED[type(self)] = frozenset(names)
        for name in settings:
            if name not in allowed:
                raise UnknownRuntimeParameterError(
                    f"{self._label()} does not accept the generation setting {name!r}."  # type: ignore[attr-defined]
                    f"{did_you_mean(name, allowed)} Accepted: {', '.join(sorted(allowed))}."
                )
        payload: dict[str, Any] = self.request_settings(**settings)  # type: ignore[attr-defined]
        return {key: value for key, value in payload.items() if value is not None}
