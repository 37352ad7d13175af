"""`OpenAIEmbeddings`: OpenAI's `/v1/embeddings`, or any server speaking it (vLLM, Ollama,
llama-server, TEI, ...). Not in distilabel; how most users embed today.

Requests go through an `OpenAILLM` built with the same connection settings, so they take the
same road as chat requests: the key (`OPENAI_API_KEY` by default, never logged), the
`_send` chain with retries (429/5xx/timeouts, `Retry-After`), rate limits and the per-attempt
timeout, and the `max_concurrent_requests` slot. `encode` splits its texts into requests of
`batch_size` texts sent concurrently.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    SecretStr,
)

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.embeddings.base import Embeddings
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.openai_servers import OPENAI_BASE_URL
from stillroom.models.llms.rate_limit import estimate_tokens
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION
from stillroom.models.llms.sending import Request

_SENDING_FIELDS = (
    "max_concurrent_requests",
    "timeout",
    "max_retries",
    "retry_backoff",
    "requests_per_minute",
    "tokens_per_minute",
)
"""How requests are sent: handed to the `OpenAILLM` that sends them, and left out of the
request-cache keys (they do not change the vectors)."""


class OpenAIEmbeddings(Embeddings):
    """Vectors from an OpenAI-compatible `/embeddings` endpoint."""

    model: str = Field(description="The embedding model, as the server names it.")
    base_url: RuntimeParameter[str] = Field(
        default_factory=lambda: os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
        description="The API's URL (default $OPENAI_BASE_URL, else OpenAI's).",
    )
    api_key: RuntimeParameter[SecretStr | None] = Field(
        default=None, description="The API key (default: read from $api_key_env on load)."
    )
    api_key_env: str | None = Field(default="OPENAI_API_KEY", description=API_KEY_ENV_DESCRIPTION)
    dimensions: PositiveInt | None = Field(
        default=None, description="Vector length, for models that can shorten theirs."
    )
    batch_size: RuntimeParameter[PositiveInt] = Field(default=128, description="Texts per request.")
    max_concurrent_requests: PositiveInt = Field(  # a field, as on the LLM it builds
        default=8, description="Requests in flight at once, at most."
    )
    timeout: RuntimeParameter[PositiveFloat] = Field(
        default=120.0, description="Seconds one attempt may take."
    )
    max_retries: RuntimeParameter[NonNegativeInt] = Field(
        default=6, description="New attempts after a 429, a 5xx, a timeout or a lost connection."
    )
    retry_backoff: RuntimeParameter[NonNegativeFloat] = Field(
        default=1.0, description="Base wait in seconds before a retry (doubles each time)."
    )
    requests_per_minute: RuntimeParameter[PositiveInt | None] = Field(
        default=None, description="At most this many requests a minute."
    )
    tokens_per_minute: RuntimeParameter[PositiveInt | None] = Field(
        default=None, description="At most this many tokens a minute."
    )
    http_transport: str | None = Field(
        default=None, description='"aiohttp" or "httpx"; None: as OpenAILLM chooses.'
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {"batch_size", *_SENDING_FIELDS, "http_transport", "api_key_env"}
    )

    _client: OpenAILLM | None = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return self.model

    def load(self) -> None:
        """Build the client that sends the requests (resolves the key)."""
        super().load()
        fields: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("model", "base_url", "api_key", "api_key_env", *_SENDING_FIELDS)
        }
        if self.http_transport is not None:
            fields["http_transport"] = self.http_transport
        client = OpenAILLM(**fields)
        client.load()
        self._client = client

    def unload(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.unload()
        super().unload()

    @property
    def client(self) -> OpenAILLM:
        """The LLM whose connections, key, retries and limits the requests use."""
        self._ensure_loaded("encode()")
        assert self._client is not None
        return self._client

    def encode(self, inputs: list[str]) -> list[list[float]]:
        """One vector per text; the texts go in requests of `batch_size`, concurrently."""
        client = self.client
        return client.run_sync(self.aencode(list(inputs)))

    async def aencode(self, inputs: list[str]) -> list[list[float]]:
        """`encode` on the running event loop."""
        size = self.batch_size
        batches = [inputs[i : i + size] for i in range(0, len(inputs), size)]
        results = await asyncio.gather(*(self._request(batch) for batch in batches))
        return [vector for batch in results for vector in batch]

    async def _request(self, texts: list[str]) -> list[list[float]]:
        client = self.client
        payload: dict[str, Any] = {"model": self.model, "input": texts}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions

        def read(data: Any) -> list[list[float]]:
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list) or len(items) != len(texts):
                raise client._malformed(f"'data' with {len(texts)} embeddings", data)
            try:
                ordered = sorted(items, key=lambda item: item.get("index", 0))
                return [[float(x) for x in item["embedding"]] for item in ordered]
            except (AttributeError, KeyError, TypeError, ValueError):
                raise client._malformed("each item's 'embedding' a list of numbers", data) from None

        request = Request(
            url=f"{self.base_url.rstrip('/')}/embeddings",
            body=client._json_body(payload),
            read=read,
            estimated_tokens=estimate_tokens(texts, None),
        )
        async with client._request_slot():
            return await client._send(request)
