"""InferenceEndpointsLLM: TGI's chat and text-generation APIs, the router, dedicated
endpoints, grammars, raw prompts rendered with a tokenizer, and Magpie."""

from __future__ import annotations

import json
import sys

import httpx
import pytest
import respx
from backend_helpers import API_KEY, FAST, ROUTER_URL, TGI_URL, chat_completion
from chat_tokenizer import chatml_tokenizer  # noqa: F401 (a fixture)
from pydantic import BaseModel

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.models import InferenceEndpointsLLM
from stillroom.models.llms.huggingface import hub

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "say hello"}]


class Pet(BaseModel):
    name: str
    age: int


def make(**kwargs) -> InferenceEndpointsLLM:
    return InferenceEndpointsLLM(**{"base_url": TGI_URL, "api_key": API_KEY, **FAST, **kwargs})


def generated(text: str, tokens: int = 3, top_tokens=None, prefill: int = 0) -> dict:
    details = {
        "finish_reason": "eos_token",
        "generated_tokens": tokens,
        "prefill": [{"id": i, "text": "t", "logprob": None} for i in range(prefill)],
    }
    if top_tokens is not None:
        details["top_tokens"] = top_tokens
    return {"generated_text": text, "details": details}


def test_the_module_path_is_distilabels():
    from stillroom.llms import InferenceEndpointsLLM as b
    from stillroom.models.llms.huggingface.inference_endpoints import InferenceEndpointsLLM as a

    assert a is b is InferenceEndpointsLLM


def test_one_place_to_run_is_required():
    with pytest.raises(ValueError, match="say where the model runs"):
        InferenceEndpointsLLM()
    with pytest.raises(ValueError, match="not both"):
        InferenceEndpointsLLM(model_id="a/b", endpoint_name="e")


def test_model_name_follows_distilabel():
    assert InferenceEndpointsLLM(model_id="org/m").model_name == "org/m"
    assert InferenceEndpointsLLM(endpoint_name="ep").model_name == "ep"
    assert make().model_name == TGI_URL
    assert make(model_display_name="mine").model_name == "mine"


def test_tgi_chat_maps_settings_and_drops_text_generation_ones(mock_api, loaded):
    route = mock_api.post(f"{TGI_URL}/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion("hi"))
    )
    llm = loaded(make())
    llm.generate([USER], max_new_tokens=20, temperature=0.5, stop_sequences="END", seed=7, top_k=3)
    body = json.loads(route.calls[-1].request.content)
    assert body == {
        "model": "tgi",
        "messages": USER,
        "max_tokens": 20,
        "temperature": 0.5,
        "stop": ["END"],
        "seed": 7,
    }
    assert route.calls[-1].request.headers["authorization"] == f"Bearer {API_KEY}"


def test_generations_are_separate_requests_with_their_own_seeds(mock_api, loaded):
    route = mock_api.post(f"{TGI_URL}/v1/chat/completions").mock(
        side_effect=[
            httpx.Response(
                200, json=chat_completion("a", usage={"prompt_tokens": 4, "completion_tokens": 1})
            ),
            httpx.Response(
                200, json=chat_completion("b", usage={"prompt_tokens": 4, "completion_tokens": 2})
            ),
        ]
    )
    (output,) = loaded(make()).generate([USER], num_generations=2, seed=10)
    assert output["generations"] == ["a", "b"]
    assert output["statistics"] == {"input_tokens": [4, 4], "output_tokens": [1, 2]}
    assert [json.loads(c.request.content)["seed"] for c in route.calls] == [10, 11]


def test_tgi_chat_structured_output_uses_tgis_response_format(mock_api, loaded):
    route = mock_api.post(f"{TGI_URL}/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion('{"name": "Rex", "age": 3}'))
    )
    llm = loaded(make(structured_output={"schema": Pet}))
    (output,) = llm.generate([USER])
    assert json.loads(output["generations"][0]) == {"name": "Rex", "age": 3}
    body = json.loads(route.calls[-1].request.content)
    assert body["response_format"] == {"type": "json_object", "value": Pet.model_json_schema()}


