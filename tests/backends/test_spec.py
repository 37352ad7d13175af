"""Choosing the LLM from a spec string or STILLROOM_LLM."""

from __future__ import annotations

import httpx
import pytest
import respx

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


def _authorization_sent(url: str) -> str:
    """The Authorization header the $STILLROOM_LLM LLM sends to `url` (respx, no network)."""
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post(url).mock(
            return_value=httpx.Response(
                200, json={"choices": [{"index": 0, "message": {"content": "hi"}}]}
            )
        )
        llm = llm_from_env(http_transport="httpx")
        llm.load()
        try:
            llm.generate([[{"role": "user", "content": "hello"}]])
        finally:
            llm.unload()
    return route.calls.last.request.headers["authorization"]


OPENAI_KEY = "sk-users-openai-key-5150"


@pytest.mark.parametrize(
    ("spec", "url"),
    [
        ("ollama:llama3", "http://localhost:11434/v1/chat/completions"),
        ("lmstudio:m@http://gpu:1234/v1", "http://gpu:1234/v1/chat/completions"),
        ("vllm:m", "http://localhost:8000/v1/chat/completions"),
        ("tgi", "http://localhost:8080/v1/chat/completions"),
    ],
)
def test_self_hosted_specs_never_send_the_openai_key(monkeypatch, spec, url):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("STILLROOM_LLM", spec)
    header = _authorization_sent(url)
    assert OPENAI_KEY not in header
    assert header == "Bearer sk-no-key-required"


def test_vllm_spec_sends_vllm_api_key_and_openai_spec_the_openai_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("VLLM_API_KEY", "vllm-token-1")
    monkeypatch.setenv("STILLROOM_LLM", "vllm:m")
    assert _authorization_sent("http://localhost:8000/v1/chat/completions") == (
        "Bearer vllm-token-1"
    )
    monkeypatch.setenv("STILLROOM_LLM", "openai:gpt-4o-mini@http://proxy.test/v1")
    assert _authorization_sent("http://proxy.test/v1/chat/completions") == (f"Bearer {OPENAI_KEY}")


def test_a_key_passed_to_a_spec_wins():
    llm = llm_from_spec("ollama:llama3", api_key="ollama-secret")
    assert llm.api_key.get_secret_value() == "ollama-secret"


def test_a_self_hosted_spec_saved_and_loaded_back_still_never_reads_the_openai_key(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    path = llm_from_spec("ollama:llama3").save(tmp_path / "llm.yaml")
    assert OPENAI_KEY not in path.read_text()
    loaded = OpenAILLM.from_yaml(path)
    assert loaded.api_key_env is None
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post("http://localhost:11434/v1/chat/completions").mock(
            return_value=httpx.Response(
                200, json={"choices": [{"index": 0, "message": {"content": "hi"}}]}
            )
        )
        loaded.http_transport = "httpx"
        loaded.load()
        try:
            loaded.generate([[{"role": "user", "content": "hello"}]])
        finally:
            loaded.unload()
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-no-key-required"


def test_api_key_env_names_the_variable_read_when_the_llm_loads(monkeypatch):
    monkeypatch.setenv("MY_GATEWAY_KEY", "gw-123")
    llm = OpenAILLM(model="m", base_url="http://gateway.test/v1", api_key_env="MY_GATEWAY_KEY")
    llm.load()
    try:
        assert llm._secret is not None and llm._secret.get_secret_value() == "gw-123"
    finally:
        llm.unload()
