"""`InferenceEndpointsLLM`: Hugging Face Inference Providers, dedicated Inference Endpoints
and self-hosted Text Generation Inference (TGI) servers, over plain HTTP.

Where the model runs is chosen by one of three fields:

- `model_id`: serverless, through the Hugging Face router (`router.huggingface.co`): chat
  through its OpenAI-compatible `/v1/chat/completions`, raw prompts through the
  text-generation task of HF's own `hf-inference` provider.
- `endpoint_name` (+ `endpoint_namespace`): a dedicated Inference Endpoint, whose URL is
  looked up (and the endpoint resumed if paused) when the LLM loads (`endpoints_api`).
- `base_url`: a TGI server (or any endpoint speaking TGI's API).

Conversations go to the chat API; with `tokenizer_id` set (or a plain string as input) the
prompt is rendered with that tokenizer's chat template and sent to the text-generation API
(`{"inputs": ..., "parameters": ...}`), which is what Magpie needs. Structured output is
TGI's grammar (`{"type": "json", "value": schema}`) on text generation, TGI's
`response_format` on a TGI chat API, and a `json_schema` response format on the router.
Each generation is its own request.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from typing_extensions import Self

from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.chat_template import TokenizerChatTemplateMixin
from stillroom.models.llms.huggingface.hub import HF_TOKEN_ENV, hub_token, resolve_endpoint
from stillroom.models.llms.huggingface.replies import chat_sample, text_generation_sample
from stillroom.models.llms.rate_limit import estimate_chat_tokens, estimate_tokens
from stillroom.models.llms.remote import API_KEY_ENV_DESCRIPTION, RemoteLLM, json_headers
from stillroom.models.llms.resilience import Failure
from stillroom.models.llms.sending import Request
from stillroom.models.llms.structured import Sample, StructuredSpec
from stillroom.models.llms.transport import LoopSessions
from stillroom.typing import ChatType, FormattedInput, GenerateOutput

if TYPE_CHECKING:
    from stillroom.models.llms.spec import LLMSpec

logger = logging.getLogger("stillroom.llms")

ROUTER_URL = "https://router.huggingface.co"
"""Hugging Face's router for Inference Providers (serverless)."""

_CHAT_SETTINGS = {
    "max_new_tokens": "max_tokens",
    "frequency_penalty": "frequency_penalty",
    "logit_bias": "logit_bias",
    "logprobs": "logprobs",
    "presence_penalty": "presence_penalty",
    "seed": "seed",
    "stop_sequences": "stop",
    "temperature": "temperature",
    "tool_choice": "tool_choice",
    "tool_prompt": "tool_prompt",
    "tools": "tools",
    "top_logprobs": "top_logprobs",
    "top_p": "top_p",
}
"""Setting -> field of a chat completion request (the others apply to text generation)."""

_TEXT_GENERATION_SETTINGS = {
    "max_new_tokens": "max_new_tokens",
    "frequency_penalty": "frequency_penalty",
    "seed": "seed",
    "stop_sequences": "stop",
    "temperature": "temperature",
    "top_n_tokens": "top_n_tokens",
    "top_p": "top_p",
    "do_sample": "do_sample",
    "repetition_penalty": "repetition_penalty",
    "return_full_text": "return_full_text",
    "top_k": "top_k",
    "typical_p": "typical_p",
    "watermark": "watermark",
}
"""Setting -> field of TGI's text-generation `parameters`."""


