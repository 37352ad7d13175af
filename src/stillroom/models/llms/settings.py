"""Generation settings: the names an LLM accepts, checked, then mapped to a backend's payload.

A backend declares its settings once, as the keyword-only parameters of its
`request_settings` method, which maps them to what its API expects (`max_new_tokens` ->
`max_tokens`, ...). `RequestSettingsMixin` makes that method the signature
`LLM.allowed_generation_kwargs` reads, so the runtime-parameter checks and the request path
accept exactly the same names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stillroom.errors import UnknownRuntimeParameterError, did_you_mean
from stillroom.mixins.runtime_parameters import (
    RuntimeParametersMixin,
    RuntimeParametersNames,
    accepted_keyword_names,
)

_NOT_GENERATION_KWARGS = {"self", "input", "inputs", "num_generations"}

_ALLOWED: dict[type, frozenset[str]] = {}
"""Setting names per backend class (reading a signature on every request is slow)."""


class GenerationKwargsMixin(RuntimeParametersMixin):
    """Which generation settings an LLM accepts (the keyword parameters of its
    `_generation_signature`: `generate`, `agenerate` or `request_settings`), and
    `generation_kwargs` as a runtime parameter checked against them."""

    if TYPE_CHECKING:
        generation_kwargs: dict[str, Any]

        def _label(self) -> str: ...  # the LLM's

        def generate(self, *args: Any, **kwargs: Any) -> Any: ...

    def _generation_signature(self) -> Callable[..., Any]:
        return type(self).generate

    def allowed_generation_kwargs(self) -> tuple[set[str], bool]:
        """Names `generation_kwargs` may hold, and whether any other name is accepted too."""
        return accepted_keyword_names(self._generation_signature(), _NOT_GENERATION_KWARGS)

    @property
    def runtime_parameters_names(self) -> RuntimeParametersNames:
        names = super().runtime_parameters_names
        allowed, _ = self.allowed_generation_kwargs()
        if "generation_kwargs" in names:
            names["generation_kwargs"] = {name: True for name in sorted(allowed)}
        return names

    def get_runtime_parameters_info(self) -> list[dict[str, Any]]:
        """As for any object, with `generation_kwargs` in distilabel's shape: its `keys`, each
        generation setting this LLM takes, optional when it has a default."""
        info = super().get_runtime_parameters_info()
        allowed, _ = self.allowed_generation_kwargs()
        parameters = inspect.signature(self._generation_signature()).parameters
        keys = [
            {
                "name": name,
                "optional": name not in parameters
                or parameters[name].default is not inspect.Parameter.empty,
            }
            for name in sorted(allowed)
        ]
        for entry in info:
            if entry["name"] == "generation_kwargs":
                entry.pop("optional", None)
                entry["keys"] = keys
        return info

    def _check_runtime_value(self, name: str, value: Any) -> Any:
        if name != "generation_kwargs":
            return value
        if not isinstance(value, dict):
            raise UnknownRuntimeParameterError(
                f"{self._label()}: generation_kwargs must be a dict, got {value!r}."
            )
        allowed, any_name = self.allowed_generation_kwargs()
        for key in value:
            if key not in allowed and not any_name:
                raise UnknownRuntimeParameterError(
                    f"{self._label()} does not accept the generation setting {key!r}."
                    f"{did_you_mean(key, allowed)} Accepted: {', '.join(sorted(allowed))}."
                )
        return {**self.generation_kwargs, **value}


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
