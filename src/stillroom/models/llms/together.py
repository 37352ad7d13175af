"""`TogetherLLM`: Together AI's OpenAI-compatible API (distilabel's class, same fields)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.hosted import HostedOpenAILLM, env_or, key_from_env
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION

_TOGETHER_API_KEY_ENV_VAR_NAME = "TOGETHER_API_KEY"
TOGETHER_BASE_URL = "https://api.together.xyz/v1"


class TogetherLLM(HostedOpenAILLM):
    """Together AI: `TogetherLLM(model="meta-llama/Llama-3.3-70B-Instruct-Turbo")`.

    The key is read from TOGETHER_API_KEY, the URL from TOGETHER_BASE_URL (else Together's).
    """

    base_url: RuntimeParameter[str] = Field(
        default_factory=env_or("TOGETHER_BASE_URL", TOGETHER_BASE_URL),
        description="Together's API URL (default $TOGETHER_BASE_URL, else Together's).",
    )
    api_key: RuntimeParameter[SecretStr | None] = Field(
        default_factory=key_from_env(_TOGETHER_API_KEY_ENV_VAR_NAME),
        description="The Together API key (default: $TOGETHER_API_KEY).",
    )
    api_key_env: str | None = Field(
        default=_TOGETHER_API_KEY_ENV_VAR_NAME, description=API_KEY_ENV_DESCRIPTION
    )