class InferenceEndpointsLLM(TokenizerChatTemplateMixin, RemoteLLM):
    """Hugging Face Inference Providers (`model_id`), a dedicated Inference Endpoint
    (`endpoint_name`) or a TGI server (`base_url`)."""

    model: str = Field(
        default="tgi",
        exclude=True,
        description="Not set by users: the model named in chat requests is model_id, or the "
        "endpoint's repository, or 'tgi' (a TGI server serves one model and ignores it).",
    )
    model_id: str | None = Field(
        default=None,
        description="Hub model id, served serverless through Hugging Face's Inference "
        "Providers router.",
    )
    endpoint_name: RuntimeParameter[str | None] = Field(
        default=None, description="Name of a dedicated Inference Endpoint."
    )
    endpoint_namespace: RuntimeParameter[str | None] = Field(
        default=None,
        description="User or organisation owning the endpoint (default: the token's user).",
    )
    base_url: RuntimeParameter[str | None] = Field(
        default=None,
        description="URL of a TGI server or an endpoint speaking TGI's API (e.g. "
        "http://localhost:8080); ignored when model_id or endpoint_name is set.",
    )
    api_key_env: str | None = Field(default=HF_TOKEN_ENV, description=API_KEY_ENV_DESCRIPTION)
    model_display_name: str | None = Field(
        default=None, description="The name written in `model_name` columns, if set."
    )

    _endpoint_url: str | None = PrivateAttr(default=None)
    _endpoint_model: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_place_to_run(self) -> Self:
        if self.model_id and self.endpoint_name:
            raise ValueError(
                "InferenceEndpointsLLM: set either model_id (serverless) or endpoint_name (a "
                f"dedicated endpoint), not both (got model_id={self.model_id!r}, "
                f"endpoint_name={self.endpoint_name!r})."
            )
        if not (self.model_id or self.endpoint_name or self.base_url):
            raise ValueError(
                "InferenceEndpointsLLM: say where the model runs: model_id='org/model' "
                "(serverless), endpoint_name='...' (a dedicated endpoint) or "
                "base_url='http://host:port' (a TGI server)."
            )
        if self.base_url and (self.model_id or self.endpoint_name):
            logger.warning(
                "InferenceEndpointsLLM: base_url=%r is ignored, since %s decides the URL.",
                self.base_url,
                "model_id" if self.model_id else "endpoint_name",
            )
        if self.model_id and self.tokenizer_id is None and self.structured_output is not None:
            # distilabel's behaviour: structured output by grammar needs the raw prompt
            self.tokenizer_id = self.model_id
        return self

    @classmethod
    def spec_fields(cls, spec: LLMSpec) -> dict[str, Any]:
        """`hf:ORG/MODEL` (serverless), `hf:@http://host:port` (a TGI server) and
        `hf-endpoint:[NAMESPACE/]NAME` (a dedicated endpoint)."""
        if spec.provider == "hf-endpoint":
            namespace, _, name = spec.require_model().rpartition("/")
            return {"endpoint_name": name, "endpoint_namespace": namespace or None}
        if spec.url and not spec.model:
            return {"base_url": spec.url}
        if spec.url:
            raise StillroomError(
                f"The LLM spec {spec.text!r} names both a model and a URL; write "
                "hf:ORG/MODEL (serverless) or hf:@http://host:port (a TGI server)."
            )
        return {"model_id": spec.require_model()}

    @property
    def model_name(self) -> str:
        return str(
            self.model_display_name
            or self._endpoint_model
            or self.model_id
            or self.endpoint_name
            or self.base_url
        )

    # --- lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        """Resolve the token, the endpoint's URL (`endpoint_name`) and the tokenizer."""
        super().load()
        if self.endpoint_name and not self.model_id:
            token = self._secret.get_secret_value() if self._secret is not None else ""
            endpoint = resolve_endpoint(
                self.endpoint_name,
                self.endpoint_namespace,
                token,
                timeout=self.timeout,
                label=self._label(),
            )
            self._endpoint_url, self._endpoint_model = endpoint.url, endpoint.repository
        self._load_tokenizer()

    def _resolve_api_key(self) -> SecretStr | None:
        key = self.api_key or hub_token(self.api_key_env)
        if key is not None:
            return key
        return super()._resolve_api_key()

    def _keyless_value(self) -> str | None:
        # A self-hosted TGI needs no token; the router and dedicated endpoints do.
        return "" if self.base_url and not (self.model_id or self.endpoint_name) else None

    def _make_client(self, sessions: LoopSessions) -> Any:
        return None  # the requests are plain JSON; there is no SDK client to offer

    def _request_headers(self) -> dict[str, str]:
        return json_headers(self._secret.get_secret_value() if self._secret is not None else None)

    def _endpoint(self) -> str:
        if self.model_id:
            return ROUTER_URL
        return (self._endpoint_url or self.base_url or "the endpoint").rstrip("/")

    def _hint(self, failure: Failure) -> str:
        if failure.status_code == 404:
            where = f"model_id {self.model_id!r}" if self.model_id else "base_url"
            return f"check the {where} ({self._endpoint()}) and that it serves text generation"
        return super()._hint(failure)

    # --- settings ------------------------------------------------------------------------------

    def request_settings(
        self,
        *,
        max_new_tokens: int = 128,
        frequency_penalty: float | None = None,
        logit_bias: list[float] | dict[str, float] | None = None,
        logprobs: bool | None = None,
        presence_penalty: float | None = None,
        seed: int | None = None,
        stop_sequences: str | list[str] | None = None,
        temperature: float | None = None,
        tool_choice: dict[str, str] | Literal["auto"] | None = None,
        tool_prompt: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        top_logprobs: int | None = None,
        top_n_tokens: int | None = None,
        top_p: float | None = None,
        do_sample: bool | None = None,
        repetition_penalty: float | None = None,
        return_full_text: bool | None = None,
        top_k: int | None = None,
        typical_p: float | None = None,
        watermark: bool | None = None,
    ) -> dict[str, Any]:
        """The settings distilabel's InferenceEndpointsLLM takes, by their names there.

        Some apply to the chat API only (`logit_bias`, `logprobs`, `presence_penalty`,
        `tool_*`, `tools`, `top_logprobs`), others to text generation only (`do_sample`,
        `repetition_penalty`, `return_full_text`, `top_k`, `top_n_tokens`, `typical_p`,
        `watermark`); each request sends those its API takes. None is not sent.
        """
        if isinstance(stop_sequences, str):
            stop_sequences = [stop_sequences]
        return {
            "max_new_tokens": max_new_tokens,
            "frequency_penalty": frequency_penalty,
            "logit_bias": logit_bias,
            "logprobs": logprobs,
            "presence_penalty": presence_penalty,
            "seed": seed,
            "stop_sequences": stop_sequences,
            "temperature": temperature,
            "tool_choice": tool_choice,
            "tool_prompt": tool_prompt,
            "tools": tools,
            "top_logprobs": top_logprobs,
            "top_n_tokens": top_n_tokens,
            "top_p": top_p,
            "do_sample": do_sample,
            "repetition_penalty": repetition_penalty,
            "return_full_text": return_full_text,
            "top_k": top_k,
            "typical_p": typical_p,
            "watermark": watermark,
        }

    # --- generating ----------------------------------------------------------------------------

    async def agenerate(
        self, input: FormattedInput | str, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` replies to a conversation, or continuations of a raw prompt (a
        string), one request each (see `request_settings`)."""
        params = self._settings_payload(settings)
        if isinstance(input, str):
            messages: ChatType = []
            prompt: str | None = input
            collector = self._collector(None, num_generations)
        else:
            messages, collector = self._conversation_and_collector(input, num_generations)
            prompt = self._render_prompt(messages) if self.tokenizer_id else None
        while count := collector.missing:
            first = collector.issued
            samples = []
            for index in range(count):
                seed = _seed(params.get("seed"), first + index)
                if prompt is not None:
                    samples.append(await self._generate_text(prompt, params, seed, collector.spec))
                else:
                    samples.append(await self._chat(messages, params, seed, collector.spec))
            collector.add(samples)
        return collector.output()

    async def _chat(
        self,
        messages: ChatType,
        params: dict[str, Any],
        seed: int,
        spec: StructuredSpec | None,
    ) -> Sample:
        body: dict[str, Any] = {"model": self._chat_model(), "messages": list(messages)}
        body.update({_CHAT_SETTINGS[k]: v for k, v in params.items() if k in _CHAT_SETTINGS})
        body["seed"] = seed
        if spec is not None:
            body["response_format"] = self._response_format(spec)
        if self.model_id:
            url = f"{ROUTER_URL}/v1/chat/completions"
        else:
            url = f"{self._tgi_url()}/v1/chat/completions"
        estimate = estimate_chat_tokens(messages, body["max_tokens"])
        return await self._send(
            Request(
                url,
                self._json_body(body),
                read=lambda data: chat_sample(data, self._malformed),
                estimated_tokens=estimate,
                tokens_used=_used,
            )
        )

    async def _generate_text(
        self, prompt: str, params: dict[str, Any], seed: int, spec: StructuredSpec | None
    ) -> Sample:
        parameters: dict[str, Any] = {
            _TEXT_GENERATION_SETTINGS[k]: v
            for k, v in params.items()
            if k in _TEXT_GENERATION_SETTINGS
        }
        parameters.update(seed=seed, details=True)
        input_tokens = self._prompt_tokens(prompt)
        if input_tokens is None:  # no tokenizer: the server counts the prompt ("prefill")
            parameters["decoder_input_details"] = True
        if spec is not None and spec.regex is not None:
            parameters["grammar"] = {"type": "regex", "value": spec.regex}
        elif spec is not None:
            parameters["grammar"] = {"type": "json", "value": spec.schema}
        if self.model_id:
            url = f"{ROUTER_URL}/hf-inference/models/{self.model_id}"
        else:
            url = self._tgi_url()
        return await self._send(
            Request(
                url,
                self._json_body({"inputs": prompt, "parameters": parameters}),
                read=lambda data: text_generation_sample(data, input_tokens, self._malformed),
                estimated_tokens=estimate_tokens([prompt], parameters["max_new_tokens"]),
                tokens_used=_used,
            )
        )

    def _tgi_url(self) -> str:
        url = (self._endpoint_url or self.base_url or "").rstrip("/")
        if not url:
            raise StillroomError(f"{self._label()}: no endpoint URL; load the LLM first.")
        return url.removesuffix("/v1")

    def _chat_model(self) -> str:
        return self.model_id or self._endpoint_model or self.model

    def _constrains_to_regex(self) -> bool:
        """TGI takes a pattern as its grammar; the serverless router does not."""
        return not self.model_id

    def _response_format(self, spec: StructuredSpec) -> dict[str, Any]:
        """The router takes OpenAI's `json_schema` form; TGI its own `value` form (a JSON
        schema or a pattern)."""
        if spec.regex is not None:
            return {"type": "regex", "value": spec.regex}
        if self.model_id:
            return {
                "type": "json_schema",
                "json_schema": {"name": spec.name, "schema": spec.schema},
            }
        return {"type": "json_object", "value": spec.schema}


def _seed(seed: int | None, index: int) -> int:
    """The seed of one generation: the given one moved by its index, else a random one (so
    that the server's cache does not answer every generation with the same reply)."""
    if seed is None:
        return random.randrange(2**31)
    return seed + index


def _used(sample: Sample) -> int | None:
    if sample.output_tokens is None:
        return None
    return (sample.input_tokens or 0) + sample.output_tokens
