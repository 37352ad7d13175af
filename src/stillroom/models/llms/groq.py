"""`GroqLLM`: Groq's OpenAI-compatible API (distilabel's class, same fields and defaults).

Like distilabel (and Groq's SDK), `base_url` is the host, "https://api.groq.com"; requests go
to its `/openai/v1/` path. Groq answers one generation per request (it refuses `n` > 1), so
`num_generations` are asked one at a time from the start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, NonNegativeInt, PrivateAttr, SecretStr

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.hosted import HostedOpenAILLM, env_or, key_env_field, key_field

if TYPE_CHECKING:
    import openai

    from stillroom.models.llms.transport import LoopSessions

_GROQ_API_BASE_URL_ENV_VAR_NAME = "GROQ_BASE_URL"
_GROQ_API_KEY_ENV_VAR_NAME = "GROQ_API_KEY"
GROQ_BASE_URL = "https://api.groq.com"


class GroqLLM(HostedOpenAILLM):
    """Groq: `GroqLLM(model="llama-3.1-8b-instant")` (key from GROQ_API_KEY)."""

    base_url: RuntimeParameter[str] = Field(
        default_factory=env_or(_GROQ_API_BASE_URL_ENV_VAR_NAME, GROQ_BASE_URL),
        description="Groq's host (default $GROQ_BASE_URL, else https://api.groq.com); "
        "requests go to its /openai/v1/ path.",
    )
    api_key: RuntimeParameter[SecretStr | None] = key_field("Groq", _GROQ_API_KEY_ENV_VAR_NAME)
    api_key_env: str | None = key_env_field(_GROQ_API_KEY_ENV_VAR_NAME)
    max_retries: RuntimeParameter[NonNegativeInt] = Field(
        default=2,
        description="New attempts after a 429, a 5xx, a timeout or a connection error.",
    )

    _n_supported: bool | None = PrivateAttr(default=False)
    _stillroom_fields: ClassVar[frozenset[str]] = frozenset({"default_headers"})

    def _api_url(self, endpoint: str) -> str:
        return f"{self.base_url.rstrip('/')}/openai/v1/{endpoint}"

    def _make_client(self, sessions: LoopSessions) -> openai.AsyncOpenAI:
        client = super()._make_client(sessions)
        return client.with_options(base_url=self._api_url(""))

    def request_settings(  # type: ignore[override]
        self,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The settings Groq accepts (distilabel's GroqLLM's): `max_new_tokens` is sent as
        `max_tokens`; unset ones are not sent, so Groq's defaults apply."""
        return super().request_settings(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop,
            seed=seed,
        )
