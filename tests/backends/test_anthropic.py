"""AnthropicLLM: the Messages API payload, headers, generations and keys."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from backend_helpers import ANTHROPIC_URL, API_KEY, FAST, anthropic_message

from stillroom.errors import StillroomError, UnknownRuntimeParameterError
from stillroom.models import AnthropicLLM

pytestmark = pytest.mark.timeout(30)

MESSAGES = f"{ANTHROPIC_URL}/v1/messages"
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "How are you?"},
]


def make(**kwargs) -> AnthropicLLM:
    return AnthropicLLM(
        **{"model": "claude-test", "base_url": ANTHROPIC_URL, "api_key": API_KEY, **FAST, **kwargs}
    )


def test_payload_splits_system_and_maps_settings(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(MESSAGES).mock(
        return_value=httpx.Response(200, json=anthropic_message("ok"))
    )
    loaded(make()).generate([CHAT], max_new_tokens=50, temperature=0.2, top_k=5, stop="END")
    request = route.calls[-1].request
    assert json.loads(request.content) == {
        "model": "claude-test",
        "system": "Be brief.\n\nBe kind.",
        "messages": CHAT[2:],
        "max_tokens": 50,
        "temperature": 0.2,
        "top_k": 5,
        "stop_sequences": ["END"],
    }
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"


def test_max_tokens_is_always_sent(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(MESSAGES).mock(
        return_value=httpx.Response(200, json=anthropic_message("ok"))
    )
    loaded(make()).generate([CHAT[2:3]])
    assert json.loads(route.calls[-1].request.content)["max_tokens"] == 1024


def test_generations_are_separate_requests_with_usage(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(MESSAGES).mock(
        side_effect=[
            httpx.Response(
                200, json=anthropic_message("one", {"input_tokens": 4, "output_tokens": 1})
            ),
            httpx.Response(
                200, json=anthropic_message("two", {"input_tokens": 4, "output_tokens": 2})
            ),
        ]
    )
    (output,) = loaded(make()).generate([CHAT[2:3]], num_generations=2)
    assert route.call_count == 2
    assert output == {
        "generations": ["one", "two"],
        "statistics": {"input_tokens": [4, 4], "output_tokens": [1, 2]},
    }


def test_text_blocks_are_joined(mock_api: respx.MockRouter, loaded):
    body = anthropic_message("a")
    body["content"].append({"type": "text", "text": "b"})
    mock_api.post(MESSAGES).mock(return_value=httpx.Response(200, json=body))
    assert loaded(make()).generate([CHAT[2:3]])[0]["generations"] == ["ab"]


def test_seed_is_not_an_anthropic_setting(loaded):
    with pytest.raises(UnknownRuntimeParameterError, match="seed"):
        loaded(make()).generate([CHAT[2:3]], seed=1)


def test_key_from_environment_and_required(mock_api, loaded, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(StillroomError, match="ANTHROPIC_API_KEY"):
        AnthropicLLM(model="claude-test", base_url=ANTHROPIC_URL).load()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key-456")
    route = mock_api.post(MESSAGES).mock(
        return_value=httpx.Response(200, json=anthropic_message("ok"))
    )
    loaded(AnthropicLLM(model="claude-test", base_url=ANTHROPIC_URL)).generate([CHAT[2:3]])
    assert route.calls[-1].request.headers["x-api-key"] == "env-key-456"
