"""`LiteLLM`: the 100+ providers the `litellm` package speaks to, behind one LLM.

`model` is litellm's "provider/model" name ("anthropic/claude-3-5-haiku-latest",
"openai/MODEL" with `api_base` for any OpenAI-compatible server, ...); litellm reads each
provider's key from that provider's usual environment variable, or from `api_key`. litellm is
the `[litellm]` extra, imported when the LLM loads. Generations are asked one request each
(not every provider takes `n`), so their token counts are exact.

Each call goes through the same wrappers as an HTTP backend's request
(`ResilientRequestsMixin`): a timeout per attempt, retries with backoff on 429, 5xx,
timeouts and connection errors (litellm's exceptions carry the provider's status), and the
rate limits. litellm's own retries stay off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr

from stillroom.errors import MissingExtraError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.base import AsyncLLM
from stillroom.models.llms.rate_limit import estimate_chat_tokens
from stillroom.models.llms.resilience import FailedAttempt, Failure, failure_from_status
from stillroom.models.llms.resilient import ResilientRequestsMixin
from stillroom.models.llms.sending import Request, Sender
from stillroom.models.llms.settings import RequestSettingsMixin
from stillroom.models.llms.structured import Sample, StructuredOutputMixin
from stillroom.typing import FormattedInput, GenerateOutput


class LiteLLM(ResilientRequestsMixin, RequestSettingsMixin, StructuredOutputMixin, AsyncLLM):
    """Any provider litellm supports: `LiteLLM(model="groq/llama-3.1-8b-instant")`."""

    model: str = Field(description="litellm's model name, e.g. 'mistral/mistral-large-latest'.")
    verbose: RuntimeParameter[bool] = Field(
        default=False, description="Let litellm log (its loggers are silenced otherwise)."
    )
    api_key: RuntimeParameter[SecretStr | None] = Field(
        default=None,
        description="The provider's key, if not in the environment variable litellm reads "
        "for that provider (never dumped).",
    )

    _acompletion: Callable[..., Awaitable[Any]] | None = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return self.model

    def load(self) -> None:
        """Import litellm (the `[litellm]` extra) and quiet it unless `verbose`."""
        super().load()
        try:
            import litellm
        except ImportError:
            raise MissingExtraError("LiteLLM", "litellm", "litellm") from None
        litellm.telemetry = False
        if not self.verbose:
            litellm.suppress_debug_info = True
            for name in list(logging.Logger.manager.loggerDict):
                if "litellm" in name.lower():
                    logging.getLogger(name).setLevel(logging.CRITICAL)
        self._acompletion = litellm.acompletion
        self._set_up_limits()

    def request_settings(
        self,
        *,
        max_new_tokens: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: dict[str, float] | None = None,
        functions: list[Any] | None = None,
        function_call: str | None = None,
        user: str | None = None,
        metadata: dict[str, Any] | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        model_list: list[Any] | None = None,
        mock_response: str | None = None,
        force_timeout: int | None = None,
        custom_llm_provider: str | None = None,
    ) -> dict[str, Any]:
        """litellm's `acompletion` arguments (distilabel's names; `max_new_tokens` is the
        usual stillroom name for `max_tokens`). `force_timeout` is sent as `timeout`."""
        return {
            "max_tokens": max_tokens if max_tokens is not None else max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "stop": stop,
            "seed": seed,
            "presence_penalty": presence_penalty,
            "frequency_penalty": frequency_penalty,
            "logit_bias": logit_bias,
            "functions": functions,
            "function_call": function_call,
            "user": user,
            "metadata": metadata,
            "api_base": api_base,
            "api_version": api_version,
            "model_list": model_list,
            "mock_response": mock_response,
            "timeout": force_timeout,
            "custom_llm_provider": custom_llm_provider,
        }

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **settings: Any
    ) -> GenerateOutput:
        """`num_generations` replies to one conversation, one `acompletion` call each."""
        messages, collector = self._conversation_and_collector(input, num_generations)
        params = self._settings_payload(settings)
        if collector.spec is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": collector.spec.name, "schema": collector.spec.schema},
            }
        estimate = estimate_chat_tokens(messages, params.get("max_tokens"))
        body = json.dumps({"messages": messages, **params}).encode()
        request = Request(
            self.model,
            body,
            read=_sample,
            estimated_tokens=estimate,
            tokens_used=Sample.total_tokens,
        )
        while count := collector.missing:
            collector.add([await self._send(request) for _ in range(count)])
        return collector.output()

    def _first_link(self) -> Sender:
        if self._acompletion is None:
            raise RuntimeError(f"{self._label()} generates only once loaded")  # _ensure_loaded ran
        return _Completion(self._acompletion, self.model, self.api_key)

    def _secrets(self) -> list[str]:
        return [self.api_key.get_secret_value()] if self.api_key is not None else []

    def _hint(self, failure: Failure) -> str:
        if failure.status_code == 401:
            return "the provider refused the key: check `api_key` or its environment variable"
        return super()._hint(failure)


class _Completion:
    """The innermost link: one `litellm.acompletion` call with the request's arguments (its
    body, JSON), the key added here so that it is in no request; an error carrying an HTTP
    status becomes a `FailedAttempt` for the retry loop."""

    def __init__(
        self, acompletion: Callable[..., Awaitable[Any]], model: str, key: SecretStr | None
    ) -> None:
        self._acompletion = acompletion
        self._model = model
        self._key = key

    async def __call__(self, request: Request[Any]) -> Any:
        arguments = json.loads(request.body)
        if self._key is not None:
            arguments["api_key"] = self._key.get_secret_value()
        try:
            reply = await self._acompletion(model=self._model, num_retries=0, **arguments)
        except Exception as exc:  # litellm raises its providers' errors, with their status
            status = getattr(exc, "status_code", None)
            if not isinstance(status, int):
                raise
            headers = getattr(getattr(exc, "response", None), "headers", None)
            raise FailedAttempt(
                failure_from_status(status, headers, f"{type(exc).__name__}: {exc}")
            ) from None
        return request.read(reply)


def _sample(reply: Any) -> Sample:
    """The first choice of a litellm `ModelResponse`, with its token counts."""
    usage = getattr(reply, "usage", None)
    message = reply.choices[0].message
    return Sample(
        getattr(message, "content", None),
        getattr(usage, "prompt_tokens", None),
        getattr(usage, "completion_tokens", None),
    )
