"""`LiteLLM`: the 100+ providers the `litellm` package speaks to, behind one LLM.

`model` is litellm's "provider/model" name ("anthropic/claude-3-5-haiku-latest",
"openai/MODEL" with `api_base` for any OpenAI-compatible server, ...); litellm reads each
provider's key from that provider's usual environment variable, or from `api_key`. litellm is
the `[litellm]` extra, imported when the LLM loads. Generations are asked one request each
(not every provider takes `n`), so their token counts are exact.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr

from stillroom.errors import LLMRequestError, MissingExtraError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.llms.base import AsyncLLM
from stillroom.models.llms.redaction import redact
from stillroom.models.llms.settings import RequestSettingsMixin
from stillroom.models.llms.structured import Sample, StructuredOutputMixin, split_input
from stillroom.typing import FormattedInput, GenerateOutput


class LiteLLM(RequestSettingsMixin, StructuredOutputMixin, AsyncLLM):
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
        if self._acompletion is None:
            raise RuntimeError(f"{self._label()} generates only once loaded")  # _ensure_loaded ran
        messages, structured = split_input(input)
        params = self._settings_payload(settings)
        if self.api_key is not None:
            params["api_key"] = self.api_key.get_secret_value()
        collector = self._collector(structured, num_generations)
        if collector.spec is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": collector.spec.name, "schema": collector.spec.schema},
            }
        while count := collector.missing:
            samples = []
            for _ in range(count):
                try:
                    reply = await self._acompletion(model=self.model, messages=messages, **params)
                except Exception as exc:  # litellm raises its providers' errors
                    raise self._request_failed(exc) from None
                samples.append(_sample(reply))
            collector.add(samples)
        return collector.output()

    def _request_failed(self, error: Exception) -> LLMRequestError:
        """`error` as an `LLMRequestError` naming this LLM, without the key in its text."""
        secrets = [self.api_key.get_secret_value()] if self.api_key is not None else []
        status = getattr(error, "status_code", None)
        hint = " (check the provider's key: `api_key` or its environment variable)"
        return LLMRequestError(
            redact(f"{self._label()}: {type(error).__name__}: {error}", secrets)
            + (hint if status == 401 else ""),
            status_code=status if isinstance(status, int) else None,
        )


def _sample(reply: Any) -> Sample:
    """The first choice of a litellm `ModelResponse`, with its token counts."""
    usage = getattr(reply, "usage", None)
    message = reply.choices[0].message
    return Sample(
        getattr(message, "content", None),
        getattr(usage, "prompt_tokens", None),
        getattr(usage, "completion_tokens", None),
    )
