"""OpenAILLM with an openai SDK client set by the user as `_aclient` (distilabel's pattern):
requests go through that client, with the LLM's own retries; the reply is read as usual."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from backend_helpers import API_KEY, FAST, OPENAI_URL, USER, chat_completion

from stillroom.errors import LLMRequestError
from stillroom.models import OpenAILLM


class FakeEndpoint:
    """`create(**payload)` returning queued replies (an exception is raised) and recording
    what it was sent."""

    def __init__(self, replies: list[object]) -> None:
        self.replies = list(replies)
        self.sent: list[dict] = []

    async def create(self, **payload: object) -> object:
        self.sent.append(payload)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class FakeClient:
    def __init__(self, chat: list[object] = (), completions: list[object] = ()) -> None:
        self.chat = type("Chat", (), {"completions": FakeEndpoint(list(chat))})()
        self.completions = FakeEndpoint(list(completions))


def status_error(code: int) -> openai.APIStatusError:
    request = httpx.Request("POST", f"{OPENAI_URL}/chat/completions")
    response = httpx.Response(code, request=request, json={"error": {"message": "busy"}})
    return openai.APIStatusError("busy", response=response, body=None)


def make() -> OpenAILLM:
    return OpenAILLM(model="m", base_url=OPENAI_URL, api_key=API_KEY, **FAST)


def test_requests_go_through_the_client_set_without_load() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    reply = openai.types.chat.ChatCompletion.model_validate(chat_completion("hello", usage=usage))
    client = FakeClient(chat=[reply])
    llm = make()
    llm._aclient = client
    output = asyncio.run(llm.agenerate(USER, temperature=0.5))
    assert output["generations"] == ["hello"]
    assert output["statistics"] == {"input_tokens": [5], "output_tokens": [1]}
    (payload,) = client.chat.completions.sent
    assert payload["model"] == "m" and payload["messages"] == USER
    assert payload["temperature"] == 0.5


def test_a_string_input_goes_to_completions_through_the_client() -> None:
    reply = openai.types.Completion.model_validate(
        {
            "id": "c",
            "object": "text_completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "text": " there", "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
        }
    )
    client = FakeClient(completions=[reply])
    llm = make()
    llm._aclient = client
    output = asyncio.run(llm.agenerate("hi"))
    assert output["generations"] == [" there"]
    assert output["statistics"] == {"input_tokens": [2], "output_tokens": [1]}
    assert client.completions.sent[0]["prompt"] == "hi"


def test_the_llm_retries_the_clients_5xx_and_reports_its_4xx() -> None:
    reply = openai.types.chat.ChatCompletion.model_validate(chat_completion("ok"))
    client = FakeClient(chat=[status_error(503), reply])
    llm = make()
    llm._aclient = client
    assert asyncio.run(llm.agenerate(USER))["generations"] == ["ok"]
    assert len(client.chat.completions.sent) == 2

    llm._aclient = FakeClient(chat=[status_error(401)])
    with pytest.raises(LLMRequestError, match="OPENAI_API_KEY") as caught:
        asyncio.run(llm.agenerate(USER))
    assert caught.value.status_code == 401 and API_KEY not in str(caught.value)


def test_api_key_is_read_from_the_environment_when_built(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    llm = OpenAILLM(model="m")
    assert llm.api_key is not None and llm.api_key.get_secret_value() == "sk-from-env"
    assert "sk-from-env" not in str(llm.dump())
