"""OpenAILLM: request payloads, `n` and its fallback, usage, completions, keys, tasks."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
import respx
from backend_helpers import API_KEY, FAST, OPENAI_URL, USER, chat_completion

from stillroom.errors import LLMRequestError, StillroomError, UnknownRuntimeParameterError
from stillroom.models import OpenAILLM
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN

pytestmark = pytest.mark.timeout(30)

CHAT = f"{OPENAI_URL}/chat/completions"
USAGE = {"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19}


def make(**kwargs) -> OpenAILLM:
    return OpenAILLM(**{"model": "m", "base_url": OPENAI_URL, "api_key": API_KEY, **FAST, **kwargs})


def sent(route: respx.Route, index: int = -1) -> dict:
    return json.loads(route.calls[index].request.content)


def test_generation_kwargs_map_to_the_api(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=chat_completion("x")))
    llm = loaded(make())
    llm.generate(
        [USER], max_new_tokens=64, temperature=0.3, top_p=0.9, stop=["\n"], seed=7,
        frequency_penalty=0.1, presence_penalty=0.2, extra_body={"top_k": 20},
    )  # fmt: skip
    body = sent(route)
    assert body == {
        "model": "m",
        "messages": USER,
        "max_tokens": 64,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["\n"],
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "top_k": 20,
    }
    assert route.calls[-1].request.headers["authorization"] == f"Bearer {API_KEY}"


def test_unset_settings_are_not_sent(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=chat_completion("x")))
    loaded(make()).generate([USER])
    assert sent(route) == {"model": "m", "messages": USER}


def test_unknown_generation_setting_is_a_clear_error(loaded):
    llm = loaded(make())
    with pytest.raises(UnknownRuntimeParameterError, match="Did you mean 'temperature'"):
        llm.generate([USER], temprature=0.1)
    with pytest.raises(UnknownRuntimeParameterError, match="max_new_tokens"):
        llm.set_runtime_parameters({"generation_kwargs": {"max_length": 5}})


def test_num_generations_sent_as_n_with_usage_split(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(CHAT).mock(
        return_value=httpx.Response(200, json=chat_completion("a", "bb", "cccccc", usage=USAGE))
    )
    (output,) = loaded(make()).generate([USER], num_generations=3)
    assert sent(route)["n"] == 3 and route.call_count == 1
    assert output["generations"] == ["a", "bb", "cccccc"]
    assert output["statistics"]["input_tokens"] == [10, 10, 10]
    outputs = output["statistics"]["output_tokens"]
    assert sum(outputs) == 9 and outputs[2] > outputs[0]  # split by length, total exact


def test_server_rejecting_n_gets_one_request_per_generation_and_is_remembered(
    mock_api: respx.MockRouter, loaded
):
    def reply(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("n", 1) > 1:
            return httpx.Response(400, json={"error": {"message": "n must be 1"}})
        return httpx.Response(200, json=chat_completion(f"seed {body['seed']}"))

    route = mock_api.post(CHAT).mock(side_effect=reply)
    llm = loaded(make())
    (output,) = llm.generate([USER], num_generations=3, seed=40)
    assert output["generations"] == ["seed 40", "seed 41", "seed 42"]  # distinct draws
    assert route.call_count == 4  # the rejected n=3, then one each
    llm.generate([USER], num_generations=2, seed=1)
    assert route.call_count == 6  # n is not tried again
    assert all("n" not in sent(route, i) for i in (4, 5))


def test_requests_in_flight_when_n_is_refused_all_fall_back_and_it_is_said_once(
    mock_api: respx.MockRouter, loaded, caplog
):
    caplog.set_level(logging.INFO, logger="stillroom")
    llm = loaded(make())

    async def reply(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("n", 1) == 1:
            return httpx.Response(200, json=chat_completion("one"))
        if body["messages"][0]["content"] == "late":  # refused after the other row fell back
            for _ in range(500):
                if llm._n_supported is False:
                    break
                await asyncio.sleep(0.005)
        else:
            await asyncio.sleep(0.02)  # so that the other row sends its request meanwhile
        return httpx.Response(400, json={"error": {"message": "n must be 1"}})

    mock_api.post(CHAT).mock(side_effect=reply)
    inputs = [[{"role": "user", "content": text}] for text in ("early", "late")]
    results = llm.generate_results(inputs, num_generations=2)
    assert [r["generations"] for r in results] == [["one", "one"]] * 2, results
    said = [r.getMessage() for r in caplog.records if "n=2" in r.getMessage()]
    assert said == [f"{llm._label()}: the server rejected n=2; asking one generation per "
                    "request from now on"]  # fmt: skip


def test_server_ignoring_n_is_topped_up(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(CHAT).mock(
        side_effect=[httpx.Response(200, json=chat_completion(t)) for t in "abc"]
    )
    llm = loaded(make())
    (output,) = llm.generate([USER], num_generations=3)
    assert output["generations"] == ["a", "b", "c"]
    assert sent(route, 0)["n"] == 3 and "n" not in sent(route, 1)


def test_a_400_unrelated_to_n_still_fails(mock_api: respx.MockRouter, loaded):
    mock_api.post(CHAT).mock(return_value=httpx.Response(400, json={"error": {"message": "bad"}}))
    llm = loaded(make())
    (result,) = llm.generate_results([USER], num_generations=2)
    assert isinstance(result, LLMRequestError) and result.status_code == 400
    assert llm._n_supported is None


def test_missing_usage_gives_empty_statistics(mock_api: respx.MockRouter, loaded):
    mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=chat_completion("x")))
    assert loaded(make()).generate([USER])[0]["statistics"] == {}


def test_logprobs_are_returned_per_generation(mock_api: respx.MockRouter, loaded):
    body = chat_completion("hi")
    body["choices"][0]["logprobs"] = {
        "content": [
            {
                "token": "hi",
                "logprob": -0.1,
                "bytes": None,
                "top_logprobs": [{"token": "hi", "logprob": -0.1, "bytes": None}],
            }
        ]
    }
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=body))
    (output,) = loaded(make()).generate([USER], logprobs=True, top_logprobs=1)
    assert sent(route)["logprobs"] is True and sent(route)["top_logprobs"] == 1
    # distilabel's shape: per generation, per token, the candidates at that position
    assert output["logprobs"] == [[[{"token": "hi", "logprob": -0.1}]]]


def test_raw_prompt_completion(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(f"{OPENAI_URL}/completions").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "text": " a question?", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
            },
        )
    )
    llm = loaded(make(generation_kwargs={"max_new_tokens": 20}))
    (result,) = llm.generate_results_from_prompts(["<|im_start|>user\n"], stop=["<|im_end|>"])
    assert result == {
        "generations": [" a question?"],
        "statistics": {"input_tokens": [4], "output_tokens": [3]},
    }
    assert sent(route) == {
        "model": "m",
        "prompt": "<|im_start|>user\n",
        "max_tokens": 20,
        "stop": ["<|im_end|>"],
    }


def test_key_from_environment(mock_api: respx.MockRouter, loaded, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123")
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=chat_completion("x")))
    loaded(OpenAILLM(model="m", base_url=OPENAI_URL, **FAST)).generate([USER])
    assert route.calls[-1].request.headers["authorization"] == "Bearer sk-from-env-123"


def test_self_hosted_server_needs_no_key(mock_api: respx.MockRouter, loaded, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=chat_completion("x")))
    loaded(OpenAILLM(model="m", base_url=OPENAI_URL)).generate([USER])
    assert route.calls[-1].request.headers["authorization"] == "Bearer sk-no-key-required"


def test_openai_without_a_key_fails_at_load(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(StillroomError, match="OPENAI_API_KEY"):
        OpenAILLM(model="gpt-4o-mini").load()


def test_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:9999/v1")
    assert OpenAILLM(model="m").base_url == "http://localhost:9999/v1"


def test_openai_sdk_does_not_retry_on_its_own(loaded):
    llm = loaded(make())
    assert llm._aclient.max_retries == 0


def test_sdk_client_is_there_for_custom_code(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=chat_completion("sdk")))
    llm = loaded(make())

    async def ask() -> str | None:
        reply = await llm._aclient.chat.completions.create(model="m", messages=USER)
        return reply.choices[0].message.content

    assert asyncio.run(ask()) == "sdk"
    assert route.calls[-1].request.headers["authorization"] == f"Bearer {API_KEY}"


def test_organization_and_project_are_sent(mock_api: respx.MockRouter, loaded, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-42")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-7")
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=chat_completion("x")))
    loaded(make()).generate([USER])
    headers = route.calls[-1].request.headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-42", "proj-7")


def test_a_value_json_cannot_hold_is_a_clear_error(loaded):
    (result,) = loaded(make()).generate_results([USER], extra_body={"tags": {1, 2}})
    assert isinstance(result, StillroomError)
    assert "cannot be sent as JSON" in str(result) and "OpenAILLM('m')" in str(result)


def test_failed_request_keeps_the_row_with_the_error(mock_api: respx.MockRouter):
    mock_api.post(CHAT).mock(
        side_effect=[
            httpx.Response(200, json=chat_completion("fine")),
            httpx.Response(401, json={"error": {"message": "nope"}}),
        ]
    )
    task = TextGeneration(name="gen", llm=make(max_concurrent_requests=1))
    task.load()
    try:
        (rows,) = list(task.process([{"instruction": "a"}, {"instruction": "b"}]))
    finally:
        task.unload()
    assert [r["generation"] for r in rows] == ["fine", None]
    assert "OPENAI_API_KEY" in rows[1][METADATA_COLUMN]["error_gen"]
    assert rows[1]["model_name"] == "m"


def test_rows_through_the_async_path(mock_api: respx.MockRouter):
    mock_api.post(CHAT).mock(
        return_value=httpx.Response(200, json=chat_completion("yo", usage=USAGE))
    )
    task = TextGeneration(name="gen", llm=make())
    task.load()
    try:
        rows = asyncio.run(task.aprocess_row({"instruction": "a"}))
    finally:
        task.unload()
    assert rows[0]["generation"] == "yo"
    assert rows[0][METADATA_COLUMN]["statistics_gen"] == {"input_tokens": 10, "output_tokens": 9}
