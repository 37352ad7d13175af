"""`MistralLLM`: Mistral's chat API, which follows OpenAI's with a few differences.

distilabel's fields: `endpoint` is the host ("https://api.mistral.ai"), requests go to its
`/v1/chat/completions`. Mistral names the seed `random_seed`; structured output uses the same
`response_format` (`json_schema`) as OpenAI's. The key is read from MISTRAL_API_KEY.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PositiveInt, SecretStr

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.hosted import HostedOpenAILLM, key_from_env
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION

if TYPE_CHECKING:
    import openai

    from stillroom.models.llms.transport import LoopSessions

_MISTRALAI_API_KEY_ENV_VAR_NAME = "MISTRAL_API_KEY"
MISTRAL_ENDPOINT = "https://api.mistral.ai"


class MistralLLM(HostedOpenAILLM):
    """Mistral: `MistralLLM(model="mistral-small-latest")`."""

    endpoint: str = Field(default=MISTRAL_ENDPOINT, description="Mistral's API host.")
    base_url: RuntimeParameter[str] = Field(
        default="",
        description="The API's URL with its version; empty (the default) means `endpoint` + '/v1'.",
    )
    api_key: RuntimeParameter[SecretStr | None] = Field(
        default_factory=key_from_env(_MISTRALAI_API_KEY_ENV_VAR_NAME),
        description="The Mistral API key (default: $MISTRAL_API_KEY).",
    )
    api_key_env: str | None = Field(
        default=_MISTRALAI_API_KEY_ENV_VAR_NAME, description=API_KEY_ENV_DESCRIPTION
    )
    max_concurrent_requests: RuntimeParameter[PositiveInt] = Field(  # as distilabel's
        default=64, description="Requests in flight at once, at most."
    )

    _stillroom_fields: ClassVar[frozenset[str]] = frozenset({"base_url", "default_headers"})

    def _api_base(self) -> str:
        return self.base_url or f"{self.endpoint.rstrip('/')}/v1"

    def _api_url(self, endpoint: str) -> str:
        return f"{self._api_base().rstrip('/')}/{endpoint}"

    def _endpoint(self) -> str:
        return self._api_base()

    def _make_client(self, sessions: LoopSessions) -> openai.AsyncOpenAI:
        client = super()._make_client(sessions)
        return client.with_options(base_url=self._api_base())

    def request_settings(  # type: ignore[override]
        self,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
    ) -> dict[str, Any]:
        """The settings Mistral accepts; `max_new_tokens` is sent as `max_tokens` and `seed`
        as `random_seed` (see `_json_body`)."""
        return super().request_settings(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop,
            seed=seed,
            presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty,
        )

    def _json_body(self, payload: dict[str, Any]) -> bytes:
        # Renamed here, last, so the seed still differs per generation asked one at a time.
        if "seed" in payload:
            payload = {**payload}
            payload["random_seed"] = payload.pop("seed")
        return super()._json_body(payload)
