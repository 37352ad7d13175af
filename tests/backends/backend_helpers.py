"""Shared helpers of the backend tests: reply bodies, and each HTTP backend as test data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from stillroom.models.llms.anthropic import AnthropicLLM
from stillroom.models.llms.anyscale import AnyscaleLLM
from stillroom.models.llms.azure import AzureOpenAILLM
from stillroom.models.llms.groq import GroqLLM
from stillroom.models.llms.mistral import MistralLLM
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.remote import RemoteLLM
from stillroom.models.llms.together import TogetherLLM
from stillroom.models.llms.vllm import ClientvLLM

FAST = {"retry_backoff": 0.001, "retry_max_backoff": 5.0, "timeout": 5.0}
"""Backoff settings that keep retry tests fast."""

OPENAI_URL = "http://openai.test/v1"
ANTHROPIC_URL = "http://anthropic.test"
API_KEY = "sk-test-Zq8Xw3VbN6mP"


def chat_completion(*texts: str | None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """An OpenAI chat completion body with one choice per text."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
            for i, text in enumerate(texts)
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def anthropic_message(text: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": usage or {"input_tokens": 7, "output_tokens": 3},
    }


@dataclass
class Backend:
    """One HTTP backend under test: how to build it and what its server answers."""

    name: str
    make: Callable[..., RemoteLLM]
    url: str
    reply: Callable[[str], dict[str, Any]]
    key_env_var: str
    env: dict[str, str] = field(default_factory=dict)
    """Other variables the backend needs to load (set by tests that build it bare)."""

    def ok(self, text: str = "hello") -> httpx.Response:
        return httpx.Response(200, json=self.reply(text))


AZURE_URL = "https://res.openai.azure.test"
AZURE_API_VERSION = "2024-10-21"


def openai_reply(text: str) -> dict[str, Any]:
    """The chat completion an OpenAI-compatible server answers, with usage."""
    return chat_completion(
        text, usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    )


BACKENDS = {
    "openai": Backend(
        "openai",
        lambda **kw: OpenAILLM(
            **{"model": "m", "base_url": OPENAI_URL, "api_key": API_KEY, **FAST, **kw}
        ),
        f"{OPENAI_URL}/chat/completions",
        lambda text: chat_completion(
            text, usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        ),
        "OPENAI_API_KEY",
    ),
    **{
        name: Backend(
            name,
            # max_retries as the shared tests expect (Groq's default is 2, as distilabel's)
            lambda cls=cls, url=url, **kw: cls(
                **{
                    "model": "m",
                    "base_url": url,
                    "api_key": API_KEY,
                    "max_retries": 6,
                    **FAST,
                    **kw,
                }
            ),
            f"{url}{path}",
            openai_reply,
            key_env_var,
        )
        for name, cls, url, path, key_env_var in [
            (
                "together",
                TogetherLLM,
                "http://together.test/v1",
                "/chat/completions",
                "TOGETHER_API_KEY",
            ),
            (
                "anyscale",
                AnyscaleLLM,
                "http://anyscale.test/v1",
                "/chat/completions",
                "ANYSCALE_API_KEY",
            ),
            ("groq", GroqLLM, "http://groq.test", "/openai/v1/chat/completions", "GROQ_API_KEY"),
            (
                "mistral",
                MistralLLM,
                "http://mistral.test/v1",
                "/chat/completions",
                "MISTRAL_API_KEY",
            ),
            ("vllm-client", ClientvLLM, "http://vllm.test/v1", "/chat/completions", "VLLM_API_KEY"),
        ]
    },
    "azure": Backend(
        "azure",
        lambda **kw: AzureOpenAILLM(
            **{
                "model": "m",
                "base_url": AZURE_URL,
                "api_version": AZURE_API_VERSION,
                "api_key": API_KEY,
                **FAST,
                **kw,
            }
        ),
        f"{AZURE_URL}/openai/deployments/m/chat/completions?api-version={AZURE_API_VERSION}",
        openai_reply,
        "AZURE_OPENAI_API_KEY",
        {"AZURE_OPENAI_ENDPOINT": AZURE_URL, "OPENAI_API_VERSION": AZURE_API_VERSION},
    ),
    "anthropic": Backend(
        "anthropic",
        lambda **kw: AnthropicLLM(
            **{"model": "claude-test", "base_url": ANTHROPIC_URL, "api_key": API_KEY, **FAST, **kw}
        ),
        f"{ANTHROPIC_URL}/v1/messages",
        anthropic_message,
        "ANTHROPIC_API_KEY",
    ),
}


USER = [{"role": "user", "content": "Say hello."}]
