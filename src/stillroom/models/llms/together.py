"""`TogetherLLM`: Together AI's OpenAI-compatible API (distilabel's class, same fields)."""

from __future__ import annotations

from pydantic import SecretStr

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.hosted import HostedOpenAILLM, key_env_field, key_field, url_field

_TOGETHER_API_KEY_ENV_VAR_NAME = "TOGETHER_API_KEY"
TOGETHER_BASE_URL = "https://api.together.xyz/v1"


class TogetherLLM(HostedOpenAILLM):
    """Together AI: `TogetherLLM(model="meta-llama/Llama-3.3-70B-Instruct-Turbo")`.

    The key is read from TOGETHER_API_KEY, the URL from TOGETHER_BASE_URL (else Together's).
    """

    base_url: RuntimeParameter[str] = url_field("Together", "TOGETHER_BASE_URL", TOGETHER_BASE_URL)
    api_key: RuntimeParameter[SecretStr | None] = key_field(
        "Together", _TOGETHER_API_KEY_ENV_VAR_NAME
    )
    api_key_env: str | None = key_env_field(_TOGETHER_API_KEY_ENV_VAR_NAME)
