"""The OpenAI-compatible servers an LLM spec may name, and what `OpenAILLM` assumes of each.

`openai:MODEL` is OpenAI's API; `vllm:`, `ollama:`, `llama-server:`, `tgi:` and `lmstudio:`
are self-hosted servers at their documented default address, each with the key variable
and the structured-output form its docs give (`openai_spec_fields`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError

if TYPE_CHECKING:
    from stillroom.models.llms.spec import LLMSpec
    from stillroom.models.llms.structured_modes import StructuredOutputMode

OPENAI_BASE_URL = "https://api.openai.com/v1"
KEYLESS_PLACEHOLDER = "sk-no-key-required"
"""Sent as the key to a self-hosted server when no key is configured (most accept any)."""

OPENAI_COMPATIBLE: dict[str, str] = {
    "vllm": "http://localhost:8000/v1",
    "ollama": "http://localhost:11434/v1",
    "llama-server": "http://localhost:8080/v1",
    "tgi": "http://localhost:8080/v1",
    "lmstudio": "http://localhost:1234/v1",
}
"""Spec prefix -> default base URL of OpenAI-compatible servers (started as their docs say)."""

SELF_HOSTED_KEY_VARIABLES: dict[str, str] = {"vllm": "VLLM_API_KEY"}
"""Self-hosted providers with a conventional API-key variable; the others need no key."""

STRUCTURED_OUTPUT_PRESETS: dict[str, StructuredOutputMode] = {
    "vllm": "json_schema",
    "ollama": "json_schema",
    "llama-server": "json_schema",
    "lmstudio": "json_schema",
    "tgi": "tgi_grammar",
}
"""Spec prefix -> the structured-output form that server documents (no probing needed)."""


def openai_spec_fields(spec: LLMSpec) -> dict[str, Any]:
    """The fields of `OpenAILLM` for an `openai:`, `vllm:`, `ollama:`, ... spec: a self-hosted
    server never gets OPENAI_API_KEY (see `OpenAILLM.spec_fields`)."""
    model = (spec.model or "tgi") if spec.provider == "tgi" else spec.require_model()
    if spec.provider == "openai":
        return {"model": model, **({"base_url": spec.url} if spec.url else {})}
    base_url = spec.url or OPENAI_COMPATIBLE.get(spec.provider)
    if base_url is None:  # a prefix a plugin maps to OpenAILLM, with no default server
        raise StillroomError(
            f"The LLM spec {spec.text!r} names no server; write "
            f"{spec.provider}:MODEL@http://HOST:PORT/v1."
        )
    # api_key_env is saved with the LLM, so a pipeline file loaded back keeps the rule.
    return {
        "model": model,
        "base_url": base_url,
        "api_key_env": SELF_HOSTED_KEY_VARIABLES.get(spec.provider),
        "structured_output_mode": STRUCTURED_OUTPUT_PRESETS.get(spec.provider, "auto"),
    }
