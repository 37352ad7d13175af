"""CohereLLM: the v2 chat payload, headers, structured output and usage."""

from __future__ import annotations

import json

import httpx
import pytest
from backend_helpers import API_KEY, COHERE_URL, FAST, cohere_reply
from pydantic import BaseModel

from stillroom.models import CohereLLM

pytestmark = pytest.mark.timeout(30)

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "How are you?"},
]


class Pet(BaseModel):
    name: str
    age: int


def make(**kwargs) -> CohereLLM:
    return CohereLLM(
        **{"model": "command-test", "base_url": COHERE_URL, "api_key": API_KEY, **FAST, **kwargs}
    )


def test_env_vars_as_distilabel(monkeypatch):
    monkeypatch.setenv("COHERE_BASE_URL", "https://example.test")
    llm = CohereLLM(model="command-r")
    assert llm.base_url == "https://example.test" and llm.model_name == "command-r"
    assert llm.api_key_env == "COHERE_API_KEY"


def test_payload_keeps_roles_and_maps_settings(mock_api, loaded):
    route = mock_api.post(f"{COHERE_URL}/v2/chat").mock(
        return_value=httpx.Response(200, json=cohere_reply("fine"))
    )
    (output,) = loaded(make()).generate([CHAT], max_new_tokens=40, k=5, p=0.9, seed=3)
    assert output["generations"] == ["fine"]
    request = route.calls[-1].request
    assert json.loads(request.content) == {
        "model": "command-test",
        "messages": CHAT,
        "max_tokens": 40,
        "k": 5,
        "p": 0.9,
        "seed": 3,
    }
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["x-client-name"] == "stillroom"


def test_a_v1_base_url_is_taken_as_the_api_root(mock_api, loaded):
    route = mock_api.post(f"{COHERE_URL}/v2/chat").mock(
        return_value=httpx.Response(200, json=cohere_reply("ok"))
    )
    loaded(make(base_url=f"{COHERE_URL}/v1")).generate([CHAT[1:2]])
    assert route.call_count == 1


def test_structured_output_as_a_json_object_response_format(mock_api, loaded):
    route = mock_api.post(f"{COHERE_URL}/v2/chat").mock(
        return_value=httpx.Response(200, json=cohere_reply('{"name": "Rex", "age": 3}'))
    )
    (output,) = loaded(make()).generate([(CHAT[1:2], {"format": "json", "schema": Pet})])
    assert output["generations"] == ['{"name": "Rex", "age": 3}']
    assert json.loads(route.calls[-1].request.content)["response_format"] == {
        "type": "json_object",
        "json_schema": Pet.model_json_schema(),
    }


def test_usage_falls_back_to_billed_units(mock_api, loaded):
    reply = cohere_reply("ok")
    del reply["usage"]["tokens"]
    mock_api.post(f"{COHERE_URL}/v2/chat").mock(return_value=httpx.Response(200, json=reply))
    (output,) = loaded(make()).generate([CHAT[1:2]])
    assert output["statistics"] == {"input_tokens": [4], "output_tokens": [2]}


def test_spec_prefix():
    from stillroom.models.llms.spec import llm_from_spec

    llm = llm_from_spec("cohere:command-r-plus")
    assert isinstance(llm, CohereLLM) and llm.model == "command-r-plus"
    with_url = llm_from_spec("cohere:command-r@http://127.0.0.1:9/v2")
    assert isinstance(with_url, CohereLLM) and with_url.base_url == "http://127.0.0.1:9/v2"
