"""OllamaLLM: /api/chat, raw prompts on /api/generate, options, format and usage."""

from __future__ import annotations

import json

import httpx
import pytest
from backend_helpers import FAST, OLLAMA_URL, ollama_reply
from chat_tokenizer import chatml_tokenizer  # noqa: F401 (a fixture)
from pydantic import BaseModel

from stillroom.models import OllamaLLM

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "say hello"}]
CHAT = f"{OLLAMA_URL}/api/chat"
GENERATE = f"{OLLAMA_URL}/api/generate"


class Pet(BaseModel):
    name: str
    age: int


def make(**kwargs) -> OllamaLLM:
    return OllamaLLM(**{"model": "llama-test", "host": OLLAMA_URL, **FAST, **kwargs})


def test_distilabel_fields_and_path():
    from stillroom.models.llms.ollama import OllamaLLM as same

    llm = same(model="notus")
    assert same is OllamaLLM and llm.model_name == "notus"
    dumped = llm.dump()
    assert dumped["host"] is None and dumped["follow_redirects"] is True
    assert dumped["tokenizer_id"] is None and dumped["use_magpie_template"] is False
    assert isinstance(OllamaLLM.from_dict(dumped), OllamaLLM)


def test_chat_payload_merges_named_settings_into_options(mock_api, loaded):
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=ollama_reply("hi")))
    (output,) = loaded(make()).generate(
        [USER],
        options={"num_ctx": 4096, "temperature": 1.0},
        temperature=0.2,
        max_new_tokens=30,
        keep_alive="5m",
    )
    assert output == {
        "generations": ["hi"],
        "statistics": {"input_tokens": [5], "output_tokens": [2]},
    }
    body = json.loads(route.calls[-1].request.content)
    assert body == {
        "model": "llama-test",
        "messages": USER,
        "options": {"num_ctx": 4096, "temperature": 0.2, "num_predict": 30},
        "keep_alive": "5m",
        "stream": False,
    }
    assert "authorization" not in route.calls[-1].request.headers  # no key, none sent


def test_generations_are_separate_requests_with_their_own_seeds(mock_api, loaded):
    route = mock_api.post(CHAT).mock(
        side_effect=[
            httpx.Response(200, json=ollama_reply("a", (3, 1))),
            httpx.Response(200, json=ollama_reply("b", (3, 2))),
        ]
    )
    (output,) = loaded(make()).generate([USER], num_generations=2, seed=5)
    assert output["generations"] == ["a", "b"]
    assert output["statistics"] == {"input_tokens": [3, 3], "output_tokens": [1, 2]}
    seeds = [json.loads(c.request.content)["options"]["seed"] for c in route.calls]
    assert seeds == [5, 6]


def test_structured_output_is_sent_as_format(mock_api, loaded):
    route = mock_api.post(CHAT).mock(
        side_effect=[
            httpx.Response(200, json=ollama_reply("not json")),
            httpx.Response(200, json=ollama_reply('{"name": "Rex", "age": 3}')),
        ]
    )
    (output,) = loaded(make(structured_output={"schema": Pet})).generate([USER])
    assert output["generations"] == ['{"name": "Rex", "age": 3}']
    assert route.call_count == 2  # the invalid reply was asked again
    assert json.loads(route.calls[-1].request.content)["format"] == Pet.model_json_schema()


def test_host_from_ollama_host_without_scheme(mock_api, loaded, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "gpu.test:11500")
    route = mock_api.post("http://gpu.test:11500/api/chat").mock(
        return_value=httpx.Response(200, json=ollama_reply("hi"))
    )
    loaded(OllamaLLM(model="m", **FAST)).generate([USER])
    assert route.call_count == 1


@pytest.mark.hf_transformers
def test_tokenizer_id_sends_a_raw_prompt_to_generate(mock_api, loaded, chatml_tokenizer):  # noqa: F811
    route = mock_api.post(GENERATE).mock(
        return_value=httpx.Response(
            200, json={"response": "hello", "done": True, "prompt_eval_count": 7, "eval_count": 1}
        )
    )
    (output,) = loaded(make(tokenizer_id=chatml_tokenizer)).generate([USER])
    assert output["generations"] == ["hello"]
    assert output["statistics"] == {"input_tokens": [7], "output_tokens": [1]}
    body = json.loads(route.calls[-1].request.content)
    assert body["raw"] is True and body["stream"] is False
    assert body["prompt"] == "<|im_start|>user\nsay hello<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.hf_transformers
def test_magpie_prompt_opens_a_user_turn(mock_api, loaded, chatml_tokenizer):  # noqa: F811
    route = mock_api.post(GENERATE).mock(
        return_value=httpx.Response(200, json={"response": "What is 2+2?", "done": True})
    )
    llm = loaded(
        make(
            tokenizer_id=chatml_tokenizer,
            use_magpie_template=True,
            magpie_pre_query_template="chatml",
        )
    )
    (output,) = llm.generate([[{"role": "system", "content": "be kind"}]])
    assert output["generations"] == ["What is 2+2?"]
    assert output["statistics"] == {}  # this reply reported no counts
    body = json.loads(route.calls[-1].request.content)
    assert body["prompt"] == "<|im_start|>system\nbe kind<|im_end|>\n<|im_start|>user\n"


def test_magpie_needs_a_tokenizer():
    with pytest.raises(ValueError, match="tokenizer_id"):
        OllamaLLM(model="m", use_magpie_template=True, magpie_pre_query_template="llama3")


def test_spec_prefixes_keep_ollama_on_the_openai_api():
    from stillroom.models import OpenAILLM
    from stillroom.models.llms.spec import llm_from_spec

    assert isinstance(llm_from_spec("ollama:llama3.1"), OpenAILLM)
    native = llm_from_spec("ollama-native:llama3.1@http://gpu:11434")
    assert isinstance(native, OllamaLLM) and native.host == "http://gpu:11434"


def test_magpie_switched_on_later_without_a_tokenizer_is_refused():
    llm = OllamaLLM(model="m", magpie_pre_query_template="llama3")
    with pytest.raises(ValueError, match="needs tokenizer_id"):
        llm.use_magpie_template = True  # as the Magpie tasks do
