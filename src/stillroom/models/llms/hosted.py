"""Shared pieces of the hosted OpenAI-compatible providers (Together, Anyscale, Groq, ...).

Each provider is a small `OpenAILLM` subclass (its own module, at distilabel's path) that
sets its default URL and its key's environment variable. As in distilabel, the URL and the
key are read from their variables when the LLM is built; the key stays a `SecretStr`,
never dumped, and a missing key is an error naming the variable when the LLM loads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr

from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION, secret_from_env

if TYPE_CHECKING:
    from stillroom.models.llms.spec import LLMSpec


def env_or(variable: str, default: str) -> Callable[[], str]:
    """A default factory: `$variable` when set and not empty, else `default`."""
    return lambda: os.environ.get(variable) or default


def key_from_env(variable: str) -> Callable[[], SecretStr | None]:
    """A default factory: `$variable` as a `SecretStr`, or None when unset."""
    return lambda: secret_from_env(variable)


def url_field(provider: str, variable: str, default: str) -> Any:
    """A provider's `base_url` field: `$variable` when set, else the provider's own URL."""
    return Field(
        default_factory=env_or(variable, default),
        description=f"{provider}'s API URL (default ${variable}, else {provider}'s).",
    )


def key_field(provider: str, variable: str) -> Any:
    """A provider's `api_key` field, read from `$variable` when the LLM is built."""
    return Field(
        default_factory=key_from_env(variable),
        description=f"The {provider} API key (default: ${variable}).",
    )


def key_env_field(variable: str) -> Any:
    """A provider's `api_key_env` field: `variable`, named by the error for a missing key."""
    return Field(default=variable, description=API_KEY_ENV_DESCRIPTION)


class HostedOpenAILLM(OpenAILLM):
    """An OpenAI-compatible API run by a provider: a key is always required."""

    @classmethod
    def spec_fields(cls, spec: LLMSpec) -> dict[str, Any]:
        """`prefix:MODEL` or `prefix:MODEL@URL` (the URL replaces the provider's)."""
        return {"model": spec.require_model(), **({"base_url": spec.url} if spec.url else {})}

    def _keyless_value(self) -> str | None:
        return None
