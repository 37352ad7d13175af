"""OpenAILLM: every choice of a reply is kept, even beyond the `n` asked for, with the
reply's usage counted once (on the asked generations) and each choice's log-probabilities."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from backend_helpers import API_KEY, FAST, OPENAI_URL, USER, chat_completion

from stillroom.models import OpenAILLM

pytestmark = pytest.mark.timeout(30)

CHAT = f"{OPENAI_URL}/chat/completions"
USAGE = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def make(**kwargs) -> OpenAILLM:
    return OpenAILLM(**{"model": "m", "base_url": OPENAI_URL, "api_key": API_KEY, **FAST, **kwargs})


def with_logprobs(body: dict, *tokens: str) -> dict:
    """`body` with one log-probability entry on each choice, the i-th naming `tokens[i]`."""
    for choice, token in zip(body["choices"], tokens, strict=True):
        entry = {"token": token, "logprob": -0.5, "bytes": None}
        choice["logprobs"] = {"content": [{**entry, "top_logprobs": [entry]}]}
    return body


def test_choices_beyond_the_asked_ones_are_kept_with_usage_counted_once(
    mock_api: respx.MockRouter, loaded
):
    # A user's extra_body asks the server for 3 choices while the LLM asks for one.
    body = with_logprobs(chat_completion("a", "b", "c", usage=USAGE), "a", "b", "c")
    route = mock_api.post(CHAT).mock(return_value=httpx.Response(200, json=body))
    (output,) = loaded(make()).generate([USER], logprobs=True, extra_body={"n": 3})
    assert route.call_count == 1 and json.loads(route.calls[0].request.content)["n"] == 3
    assert output["generations"] == ["a", "b", "c"]
    assert [lp[0][0]["token"] for lp in output["logprobs"]] == ["a", "b", "c"]
    # one entry for the one generation asked, holding the whole reply's tokens
    assert output["statistics"] == {"input_tokens": [12], "output_tokens": [8]}
    assert "errors" not in output


def test_asked_choices_still_share_the_usage(mock_api: respx.MockRouter, loaded):
    route = mock_api.post(CHAT).mock(
        return_value=httpx.Response(200, json=chat_completion("aa", "bb", "cc", usage=USAGE))
    )
    # the server answers n=2 with three choices
    (output,) = loaded(make()).generate([USER], num_generations=2)
    assert route.call_count == 1 and json.loads(route.calls[0].request.content)["n"] == 2
    assert output["generations"] == ["aa", "bb", "cc"]
    assert output["statistics"]["input_tokens"] == [12, 12]
    assert output["statistics"]["output_tokens"] == [4, 4]  # 8 split over the two asked


def test_extra_choices_are_validated_against_the_structured_output(
    mock_api: respx.MockRouter, loaded
):
    texts = ('{"city": "Lyon"}', "not json", '{"city": "Oslo"}')
    mock_api.post(CHAT).mock(
        return_value=httpx.Response(200, json=chat_completion(*texts, usage=USAGE))
    )
    llm = loaded(
        make(structured_output={"format": "json", "schema": CITY}, structured_output_mode="prompt")
    )
    (output,) = llm.generate([USER], extra_body={"n": 3})
    assert output["generations"] == ['{"city": "Lyon"}', None, '{"city": "Oslo"}']
    errors = output["errors"]
    assert errors[0] is None and errors[2] is None
    assert "not valid JSON" in errors[1]


def test_a_valid_extra_choice_is_kept_when_the_asked_one_never_validates(
    mock_api: respx.MockRouter, loaded
):
    mock_api.post(CHAT).mock(
        return_value=httpx.Response(200, json=chat_completion("nope", '{"city": "Oslo"}'))
    )
    llm = loaded(
        make(
            structured_output={"format": "json", "schema": CITY},
            structured_output_mode="prompt",
            structured_output_retries=0,
        )
    )
    (output,) = llm.generate([USER], extra_body={"n": 2})
    assert output["generations"] == [None, '{"city": "Oslo"}']
    assert "not valid JSON" in output["errors"][0] and output["errors"][1] is None
