"""`VertexAILLM`: Gemini models on Vertex AI, through the REST API's `generateContent`.

Requests go to `{base_url}/projects/{project}/locations/{location}/publishers/google/models/
{model}:generateContent` with an OAuth access token: `api_key` when given (e.g. from `gcloud
auth print-access-token`), else one obtained from a credentials file (`google_credentials`).
Assistant turns are sent with Gemini's role "model" and system messages as the
`systemInstruction`; structured output is `responseMimeType: application/json` with the
schema as `responseSchema` (`gemini_schema`). Each generation is its own request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr, SecretStr

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.gemini_schema import gemini_schema
from stillroom.models.llms.google_credentials import (
    CREDENTIALS_ENV,
    GoogleCredentials,
    find_credentials_file,
)
from stillroom.models.llms.rate_limit import estimate_chat_tokens
from stillroom.models.llms.remote import RemoteLLM, json_headers
from stillroom.models.llms.resilience import Failure
from stillroom.models.llms.structured import Sample
from stillroom.models.llms.transport import LoopSessions
from stillroom.typing import ChatType, FormattedInput, GenerateOutput

if TYPE_CHECKING:
    pass

DEFAULT_LOCATION = "us-central1"


class VertexAILLM(RemoteLLM):
    """Gemini on Vertex AI (`generateContent`), authenticated with Google Cloud credentials."""

    project: RuntimeParameter[str | None] = Field(
        default_factory=lambda: os.environ.get("GOOGLE_CLOUD_PROJECT") or None,
        description="Google Cloud project (default $GOOGLE_CLOUD_PROJECT, else the project "
        "of the credentials file).",
    )
    location: RuntimeParameter[str] = Field(
        default_factory=lambda: os.environ.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION,
        description=f"Vertex AI region (default $GOOGLE_CLOUD_LOCATION, else {DEFAULT_LOCATION}).",
    )
    credentials_path: RuntimeParameter[str | None] = Field(
        default=None,
        description=f"A service account's JSON key or user credentials; None reads "
        f"${CREDENTIALS_ENV}, else gcloud's application-default credentials.",
    )
    base_url: RuntimeParameter[str | None] = Field(
        default=None,
        description="The API's URL up to its version (default "
        "https://{location}-aiplatform.googleapis.com/v1).",
    )
    api_key: RuntimeParameter[SecretStr | None] = Field(
        default=None,
        description="An OAuth access token to send instead of credentials from a file "
        "(tokens expire after about an hour).",
    )
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding an access token, if any."
    )

    _credentials: GoogleCredentials | None = PrivateAttr(default=None)
    _token: str | None = PrivateAttr(default=None)

    # --- auth ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Find the credentials (an error now, not at the first request, if there are none)."""
        super().load()
        self._credentials = None
        if self._secret is None:
            path = find_credentials_file(self.credentials_path, self._label())
            self._credentials = GoogleCredentials(path, self._label())
        if self._project() is None:
            raise StillroomError(
                f"{self._label()}: no Google Cloud project: set project=... or the "
                "GOOGLE_CLOUD_PROJECT environment variable."
            )

    def _resolve_api_key(self) -> SecretStr | None:
        return self.api_key or (
            SecretStr(os.environ[self.api_key_env])
            if self.api_key_env and os.environ.get(self.api_key_env)
            else None
        )

    def _project(self) -> str | None:
        return self.project or (self._credentials.project if self._credentials else None)

    async def _authorize(self) -> None:
        """Put a valid access token in the request headers (renewed when it expires)."""
        if self._credentials is None:
            return
        token = await self._credentials.access_token(self.timeout)
        if token != self._token:
            self._token = token
            # The chain's `Post` sends `self._headers` (the same dict), and `Redacting`
            # masks `_secrets()`: both see the new token once the chain is rebuilt.
            self._headers["authorization"] = f"Bearer {token}"
            self._chain = None

    def _secrets(self) -> list[str]:
        return [*super()._secrets(), *([self._token] if self._token else [])]

    def _make_client(self, sessions: LoopSessions) -> Any:
        return None  # the requests are plain JSON; Google's SDK is not needed

    def _request_headers(self) -> dict[str, str]:
        """The API key when one is set, else the Google Cloud access token."""
        return json_headers(
            self._secret.get_secret_value() if self._secret is not None else self._token
        )

    def _hint(self, failure: Failure) -> str:
        if failure.status_code == 401:
            return (
                "the access token was refused: check the `api_key` field, credentials_path "
                f"or the {CREDENTIALS_ENV} environment variable"
            )
        if failure.status_code == 403:
            return (
                f"the credentials may not use Vertex AI in project {self._project()!r}: check "
                "the account's permissions (role Vertex AI User) and that the API is enabled"
            )
        if failure.status_code == 404:
            return f"check the model ({self.model!r}), location and base_url ({self._endpoint()})"
        return super()._hint(failure)

    # --- requests ------------------------------------------------------------------------------

    def _endpoint(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = (
            "aiplatform.googleapis.com"
            if self.location == "global"
            else f"{self.location}-aiplatform.googleapis.com"
        )
        return f"https://{host}/v1"

    def _url(self) -> str:
        return (
            f"{self._endpoint()}/projects/{self._project()}/locations/{self.location}"
            f"/publishers/google/models/{self.model}:generateContent"
        )

    def request_settings(
        self,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        max_output_tokens: int | None = None,
        max_new_tokens: int | None = None,
        stop_sequences: list[str] | None = None,
        seed: int | None = None,
        safety_settings: list[dict[str, Any]] | dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """distilabel's VertexAILLM settings; `max_new_tokens` (other backends' name) is sent
        as `maxOutputTokens` when `max_output_tokens` is not given."""
        config = {
            "temperature": temperature,
            "topP": top_p,
            "topK": top_k,
            "maxOutputTokens": max_output_tokens
            if max_output_tokens is not None
            else max_new_tokens,
            "stopSequences": stop_sequences,
            "seed": seed,
        }
        if isinstance(safety_settings, dict):  # {category: threshold}, as the SDK took them
            safety_settings = [
                {"category": category, "threshold": threshold}
                for category, threshold in safety_settings.items()
            ]
        return {
            "generationConfig": {k: v for k, v in config.items() if v is not None} or None,
            "safetySettings": safety_settings,
            "tools": tools,
        }

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` replies to one conversation, one request each."""
        messages, collector = self._conversation_and_collector(input, num_generations)
        params = self._settings_payload(settings)
        config = dict(params.pop("generationConfig", None) or {})
        if collector.spec is not None:
            config["responseMimeType"] = "application/json"
            config["responseSchema"] = gemini_schema(collector.spec.schema, self._label())
        body = {**_contents(messages, self._label()), **params}
        estimate = estimate_chat_tokens(messages, config.get("maxOutputTokens"))
        await self._authorize()
        url = self._url()

        def payload(index: int) -> dict[str, Any]:
            generation = dict(config)
            if "seed" in generation and index:
                generation["seed"] += index
            return {**body, **({"generationConfig": generation} if generation else {})}

        return await self._one_request_per_generation(
            collector, url, payload, self._sample, estimate
        )

    def _sample(self, data: Any) -> Sample:
        """The first candidate's text (None when it was blocked), with the usage."""
        candidates = data.get("candidates") if isinstance(data, dict) else None
        usage = data.get("usageMetadata") if isinstance(data, dict) else None
        if not isinstance(candidates, list) or not isinstance(usage, dict):
            raise self._malformed("expected 'candidates' and 'usageMetadata'", data)
        text = None
        if candidates and isinstance(candidates[0], dict):
            parts = (candidates[0].get("content") or {}).get("parts") or []
            texts = [str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p]
            text = "".join(texts) if texts else None
        return Sample(text, usage.get("promptTokenCount"), usage.get("candidatesTokenCount"))


def _contents(messages: ChatType, label: str) -> dict[str, Any]:
    """Gemini's `contents` (roles user and model) and `systemInstruction`."""
    system = [str(m["content"]) for m in messages if m["role"] == "system"]
    contents = []
    for message in messages:
        role = message["role"]
        if role == "system":
            continue
        if role not in ("user", "assistant", "model"):
            raise StillroomError(
                f"{label}: Gemini takes the roles system, user and assistant/model, not {role!r}."
            )
        contents.append(
            {
                "role": "user" if role == "user" else "model",
                "parts": [{"text": str(message["content"])}],
            }
        )
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    return body
