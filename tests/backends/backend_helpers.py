"""Shared helpers of the backend tests: reply bodies, and each HTTP backend as test data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from stillroom.models.llms.anthropic import AnthropicLLM
from stillroom.models.llms.anyscale import AnyscaleLLM
from stillroom.models.llms.azure import AzureOpenAILLM
from stillroom.models.llms.cohere import CohereLLM
from stillroom.models.llms.groq import GroqLLM
from stillroom.models.llms.huggingface import InferenceEndpointsLLM
from stillroom.models.llms.mistral import MistralLLM
from stillroom.models.llms.ollama import OllamaLLM
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.remote import RemoteLLM
from stillroom.models.llms.together import TogetherLLM
from stillroom.models.llms.vertexai import VertexAILLM
from stillroom.models.llms.vllm import ClientvLLM

FAST = {"retry_backoff": 0.001, "retry_max_backoff": 5.0, "timeout": 5.0}
"""Backoff settings that keep retry tests fast."""

OPENAI_URL = "http://openai.test/v1"
ANTHROPIC_URL = "http://anthropic.test"
API_KEY = "sk-test-Zq8Xw3VbN6mP"
TGI_URL = "http://tgi.test"
ROUTER_URL = "https://router.huggingface.co"
OLLAMA_URL = "http://ollama.test:11434"
COHERE_URL = "http://cohere.test"
VERTEX_URL = "http://vertex.test/v1"
GEMINI_PATH = "/projects/p/locations/us-central1/publishers/google/models/gemini-test"


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


def ollama_reply(text: str | None, usage: tuple[int, int] = (5, 2)) -> dict[str, Any]:
    """An Ollama `/api/chat` reply."""
    return {
        "model": "llama-test",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": usage[0],
        "eval_count": usage[1],
    }


def cohere_reply(text: str | None) -> dict[str, Any]:
    """A Cohere v2 chat reply (billed units differ from the tokens processed)."""
    return {
        "id": "c-1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
        "usage": {
            "billed_units": {"input_tokens": 4, "output_tokens": 2},
            "tokens": {"input_tokens": 9, "output_tokens": 2},
        },
    }


def gemini_reply(text: str | None) -> dict[str, Any]:
    """A Gemini `generateContent` reply."""
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 2, "totalTokenCount": 8},
    }


def _openai_usage(text: str) -> dict[str, Any]:
    return chat_completion(
        text, usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    )


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
    usage: tuple[int, int] | None = None
    """(input, output) tokens of `reply`, when its body does not name them as OpenAI's or
    Anthropic's does."""
    url_field: str = "base_url"
    """The field a 404's message points at."""
    bare: dict[str, Any] | None = field(default_factory=lambda: {"model": "m"})
    """Fields of an LLM that reads its key from `key_env_var` (None: the variable holds no
    key, e.g. a credentials file's path)."""

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
    "tgi": Backend(
        "tgi",
        lambda **kw: InferenceEndpointsLLM(
            **{"base_url": TGI_URL, "api_key": API_KEY, **FAST, **kw}
        ),
        f"{TGI_URL}/v1/chat/completions",
        _openai_usage,
        "HF_TOKEN",
        bare={"model_id": "org/model"},
    ),
    "hf-router": Backend(
        "hf-router",
        lambda **kw: InferenceEndpointsLLM(
            **{"model_id": "org/model", "api_key": API_KEY, **FAST, **kw}
        ),
        f"{ROUTER_URL}/v1/chat/completions",
        _openai_usage,
        "HF_TOKEN",
        url_field="model_id",
        bare={"model_id": "org/model"},
    ),
    "ollama": Backend(
        "ollama",
        lambda **kw: OllamaLLM(
            **{"model": "llama-test", "host": OLLAMA_URL, "api_key": API_KEY, **FAST, **kw}
        ),
        f"{OLLAMA_URL}/api/chat",
        ollama_reply,
        "OLLAMA_API_KEY",
        usage=(5, 2),
        url_field="host",
    ),
    "cohere": Backend(
        "cohere",
        lambda **kw: CohereLLM(
            **{"model": "command-test", "base_url": COHERE_URL, "api_key": API_KEY, **FAST, **kw}
        ),
        f"{COHERE_URL}/v2/chat",
        cohere_reply,
        "COHERE_API_KEY",
        usage=(9, 2),
    ),
    "vertexai": Backend(
        "vertexai",
        lambda **kw: VertexAILLM(
            **{
                "model": "gemini-test",
                "project": "p",
                "location": "us-central1",
                "base_url": VERTEX_URL,
                "api_key": API_KEY,
                **FAST,
                **kw,
            }
        ),
        f"{VERTEX_URL}{GEMINI_PATH}:generateContent",
        gemini_reply,
        "GOOGLE_APPLICATION_CREDENTIALS",
        usage=(6, 2),
        bare=None,
    ),
}


USER = [{"role": "user", "content": "Say hello."}]
