"""Pick an LLM from a short text, so one pipeline runs on any backend without code changes.

    local                              the embedded model ([local] extra)
    local:/models/qwen2.5-1.5b.gguf    another GGUF file, run by llama.cpp
    openai:gpt-4o-mini                 OpenAI (key from OPENAI_API_KEY)
    vllm:Qwen/Qwen2.5-7B-Instruct      a vLLM server on localhost:8000
    ollama:llama3.1@http://gpu:11434/v1   an Ollama server elsewhere
    anthropic:claude-3-5-haiku-latest  Anthropic (key from ANTHROPIC_API_KEY)
    mock                               a scripted LLM that always answers "mock reply"

`provider:model@base_url`: the part after the last "@" (when it is a URL) overrides the
provider's default address. `llm_from_env()` reads the spec from `STILLROOM_LLM`.

Only `openai` specs read OPENAI_API_KEY: a self-hosted server must never receive the user's
OpenAI key. vLLM specs read VLLM_API_KEY (the variable `vllm serve` itself reads); the other
servers get a placeholder key unless `api_key=` is passed.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from stillroom.errors import StillroomError, did_you_mean
from stillroom.models.llms.base import LLM

logger = logging.getLogger("stillroom.llms")

ENV_VAR = "STILLROOM_LLM"

OPENAI_COMPATIBLE: dict[str, str | None] = {
    "openai": None,  # OPENAI_BASE_URL, else OpenAI's API
    "vllm": "http://localhost:8000/v1",
    "ollama": "http://localhost:11434/v1",
    "llama-server": "http://localhost:8080/v1",
    "tgi": "http://localhost:8080/v1",
    "lmstudio": "http://localhost:1234/v1",
}
"""Provider name -> default base URL of OpenAI-compatible servers (started as their docs say)."""

SELF_HOSTED_KEY_VARIABLES: dict[str, str] = {"vllm": "VLLM_API_KEY"}
"""Self-hosted providers with a conventional API-key variable; the others need no key."""

PROVIDERS = ("local", *OPENAI_COMPATIBLE, "anthropic", "mock")

_EXAMPLES = (
    "e.g. 'local', 'openai:gpt-4o-mini', 'ollama:llama3.1', 'vllm:MODEL@http://host:8000/v1'"
)


def _split(spec: str) -> tuple[str, str, str | None]:
    provider, _, rest = spec.strip().partition(":")
    model, url = rest, None
    if "@" in rest:
        head, _, tail = rest.rpartition("@")
        if tail.startswith(("http://", "https://")):
            model, url = head, tail
    return provider.strip().lower(), model.strip(), url


def llm_from_spec(spec: str, **fields: Any) -> LLM:
    """The LLM a spec names (see the module docstring), built with extra `fields`.

    `fields` are passed to the LLM class (`generation_kwargs=...`, `timeout=...`). Generation
    settings the chosen backend does not accept (say `seed` for Anthropic) are dropped with an
    info log, so one set of settings serves every backend.
    """
    provider, model, url = _split(spec)
    if provider not in PROVIDERS:
        raise StillroomError(
            f"Unknown LLM provider {provider!r} in {spec!r}.{did_you_mean(provider, PROVIDERS)} "
            f"Known: {', '.join(PROVIDERS)} ({_EXAMPLES})."
        )
    llm_class, options = _resolve(provider, model, url, spec)
    llm = llm_class(**{**options, **fields})
    return _keep_accepted_settings(llm)


def llm_from_env(default: str = "local", variable: str = ENV_VAR, **fields: Any) -> LLM:
    """`llm_from_spec` of the environment variable `variable` (STILLROOM_LLM), else `default`."""
    spec = os.environ.get(variable, "").strip() or default
    return llm_from_spec(spec, **fields)


def _resolve(
    provider: str, model: str, url: str | None, spec: str
) -> tuple[type[LLM], dict[str, Any]]:
    if provider == "local":
        from stillroom.models.llms.llamacpp import LlamaCppLLM

        return LlamaCppLLM, {"model_path": model} if model else {}
    if provider == "mock":
        from stillroom.models.llms.mock import AsyncMockLLM

        return AsyncMockLLM, {}
    if not model:
        if provider != "tgi":  # TGI serves one model and ignores the name
            raise StillroomError(
                f"The LLM spec {spec!r} names no model; write {provider}:MODEL ({_EXAMPLES})."
            )
        model = "tgi"
    if provider == "anthropic":
        from stillroom.models.llms.anthropic import AnthropicLLM

        return AnthropicLLM, {"model": model, **({"base_url": url} if url else {})}
    from stillroom.models.llms.openai import OpenAILLM

    base_url = url or OPENAI_COMPATIBLE[provider]
    options: dict[str, Any] = {"model": model, **({"base_url": base_url} if base_url else {})}
    if provider != "openai":  # never OPENAI_API_KEY: it would go to the self-hosted server
        # saved with the LLM, so a pipeline file loaded back keeps the rule
        options["api_key_env"] = SELF_HOSTED_KEY_VARIABLES.get(provider)
    return OpenAILLM, options


def _keep_accepted_settings(llm: LLM) -> LLM:
    allowed, any_name = llm.allowed_generation_kwargs()
    if any_name:
        return llm
    dropped = sorted(set(llm.generation_kwargs) - allowed)
    if dropped:
        logger.info(
            "%s does not take the generation settings %s; they are left out.",
            llm._label(),
            ", ".join(dropped),
        )
        llm.generation_kwargs = {k: v for k, v in llm.generation_kwargs.items() if k in allowed}
    return llm
