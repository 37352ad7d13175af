"""`AnyscaleLLM`: Anyscale Endpoints' OpenAI-compatible API (distilabel's class, same fields)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.hosted import HostedOpenAILLM, env_or, key_from_env
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION

_ANYSCALE_API_KEY_ENV_VAR_NAME = "ANYSCALE_API_KEY"
ANYSCALE_BASE_URL = "https://api.endpoints.anyscale.com/v1"


class AnyscaleLLM(HostedOpenAILLM):
    """Anyscale Endpoints: `AnyscaleLLM(model="google/gemma-7b-it")`.

    The key is read from ANYSCALE_API_KEY, the URL from ANYSCALE_BASE_URL (else Anyscale's).
    """

    base_url: RuntimeParameter[str] = Field(
        default_factory=env_or("ANYSCALE_BASE_URL", ANYSCALE_BASE_URL),
        description="Anyscale's API URL (default $ANYSCALE_BASE_URL, else Anyscale's).",
    )
    api_key: RuntimeParameter[SecretStr | None] = Field(
        default_factory=key_from_env(_ANYSCALE_API_KEY_ENV_VAR_NAME),
        description="The Anyscale API key (default: $ANYSCALE_API_KEY).",
    )
    api_key_env: str | None = Field(
        default=_ANYSCALE_API_KEY_ENV_VAR_NAME, description=API_KEY_ENV_DESCRIPTION
    )
