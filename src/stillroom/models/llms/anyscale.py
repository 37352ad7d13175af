"""`AnyscaleLLM`: Anyscale Endpoints' OpenAI-compatible API (distilabel's class, same fields)."""

from __future__ import annotations

from pydantic import SecretStr

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.hosted import HostedOpenAILLM, key_env_field, key_field, url_field

_ANYSCALE_API_KEY_ENV_VAR_NAME = "ANYSCALE_API_KEY"
ANYSCALE_BASE_URL = "https://api.endpoints.anyscale.com/v1"


class AnyscaleLLM(HostedOpenAILLM):
    """Anyscale Endpoints: `AnyscaleLLM(model="google/gemma-7b-it")`.

    The key is read from ANYSCALE_API_KEY, the URL from ANYSCALE_BASE_URL (else Anyscale's).
    """

    base_url: RuntimeParameter[str] = url_field("Anyscale", "ANYSCALE_BASE_URL", ANYSCALE_BASE_URL)
    api_key: RuntimeParameter[SecretStr | None] = key_field(
        "Anyscale", _ANYSCALE_API_KEY_ENV_VAR_NAME
    )
    api_key_env: str | None = key_env_field(_ANYSCALE_API_KEY_ENV_VAR_NAME)