def test_router_chat_uses_the_model_id_and_openais_json_schema(mock_api, loaded):
    route = mock_api.post(f"{ROUTER_URL}/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion('{"name": "Rex", "age": 3}'))
    )
    llm = loaded(InferenceEndpointsLLM(model_id="org/chat-model", api_key=API_KEY, **FAST))
    (output,) = llm.generate([(USER, {"format": "json", "schema": Pet})])
    assert output["generations"] == ['{"name": "Rex", "age": 3}']
    body = json.loads(route.calls[-1].request.content)
    assert body["model"] == "org/chat-model"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Pet", "schema": Pet.model_json_schema()},
    }


def test_router_needs_a_token(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "none"))
    with pytest.raises(StillroomError, match="HF_TOKEN"):
        InferenceEndpointsLLM(model_id="org/m").load()


def test_token_saved_by_the_hub_login_is_used(monkeypatch, tmp_path, mock_api, loaded):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    (tmp_path / "token").write_text("hf_saved_token\n")
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "token"))
    route = mock_api.post(f"{ROUTER_URL}/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion("hi"))
    )
    loaded(InferenceEndpointsLLM(model_id="org/m", **FAST)).generate([USER])
    assert route.calls[-1].request.headers["authorization"] == "Bearer hf_saved_token"


def test_a_plain_string_goes_to_text_generation_with_details(mock_api, loaded):
    route = mock_api.post(TGI_URL).mock(
        return_value=httpx.Response(
            200,
            json=[
                generated("world", 1, [[{"id": 1, "text": "world", "logprob": -0.1}]], prefill=2)
            ],
        )
    )
    (output,) = loaded(make()).generate(["hello"], top_n_tokens=1, do_sample=True, logprobs=True)
    assert output["generations"] == ["world"]
    assert output["statistics"] == {"input_tokens": [2], "output_tokens": [1]}
    assert output["logprobs"] == [[[{"token": "world", "logprob": -0.1}]]]
    body = json.loads(route.calls[-1].request.content)
    assert body["inputs"] == "hello"
    params = body["parameters"]
    assert params["top_n_tokens"] == 1 and params["do_sample"] is True and params["details"] is True
    assert params["decoder_input_details"] is True  # the server counts the prompt
    assert "logprobs" not in params  # a chat-only setting


@pytest.mark.hf_transformers
def test_tokenizer_id_renders_the_prompt_and_sends_a_grammar(mock_api, loaded, chatml_tokenizer):  # noqa: F811
    route = mock_api.post(TGI_URL).mock(
        return_value=httpx.Response(200, json=generated('{"name": "Rex", "age": 3}', 9))
    )
    llm = loaded(make(tokenizer_id=chatml_tokenizer, structured_output={"schema": Pet}))
    (output,) = llm.generate([[{"role": "system", "content": "be brief"}, *USER]])
    body = json.loads(route.calls[-1].request.content)
    prompt = "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nsay hello<|im_end|>\n<|im_start|>assistant\n"
    assert body["inputs"] == prompt
    assert body["parameters"]["grammar"] == {"type": "json", "value": Pet.model_json_schema()}
    assert output["generations"] == ['{"name": "Rex", "age": 3}']
    # prompt tokens counted with the tokenizer: 2 special + words per message, plus the header
    expected = len(llm._tokenizer.encode(prompt, add_special_tokens=False))
    assert output["statistics"] == {"input_tokens": [expected], "output_tokens": [9]}


@pytest.mark.hf_transformers
def test_magpie_stops_the_prompt_where_a_user_turn_opens(mock_api, loaded, chatml_tokenizer):  # noqa: F811
    route = mock_api.post(TGI_URL).mock(return_value=httpx.Response(200, json=generated("hi?")))
    llm = loaded(
        make(
            tokenizer_id=chatml_tokenizer,
            use_magpie_template=True,
            magpie_pre_query_template="chatml",
        )
    )
    (output,) = llm.generate([[{"role": "system", "content": "be kind"}]])
    assert output["generations"] == ["hi?"]
    body = json.loads(route.calls[-1].request.content)
    assert body["inputs"] == "<|im_start|>system\nbe kind<|im_end|>\n<|im_start|>user\n"


