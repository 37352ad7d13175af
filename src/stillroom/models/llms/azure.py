"""`AzureOpenAILLM`: OpenAI models deployed on Azure (distilabel's class, same fields).

Azure serves each deployment at
`{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`;
`model` is the deployment's name and `base_url` the resource's endpoint
(`https://NAME.openai.azure.com`). Authentication is the resource's key, sent in the
`api-key` header, or a Microsoft Entra ID access token, sent as a bearer token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from pydantic import Field, PrivateAttr, SecretStr

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.hosted import HostedOpenAILLM, env_or, key_from_env
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION, secret_from_env
from stillroom.models.llms.resilience import Failure

if TYPE_CHECKING:
    import openai

    from stillroom.models.llms.transport import LoopSessions

_AZURE_OPENAI_ENDPOINT_ENV_VAR_NAME = "AZURE_OPENAI_ENDPOINT"
_AZURE_OPENAI_API_KEY_ENV_VAR_NAME = "AZURE_OPENAI_API_KEY"
_AZURE_OPENAI_AD_TOKEN_ENV_VAR_NAME = "AZURE_OPENAI_AD_TOKEN"
_OPENAI_API_VERSION_ENV_VAR_NAME = "OPENAI_API_VERSION"


class AzureOpenAILLM(HostedOpenAILLM):
    """Azure OpenAI: `AzureOpenAILLM(model="my-gpt-4o", api_version="2024-10-21")`.

    The endpoint is read from AZURE_OPENAI_ENDPOINT, the key from AZURE_OPENAI_API_KEY, the
    API version from OPENAI_API_VERSION; with no key, an Entra ID token is read from
    `azure_ad_token` or AZURE_OPENAI_AD_TOKEN.
    """

    base_url: RuntimeParameter[str] = Field(
        default_factory=env_or(_AZURE_OPENAI_ENDPOINT_ENV_VAR_NAME, ""),
        description="The resource's endpoint, https://NAME.openai.azure.com (default "
        "$AZURE_OPENAI_ENDPOINT).",
    )
    api_key: RuntimeParameter[SecretStr | None] = Field(
        default_factory=key_from_env(_AZURE_OPENAI_API_KEY_ENV_VAR_NAME),
        description="The resource's key, sent as `api-key` (default: $AZURE_OPENAI_API_KEY).",
    )
    api_key_env: str | None = Field(
        default=_AZURE_OPENAI_API_KEY_ENV_VAR_NAME, description=API_KEY_ENV_DESCRIPTION
    )
    api_version: RuntimeParameter[str | None] = Field(
        default_factory=lambda: env_or(_OPENAI_API_VERSION_ENV_VAR_NAME, "")() or None,
        description="The API version, e.g. 2024-10-21 (default $OPENAI_API_VERSION).",
    )
    azure_ad_token: RuntimeParameter[SecretStr | None] = Field(
        default_factory=key_from_env(_AZURE_OPENAI_AD_TOKEN_ENV_VAR_NAME),
        description="A Microsoft Entra ID access token, used when there is no key (default: "
        "$AZURE_OPENAI_AD_TOKEN).",
    )

    _auth: Literal["key", "token"] = PrivateAttr(default="key")

    def load(self) -> None:
        """Check the endpoint and the API version, then load as any OpenAI-compatible LLM."""
        missing = [
            f"{what} ({how})"
            for what, how, value in (
                (
                    "the endpoint",
                    f"base_url=... or ${_AZURE_OPENAI_ENDPOINT_ENV_VAR_NAME}",
                    self.base_url,
                ),
                (
                    "the API version",
                    f"api_version=... or ${_OPENAI_API_VERSION_ENV_VAR_NAME}",
                    self.api_version,
                ),
            )
            if not value
        ]
        if missing:
            raise StillroomError(f"{self._label()}: set {' and '.join(missing)}.")
        super().load()

    def _resolve_api_key(self) -> SecretStr | None:
        """The key (`api_key`, else $api_key_env), else the Entra ID token, else an error."""
        key = self.api_key or secret_from_env(self.api_key_env)
        token = self.azure_ad_token or secret_from_env(_AZURE_OPENAI_AD_TOKEN_ENV_VAR_NAME)
        if key is None and token is None:
            raise StillroomError(
                f"{self._label()}: no credentials. {self._where_the_key_goes()}, or give a "
                f"Microsoft Entra ID token in azure_ad_token or "
                f"${_AZURE_OPENAI_AD_TOKEN_ENV_VAR_NAME} (neither is ever written to dumps or logs)."
            )
        self._auth = "key" if key is not None else "token"
        return key or token

    def _request_headers(self) -> dict[str, str]:
        secret = self._secret.get_secret_value() if self._secret is not None else ""
        auth = {"api-key": secret} if self._auth == "key" else {"authorization": f"Bearer {secret}"}
        return {
            **auth,
            "content-type": "application/json",
            "accept": "application/json",
            **(self.default_headers or {}),
        }

    def _api_url(self, endpoint: str) -> str:
        deployment = quote(self.model, safe="")
        version = quote(self.api_version or "", safe="")
        return (
            f"{self.base_url.rstrip('/')}/openai/deployments/{deployment}/{endpoint}"
            f"?api-version={version}"
        )

    def _hint(self, failure: Failure) -> str:
        if failure.status_code == 401 and self._auth == "token":
            return (
                "the Entra ID token was refused: check the `azure_ad_token` field or the "
                f"{_AZURE_OPENAI_AD_TOKEN_ENV_VAR_NAME} environment variable (tokens expire)"
            )
        return super()._hint(failure)

    def _make_client(self, sessions: LoopSessions) -> openai.AsyncAzureOpenAI:
        import httpx
        import openai

        from stillroom.models.llms.sdk_transport import SessionTransport

        secret = self._secret.get_secret_value() if self._secret is not None else None
        key, token = (secret, None) if self._auth == "key" else (None, secret)
        return openai.AsyncAzureOpenAI(  # type: ignore[call-overload,no-any-return]  # the SDK stubs name their vendored httpx
            azure_endpoint=self.base_url,
            azure_deployment=self.model,
            api_version=self.api_version,
            api_key=key,
            azure_ad_token=token,
            timeout=self.timeout,
            max_retries=0,  # retries happen in RemoteLLM
            default_headers=self.default_headers,
            http_client=httpx.AsyncClient(transport=SessionTransport(sessions)),
        )
