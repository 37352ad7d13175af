"""`OllamaLLM`: an Ollama server through its native API.

Conversations go to `/api/chat`. With `tokenizer_id` set, each conversation is rendered with
that tokenizer's chat template and sent to `/api/generate` with `raw: true`, so the prompt
reaches the model exactly as written: what Magpie needs (the server's own template would
close the turn). Structured output is Ollama's `format` field holding the JSON schema.
Usage comes from `prompt_eval_count` / `eval_count`. Each generation is its own request.

(The `ollama:` spec prefix keeps meaning Ollama's OpenAI-compatible API through `OpenAILLM`;
`ollama-native:` builds this class.)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import Field

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.chat_template import TokenizerChatTemplateMixin
from stillroom.models.llms.rate_limit import estimate_tokens
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION, RemoteLLM, json_headers
from stillroom.models.llms.resilience import Failure
from stillroom.models.llms.structured import Sample
from stillroom.models.llms.transport import LoopSessions
from stillroom.typing import FormattedInput, GenerateOutput

if TYPE_CHECKING:
    from stillroom.models.llms.spec import LLMSpec

OLLAMA_HOST = "http://localhost:11434"
"""Where `ollama serve` listens by default."""

_OPTIONS = {
    "max_new_tokens": "num_predict",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "stop": "stop",
}
"""Named settings that go into Ollama's `options` (same meaning, Ollama's names)."""


def _default_host() -> str | None:
    return os.environ.get("OLLAMA_HOST") or None


class OllamaLLM(TokenizerChatTemplateMixin, RemoteLLM):
    """Models served by Ollama, through `/api/chat` (or `/api/generate` for raw prompts)."""

    host: RuntimeParameter[str | None] = Field(
        default=None,
        description=f"The server's URL; None reads $OLLAMA_HOST, else {OLLAMA_HOST}.",
    )
    follow_redirects: bool = Field(
        default=True,
        description="Kept for distilabel compatibility; requests never follow redirects "
        "(a redirected POST would lose its body), so a redirect is reported as an error.",
    )
    api_key_env: str | None = Field(
        default="OLLAMA_API_KEY",
        description=API_KEY_ENV_DESCRIPTION + " A local server needs no key; Ollama's cloud "
        "API does.",
    )

    @classmethod
    def spec_fields(cls, spec: LLMSpec) -> dict[str, Any]:
        """`ollama-native:MODEL[@http://host:11434]`."""
        fields: dict[str, Any] = {"model": spec.require_model()}
        if spec.url:
            fields["host"] = spec.url
        return fields

    def _host(self) -> str:
        host = self.host or _default_host() or OLLAMA_HOST
        if "://" not in host:  # OLLAMA_HOST is often written as host:port
            host = f"http://{host}"
        return host.rstrip("/")

    def _endpoint(self) -> str:
        return self._host()

    def _keyless_value(self) -> str | None:
        return ""  # a local server takes requests without a key

    def _make_client(self, sessions: LoopSessions) -> Any:
        return None  # the requests are plain JSON; the ollama package is not needed

    def _request_headers(self) -> dict[str, str]:
        return json_headers(self._secret.get_secret_value() if self._secret is not None else None)

    def _hint(self, failure: Failure) -> str:
        if failure.status_code == 404:
            return (
                f"check the model name ({self.model!r}: `ollama pull {self.model}`) and the "
                f"host ({self._host()})"
            )
        return super()._hint(failure)

    def load(self) -> None:
        super().load()
        self._load_tokenizer()

    # --- settings ------------------------------------------------------------------------------

    def request_settings(
        self,
        *,
        format: str | dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        seed: int | None = None,
        stop: str | list[str] | None = None,
    ) -> dict[str, Any]:
        """Ollama's request fields `format` ("json" or a JSON schema), `options` (any of
        Ollama's model options) and `keep_alive`; the named settings are merged into
        `options` (`max_new_tokens` as `num_predict`) and win over the same option there."""
        named = {
            _OPTIONS[name]: value
            for name, value in (
                ("max_new_tokens", max_new_tokens),
                ("temperature", temperature),
                ("top_p", top_p),
                ("top_k", top_k),
                ("seed", seed),
                ("stop", [stop] if isinstance(stop, str) else stop),
            )
            if value is not None
        }
        merged = {**(options or {}), **named}
        return {"format": format or None, "options": merged or None, "keep_alive": keep_alive}

    # --- generating ----------------------------------------------------------------------------

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` replies to one conversation, one request each."""
        messages, collector = self._conversation_and_collector(input, num_generations)
        params = self._settings_payload(settings)
        if collector.spec is not None:
            params["format"] = collector.spec.schema
        if self.tokenizer_id:
            prompt = self._render_prompt(messages)
            body: dict[str, Any] = {"prompt": prompt, "raw": True}
            url, texts = f"{self._host()}/api/generate", [prompt]
        else:
            body = {"messages": list(messages)}
            url, texts = f"{self._host()}/api/chat", [str(m["content"]) for m in messages]
        options = params.get("options") or {}
        estimate = estimate_tokens(texts, options.get("num_predict") or 0)

        def payload(index: int) -> dict[str, Any]:
            sent = {"model": self.model, **body, **params, "stream": False}
            seed = options.get("seed")
            if seed is not None and index:
                sent["options"] = {**options, "seed": seed + index}
            return sent

        return await self._one_request_per_generation(
            collector, url, payload, self._sample, estimate
        )

    def _sample(self, data: Any) -> Sample:
        """One generation from an `/api/chat` or `/api/generate` reply."""
        if not isinstance(data, dict):
            raise self._malformed("expected a JSON object", data)
        message = data.get("message")
        if isinstance(message, dict):
            text = message.get("content")
        elif "response" in data:
            text = data["response"]
        else:
            raise self._malformed("expected a 'message' object or a 'response' text", data)
        if text is not None and not isinstance(text, str):
            raise self._malformed("the reply's text is not a string", data)
        return Sample(text, data.get("prompt_eval_count"), data.get("eval_count"))