def test_magpie_needs_a_tokenizer():
    with pytest.raises(ValueError, match="tokenizer_id"):
        make(use_magpie_template=True, magpie_pre_query_template="llama3")


def test_structured_output_with_model_id_renders_with_its_tokenizer():
    llm = InferenceEndpointsLLM(model_id="org/m", structured_output={"schema": Pet})
    assert llm.tokenizer_id == "org/m"


def test_tokenizer_without_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError, match=r"hf-transformers"):
        make(tokenizer_id="org/tok").load()


def test_dedicated_endpoint_is_looked_up_resumed_and_used(mock_api, loaded, monkeypatch):
    monkeypatch.setattr(hub, "ENDPOINT_POLL_SECONDS", 0.0)
    api = f"{hub.ENDPOINTS_API_URL}/endpoint/me/my-ep"
    url = "https://my-ep.endpoints.huggingface.cloud"
    whoami = mock_api.get(f"{hub.HUB_URL}/api/whoami-v2").mock(
        return_value=httpx.Response(200, json={"name": "me"})
    )
    states = [
        {"status": {"state": "paused", "url": None}, "model": {"repository": "org/model"}},
        {"status": {"state": "initializing", "url": None}, "model": {"repository": "org/model"}},
        {"status": {"state": "running", "url": url}, "model": {"repository": "org/model"}},
    ]
    lookups = mock_api.get(api).mock(
        side_effect=[httpx.Response(200, json=states[0]), httpx.Response(200, json=states[2])]
    )
    resume = mock_api.post(f"{api}/resume").mock(return_value=httpx.Response(200, json=states[1]))
    chat = mock_api.post(f"{url}/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion("hi"))
    )
    llm = loaded(InferenceEndpointsLLM(endpoint_name="my-ep", api_key=API_KEY, **FAST))
    assert llm.generate([USER])[0]["generations"] == ["hi"]
    assert whoami.call_count == 1 and resume.call_count == 1 and lookups.call_count == 2
    assert json.loads(chat.calls[-1].request.content)["model"] == "org/model"
    assert llm.model_name == "org/model"


def test_a_failed_endpoint_is_a_clear_error(mock_api, monkeypatch):
    api = f"{hub.ENDPOINTS_API_URL}/endpoint/team/ep"
    mock_api.get(api).mock(
        return_value=httpx.Response(200, json={"status": {"state": "failed", "message": "OOM"}})
    )
    llm = InferenceEndpointsLLM(endpoint_name="ep", endpoint_namespace="team", api_key=API_KEY)
    with pytest.raises(StillroomError, match="'failed': OOM"):
        llm.load()


def test_a_refused_token_names_the_variable_when_looking_up_the_endpoint(mock_api):
    mock_api.get(f"{hub.ENDPOINTS_API_URL}/endpoint/team/ep").mock(return_value=httpx.Response(401))
    llm = InferenceEndpointsLLM(endpoint_name="ep", endpoint_namespace="team", api_key=API_KEY)
    with pytest.raises(StillroomError, match="HF_TOKEN") as caught:
        llm.load()
    assert API_KEY not in str(caught.value)


def test_a_text_generation_reply_without_text_is_malformed(mock_api, loaded):
    mock_api.post(TGI_URL).mock(return_value=httpx.Response(200, json={"details": {}}))
    (result,) = loaded(make()).generate_results(["hello"])
    assert "malformed reply" in str(result) and "generated_text" in str(result)


@respx.mock(assert_all_mocked=True)
def test_spec_prefixes(monkeypatch):
    from stillroom.models.llms.spec import llm_from_spec

    llm = llm_from_spec("hf:org/model")
    assert isinstance(llm, InferenceEndpointsLLM) and llm.model_id == "org/model"
    endpoint = llm_from_spec("hf-endpoint:team/my-ep")
    assert (endpoint.endpoint_namespace, endpoint.endpoint_name) == ("team", "my-ep")
    tgi = llm_from_spec("hf:@http://gpu:8080")
    assert tgi.base_url == "http://gpu:8080" and tgi.model_id is None
