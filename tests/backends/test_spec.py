"""Choosing the LLM from a spec string or STILLROOM_LLM."""

from __future__ import annotations

import pytest

from stillroom.errors import StillroomError
from stillroom.models import (
    AnthropicLLM,
    AsyncMockLLM,
    LlamaCppLLM,
    OpenAILLM,
    llm_from_env,
    llm_from_spec,
)


@pytest.fixture(autouse=True)
def _no_base_url_env(monkeypatch):
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "STILLROOM_LLM"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("spec", "cls", "model", "base_url"),
    [
        ("openai:gpt-4o-mini", OpenAILLM, "gpt-4o-mini", "https://api.openai.com/v1"),
        ("vllm:Qwen/Qwen2.5-7B-Instruct", OpenAILLM, "Qwen/Qwen2.5-7B-Instruct", "http://localhost:8000/v1"),
        ("vllm:my-model@http://gpu-box:8000/v1", OpenAILLM, "my-model", "http://gpu-box:8000/v1"),
        ("ollama:llama3.1:8b", OpenAILLM, "llama3.1:8b", "http://localhost:11434/v1"),
        ("llama-server:any", OpenAILLM, "any", "http://localhost:8080/v1"),
        ("tgi", OpenAILLM, "tgi", "http://localhost:8080/v1"),
        ("lmstudio:qwen2.5-7b-instruct", OpenAILLM, "qwen2.5-7b-instruct", "http://localhost:1234/v1"),
        ("openai:gpt-4o@https://proxy.example/v1", OpenAILLM, "gpt-4o", "https://proxy.example/v1"),
        ("anthropic:claude-3-5-haiku-latest", AnthropicLLM, "claude-3-5-haiku-latest", "https://api.anthropic.com"),
        (" Ollama:llama3 ", OpenAILLM, "llama3", "http://localhost:11434/v1"),
    ],
)  # fmt: skip
def test_remote_specs(spec, cls, model, base_url):
    llm = llm_from_spec(spec)
    assert type(llm) is cls
    assert llm.model == model and llm.base_url == base_url


def test_local_specs():
    assert llm_from_spec("local").model_path is None
    llm = llm_from_spec("local:/models/qwen.gguf", n_threads=2)
    assert isinstance(llm, LlamaCppLLM)
    assert llm.model_path == "/models/qwen.gguf" and llm.n_threads == 2


def test_mock_spec():
    assert isinstance(llm_from_spec("mock"), AsyncMockLLM)


def test_fields_are_passed_and_foreign_settings_dropped():
    settings = {"max_new_tokens": 64, "temperature": 0.7, "seed": 3}
    openai_llm = llm_from_spec("openai:gpt-4o-mini", generation_kwargs=settings, timeout=9)
    assert openai_llm.generation_kwargs == settings and openai_llm.timeout == 9
    anthropic_llm = llm_from_spec("anthropic:claude-x", generation_kwargs=settings)
    assert anthropic_llm.generation_kwargs == {"max_new_tokens": 64, "temperature": 0.7}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("olama:llama3", "Did you mean 'ollama'"),
        ("gpt-4o", "Unknown LLM provider"),
        ("openai", "names no model"),
        ("vllm:", "names no model"),
    ],
)
def test_bad_specs_explain_themselves(spec, message):
    with pytest.raises(StillroomError, match=message):
        llm_from_spec(spec)


def test_from_env(monkeypatch):
    assert isinstance(llm_from_env(default="mock"), AsyncMockLLM)
    monkeypatch.setenv("STILLROOM_LLM", "ollama:llama3")
    llm = llm_from_env(default="local")
    assert isinstance(llm, OpenAILLM) and llm.model == "llama3"
    monkeypatch.setenv("MY_LLM", "anthropic:claude-x")
    assert isinstance(llm_from_env(variable="MY_LLM"), AnthropicLLM)
    monkeypatch.setenv("STILLROOM_LLM", "  ")
    assert isinstance(llm_from_env(default="local"), LlamaCppLLM)


def test_importable_from_the_distilabel_paths():
    from stillroom.llms import llm_from_env as from_llms
    from stillroom.models.llms import OpenAILLM as from_llms_module

    assert from_llms is llm_from_env and from_llms_module is OpenAILLM
