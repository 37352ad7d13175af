"""The OpenAI-compatible family: Azure, Together, Anyscale, Groq, Mistral, ClientvLLM.

What each adds to `OpenAILLM` (URL shape, auth header, settings, defaults read from the
environment); the shared behaviour (retries, 401, malformed bodies, structured output, keys)
is tested for every backend through `backend_helpers.BACKENDS`.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from backend_helpers import AZURE_API_VERSION, AZURE_URL, BACKENDS, FAST, USER, chat_completion

from stillroom.errors import LLMRequestError, StillroomError, UnknownRuntimeParameterError
from stillroom.models.llms import llm_from_spec
from stillroom.models.llms.anyscale import AnyscaleLLM
from stillroom.models.llms.azure import AzureOpenAILLM
from stillroom.models.llms.groq import GroqLLM
from stillroom.models.llms.mistral import MistralLLM
from stillroom.models.llms.together import TogetherLLM
from stillroom.models.llms.vllm import ClientvLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(30)

TOKEN = "entra-token-Qw3Er5Ty7Ui9"
AZURE_CHAT = f"{AZURE_URL}/openai/deployments/m/chat/completions?api-version={AZURE_API_VERSION}"


def reply(*texts: str) -> httpx.Response:
    return httpx.Response(
        200,
        json=chat_completion(
            *texts, usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        ),
    )


# --- defaults read from the environment --------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "key_var", "url_var", "default_url"),
    [
        (TogetherLLM, "TOGETHER_API_KEY", "TOGETHER_BASE_URL", "https://api.together.xyz/v1"),
        (
            AnyscaleLLM,
            "ANYSCALE_API_KEY",
            "ANYSCALE_BASE_URL",
            "https://api.endpoints.anyscale.com/v1",
        ),
        (GroqLLM, "GROQ_API_KEY", "GROQ_BASE_URL", "https://api.groq.com"),
        (AzureOpenAILLM, "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", ""),
    ],
)
def test_key_and_url_come_from_their_variables(monkeypatch, cls, key_var, url_var, default_url):
    monkeypatch.delenv(url_var, raising=False)
    assert cls(model="m").base_url == default_url and cls(model="m").api_key is None
    monkeypatch.setenv(key_var, "k-from-env")
    monkeypatch.setenv(url_var, "http://elsewhere.test/v1")
    llm = cls(model="m")
    assert llm.api_key.get_secret_value() == "k-from-env"
    assert llm.base_url == "http://elsewhere.test/v1"
    assert "k-from-env" not in str(llm.dump())


@pytest.mark.parametrize("cls", [TogetherLLM, AnyscaleLLM, GroqLLM, MistralLLM])
def test_a_hosted_provider_needs_a_key_and_names_its_variable(cls):
    llm = cls(model="m")
    with pytest.raises(StillroomError, match=llm.api_key_env):
        llm.load()


# --- Azure -----------------------------------------------------------------------------------


def test_azure_sends_to_the_deployment_with_the_api_key_header(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(AZURE_CHAT).mock(return_value=reply("hi"))
    (output,) = loaded(BACKENDS["azure"].make(default_headers={"x-team": "data"})).generate([USER])
    assert output["generations"] == ["hi"]
    request = route.calls[-1].request
    assert request.headers["api-key"] == "sk-test-Zq8Xw3VbN6mP"
    assert "authorization" not in request.headers and request.headers["x-team"] == "data"


def test_azure_entra_token_is_a_bearer_header_and_a_401_names_it(
    mock_api: respx.MockRouter, loaded
):
    route = mock_api.post(AZURE_CHAT).mock(
        side_effect=[reply("ok"), httpx.Response(401, json={"error": {"message": "expired"}})]
    )
    llm = loaded(BACKENDS["azure"].make(api_key=None, azure_ad_token=TOKEN))
    assert llm.generate([USER])[0]["generations"] == ["ok"]
    assert route.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in route.calls[0].request.headers
    (error,) = llm.generate_results([USER])
    assert isinstance(error, LLMRequestError) and "AZURE_OPENAI_AD_TOKEN" in str(error)
    assert TOKEN not in str(error) and TOKEN not in str(llm.dump())


def test_azure_token_is_read_from_its_variable(monkeypatch, mock_api: respx.MockRouter, loaded):
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", TOKEN)
    route = mock_api.post(AZURE_CHAT).mock(return_value=reply("ok"))
    loaded(BACKENDS["azure"].make(api_key=None)).generate([USER])
    assert route.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"


def test_azure_without_endpoint_version_or_credentials_says_what_to_set():
    with pytest.raises(StillroomError, match=r"AZURE_OPENAI_ENDPOINT.*OPENAI_API_VERSION"):
        AzureOpenAILLM(model="m", api_key="k").load()
    llm = AzureOpenAILLM(model="m", base_url=AZURE_URL, api_version=AZURE_API_VERSION)
    with pytest.raises(StillroomError, match=r"AZURE_OPENAI_API_KEY.*AZURE_OPENAI_AD_TOKEN"):
        llm.load()


# --- Groq and Mistral ------------------------------------------------------------------------


def test_groq_asks_one_generation_per_request_and_takes_its_settings_only(
    mock_api: respx.MockRouter, loaded
):
    route = mock_api.post("http://groq.test/openai/v1/chat/completions").mock(
        side_effect=[reply("a"), reply("b")]
    )
    llm = loaded(BACKENDS["groq"].make())
    (output,) = llm.generate([USER], num_generations=2, seed=3, max_new_tokens=9)
    assert output["generations"] == ["a", "b"]
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert all("n" not in body for body in bodies)
    assert [b["seed"] for b in bodies] == [3, 4] and bodies[0]["max_tokens"] == 9
    with pytest.raises(UnknownRuntimeParameterError, match="logprobs"):
        llm.generate([USER], logprobs=True)
    assert GroqLLM(model="m").max_retries == 2  # distilabel's default


def test_mistral_sends_random_seed_to_endpoint_v1(mock_api: respx.MockRouter, loaded):
    route = mock_api.post("https://api.mistral.ai/v1/chat/completions").mock(
        return_value=reply("bonjour")
    )
    llm = loaded(MistralLLM(model="mistral-small", api_key="k", **FAST))
    (output,) = llm.generate([USER], seed=7, max_new_tokens=5)
    assert output == {
        "generations": ["bonjour"],
        "statistics": {"input_tokens": [5], "output_tokens": [2]},
    }
    body = json.loads(route.calls[0].request.content)
    assert body["random_seed"] == 7 and "seed" not in body and body["max_tokens"] == 5
    assert "base_url" not in llm.dump() and llm.dump()["endpoint"] == "https://api.mistral.ai"


# --- ClientvLLM ------------------------------------------------------------------------------

VLLM = "http://vllm.test"


def test_clientvllm_asks_the_server_for_its_model(mock_api: respx.MockRouter, loaded):
    mock_api.get(f"{VLLM}/v1/models").mock(
        return_value=httpx.Response(200, json={"object": "list", "data": [{"id": "qwen-7b"}]})
    )
    route = mock_api.post(f"{VLLM}/v1/chat/completions").mock(return_value=reply("hi"))
    llm = loaded(ClientvLLM(base_url=f"{VLLM}/v1", **FAST))
    assert llm.model_name == "qwen-7b"
    llm.generate([USER])
    assert json.loads(route.calls[0].request.content)["model"] == "qwen-7b"


def test_clientvllm_without_a_server_says_so(mock_api: respx.MockRouter):
    mock_api.get(f"{VLLM}/v1/models").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(StillroomError, match=r"model is empty.*set model="):
        ClientvLLM(base_url=f"{VLLM}/v1", **FAST).load()


def test_clientvllm_magpie_renders_with_the_servers_template(mock_api: respx.MockRouter, loaded):
    tokenize = mock_api.post(f"{VLLM}/tokenize").mock(
        return_value=httpx.Response(
            200, json={"count": 3, "max_model_len": 4096, "tokens": [1, 2, 3]}
        )
    )
    detokenize = mock_api.post(f"{VLLM}/detokenize").mock(
        return_value=httpx.Response(
            200, json={"prompt": "<|im_start|>system\nBe brief.<|im_end|>\n"}
        )
    )
    completions = mock_api.post(f"{VLLM}/v1/completions").mock(
        return_value=httpx.Response(
            200,
            json={
                "choices": [{"index": 0, "text": "What is rain?", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
            },
        )
    )
    llm = loaded(
        ClientvLLM(
            model="qwen",
            base_url=f"{VLLM}/v1",
            use_magpie_template=True,
            magpie_pre_query_template="qwen2",
            **FAST,
        )
    )
    system = [{"role": "system", "content": "Be brief."}]
    (output,) = llm.generate([system])
    assert output["generations"] == ["What is rain?"]
    assert json.loads(tokenize.calls[0].request.content) == {
        "model": "qwen",
        "messages": system,
        "add_generation_prompt": False,
    }
    assert json.loads(detokenize.calls[0].request.content) == {"model": "qwen", "tokens": [1, 2, 3]}
    body = json.loads(completions.calls[0].request.content)
    assert body["prompt"] == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
    assert body["add_special_tokens"] is False
    # a conversation ending with a user message is answered through the chat endpoint
    chat = mock_api.post(f"{VLLM}/v1/chat/completions").mock(return_value=reply("Rain is water."))
    assert llm.generate([USER])[0]["generations"] == ["Rain is water."]
    assert chat.call_count == 1 and completions.call_count == 1


def test_clientvllm_malformed_tokenize_reply_is_clear(mock_api: respx.MockRouter, loaded):
    mock_api.post(f"{VLLM}/tokenize").mock(return_value=httpx.Response(200, json={"count": 1}))
    llm = loaded(ClientvLLM(model="q", base_url=f"{VLLM}/v1", **FAST))
    with pytest.raises(LLMRequestError, match=r"malformed reply.*'tokens'"):
        llm.apply_chat_template(USER)


# --- specs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("together:meta-llama/Llama-3-8b", TogetherLLM),
        ("anyscale:google/gemma-7b-it", AnyscaleLLM),
        ("groq:llama-3.1-8b-instant", GroqLLM),
        ("mistral:mistral-small-latest", MistralLLM),
        ("azure:my-gpt-4o@https://res.openai.azure.com", AzureOpenAILLM),
        ("vllm-client:Qwen/Qwen2.5-7B@http://gpu:8000/v1", ClientvLLM),
    ],
)
def test_spec_prefixes(spec, cls):
    llm = llm_from_spec(spec)
    assert type(llm) is cls and llm.model == spec.split(":", 1)[1].split("@")[0]
    if "@" in spec:
        assert llm.base_url == spec.rsplit("@", 1)[1]


def test_the_vllm_prefix_still_builds_an_openai_llm():
    llm = llm_from_spec("vllm:Qwen/Qwen2.5-7B")
    assert type(llm).__name__ == "OpenAILLM" and llm.base_url == "http://localhost:8000/v1"


# --- a pipeline against the mock server ------------------------------------------------------


@pytest.mark.parametrize("cls", [TogetherLLM, AnyscaleLLM, ClientvLLM])
def test_pipeline_against_the_mock_server(cls, tmp_path: Path):
    with MockLLMServer(api_key="k-mock") as server:
        with Pipeline(name="compat", cache_dir=tmp_path / "cache") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(4)])
            llm = cls(model="mock-model", base_url=server.base_url, api_key="k-mock", **FAST)
            load >> TextGeneration(name="gen", llm=llm)
        distiset = pipeline.run(progress=False)
        assert server.stats().requests_total == 4
    rows = distiset["default"]["train"].to_list()
    assert len(rows) == 4 and all(row["generation"] for row in rows)
    assert {row["model_name"] for row in rows} == {"mock-model"}
