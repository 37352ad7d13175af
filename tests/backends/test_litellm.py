"""LiteLLM: the real litellm package against the mock server's OpenAI dialect (offline)."""

from __future__ import annotations

import sys

import pytest

from stillroom.errors import LLMRequestError, MissingExtraError
from stillroom.models.llms.litellm import LiteLLM
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(60)

KEY = "sk-litellm-Hy6Jk8Lm2Np4"
USER = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(autouse=True)
def _offline_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    # litellm otherwise downloads its model-cost map when it is imported
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def test_without_litellm_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[litellm\]"):
        LiteLLM(model="openai/m").load()


@pytest.mark.litellm
def test_generations_and_usage_through_litellm():
    pytest.importorskip("litellm", reason="the [litellm] extra is not installed")
    with MockLLMServer(api_key=KEY) as server:
        llm = LiteLLM(model="openai/mock-model", api_key=KEY)
        llm.generation_kwargs = {"api_base": server.base_url, "max_new_tokens": 16}
        llm.load()
        try:
            (output,) = llm.generate_results([USER], num_generations=2)
        finally:
            llm.unload()
        assert server.stats().requests_total == 2
    assert not isinstance(output, BaseException), output
    assert len(output["generations"]) == 2 and all(output["generations"])
    stats = output["statistics"]
    assert all(n > 0 for n in stats["input_tokens"] + stats["output_tokens"])
    assert KEY not in str(llm.dump()) and llm.model_name == "openai/mock-model"


@pytest.mark.litellm
def test_a_refused_key_is_an_error_without_the_key():
    pytest.importorskip("litellm", reason="the [litellm] extra is not installed")
    with MockLLMServer(api_key=KEY) as server:
        llm = LiteLLM(
            model="openai/mock-model", api_key="sk-wrong-Aa1Bb2Cc3Dd4", max_concurrent_requests=1
        )
        llm.generation_kwargs = {"api_base": server.base_url}
        llm.load()
        try:
            (result,) = llm.generate_results([USER])
        finally:
            llm.unload()
    assert isinstance(result, LLMRequestError) and result.status_code == 401
    assert "sk-wrong-Aa1Bb2Cc3Dd4" not in str(result) and "api_key" in str(result)


@pytest.mark.litellm
def test_litellm_calls_go_through_the_retry_and_rate_limit_wrappers():
    """A 500 is retried by stillroom's retry loop (litellm's own retries are off), counted,
    and the call still takes a slot of the rate limiter."""
    pytest.importorskip("litellm", reason="the [litellm] extra is not installed")
    with MockLLMServer(api_key=KEY, fail_first=1, fail_with="500") as server:
        llm = LiteLLM(
            model="openai/mock-model",
            api_key=KEY,
            retry_backoff=0.0,
            requests_per_minute=600,
            max_concurrent_requests=1,
        )
        llm.generation_kwargs = {"api_base": server.base_url}
        llm.load()
        try:
            (result,) = llm.generate_results([USER])
            limiter = llm._limiter
        finally:
            llm.unload()
        assert server.stats().requests_total == 2
    assert not isinstance(result, BaseException), result
    assert llm.retries.counts == {"500": 1}
    assert limiter is not None
