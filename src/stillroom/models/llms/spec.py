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

Providers are the prefixes of `registry` (built-ins and installed plugins). The backend class
turns the parsed spec into its constructor's fields with a `spec_fields(spec)` classmethod;
without one, the model goes to its `model` field and the URL to its `base_url` field.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError, did_you_mean
from stillroom.models.llms import registry

if TYPE_CHECKING:
    from stillroom.models.llms.base import LLM

logger = logging.getLogger("stillroom.llms")

ENV_VAR = "STILLROOM_LLM"

_EXAMPLES = (
    "e.g. 'local', 'openai:gpt-4o-mini', 'ollama:llama3.1', 'vllm:MODEL@http://host:8000/v1'"
)


@dataclass(frozen=True)
class LLMSpec:
    """A spec string taken apart: what a backend's `spec_fields` receives."""

    text: str
    """The spec as written."""
    provider: str
    """The prefix, lower case: "ollama" in "ollama:llama3.1"."""
    model: str
    """What follows the prefix, without the URL ("" when nothing does)."""
    url: str | None
    """The URL after the last "@", if there is one."""

    @classmethod
    def parse(cls, text: str) -> LLMSpec:
        provider, _, rest = text.strip().partition(":")
        model, url = rest, None
        if "@" in rest:
            head, _, tail = rest.rpartition("@")
            if tail.startswith(("http://", "https://")):
                model, url = head, tail
        return cls(text, provider.strip().lower(), model.strip(), url)

    def require_model(self) -> str:
        """The model, or a clear error when the spec names none."""
        if not self.model:
            raise StillroomError(
                f"The LLM spec {self.text!r} names no model; write {self.provider}:MODEL "
                f"({_EXAMPLES})."
            )
        return self.model


def llm_from_spec(spec: str, **fields: Any) -> LLM:
    """The LLM a spec names (see the module docstring), built with extra `fields`.

    `fields` are passed to the LLM class (`generation_kwargs=...`, `timeout=...`). Generation
    settings the chosen backend does not accept (say `seed` for Anthropic) are dropped with an
    info log, so one set of settings serves every backend.
    """
    parsed = LLMSpec.parse(spec)
    backend = registry.for_prefix(parsed.provider)
    if backend is None:
        known = registry.prefixes()
        raise StillroomError(
            f"Unknown LLM provider {parsed.provider!r} in {spec!r}."
            f"{did_you_mean(parsed.provider, known)} Known: {', '.join(known)} ({_EXAMPLES}). "
            f"A backend from another package is found once it is installed and declares its "
            f"prefix in the entry-point group {registry.GROUP!r}."
        )
    llm_class = backend.load()
    llm = llm_class(**{**spec_fields(llm_class, parsed), **fields})
    return _keep_accepted_settings(llm)


def llm_from_env(default: str = "local", variable: str = ENV_VAR, **fields: Any) -> LLM:
    """`llm_from_spec` of the environment variable `variable` (STILLROOM_LLM), else `default`."""
    spec = os.environ.get(variable, "").strip() or default
    return llm_from_spec(spec, **fields)


def spec_fields(llm_class: type[LLM], spec: LLMSpec) -> dict[str, Any]:
    """The constructor fields `spec` means for `llm_class`: its `spec_fields(spec)` if it has
    one, else the model as `model` (required if the field is) and the URL as `base_url`."""
    custom = getattr(llm_class, "spec_fields", None)
    if custom is not None:
        return dict(custom(spec))
    declared = llm_class.model_fields
    fields: dict[str, Any] = {}
    if "model" in declared and (spec.model or declared["model"].is_required()):
        fields["model"] = spec.require_model()
    if spec.url:
        if "base_url" not in declared:
            raise StillroomError(
                f"The LLM spec {spec.text!r} gives a URL, but {llm_class.__name__} takes none; "
                "leave out the '@URL' part."
            )
        fields["base_url"] = spec.url
    return fields


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
