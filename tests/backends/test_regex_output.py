"""A regex structured output (`{"format": "regex", "schema": pattern}`, as StructuredGeneration
rows carry it): checked against the whole reply, sent as TGI's grammar or in an OpenAI-compatible
server's own field (vLLM, TGI), and refused before any request by a backend (or an OpenAILLM
mode) that cannot hold its decoding to a pattern."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import respx
from backend_helpers import API_KEY, FAST, ROUTER_URL, TGI_URL, USER, chat_completion
from chat_tokenizer import chatml_tokenizer  # noqa: F401 (a fixture)

from stillroom.errors import StillroomError
from stillroom.models import InferenceEndpointsLLM, OpenAILLM
from stillroom.models.llms import structured
from stillroom.models.llms.structured import resolve_structured
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import StructuredGeneration

pytestmark = pytest.mark.timeout(60)

TEMPERATURE = r"-?\d+°C"
REGEX = {"format": "regex", "schema": TEMPERATURE}


def test_the_pattern_must_match_the_whole_reply() -> None:
    spec = resolve_structured(REGEX, "llm")
    assert spec is not None and spec.regex == TEMPERATURE and spec.schema == {}
    assert spec.check("-4°C") == ("-4°C", None)
    text, why = spec.check("It is 21°C today")
    assert text is None and why is not None
    assert "does not match the pattern" in why and "It is 21°C today" in why
    assert spec.check(None) == (None, "the LLM returned no text")


def test_patterns_are_read_in_the_dialect_of_constrained_decoders() -> None:
    spec = resolve_structured({"format": "regex", "schema": r"\p{Lu}\p{Ll}+"}, "llm")
    assert spec is not None and spec.check("Ödön") == ("Ödön", None)
    assert spec.check("ödön")[0] is None


def test_a_check_that_would_backtrack_for_ages_is_cut_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(structured, "PATTERN_CHECK_SECONDS", 0.2)
    spec = resolve_structured({"format": "regex", "schema": r"(.*?,){11}P"}, "llm")
    assert spec is not None
    started = time.monotonic()
    text, why = spec.check("1,2,3,4,5,6,7,8,9,10,11,12," * 3)  # a reply cut short
    assert time.monotonic() - started < 5
    assert text is None and why is not None and "took over 0.2 s" in why


@pytest.mark.parametrize(
    ("schema", "problem"),
    [("(unclosed", "not a valid regular expression"), (42, "needs a pattern string")],
)
def test_a_bad_pattern_is_named(schema: object, problem: str) -> None:
    with pytest.raises(StillroomError, match=problem):
        resolve_structured({"format": "regex", "schema": schema}, "llm")


def test_a_backend_without_patterns_refuses_before_any_request(
    mock_api: respx.MockRouter, loaded
) -> None:
    route = mock_api.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion("21°C"))
    )
    llm = loaded(OpenAILLM(model="gpt-4o-mini", api_key=API_KEY, **FAST))
    (result,) = llm.generate_results([(USER, REGEX)])
    assert isinstance(result, StillroomError)
    assert "needs a backend that constrains decoding to a pattern" in str(result)
    assert "structured_output_mode 'structured_outputs'" in str(result)
    assert route.call_count == 0


def test_tgi_chat_sends_the_pattern_and_reasks_a_reply_that_misses_it(
    mock_api: respx.MockRouter, loaded
) -> None:
    replies = iter(["about twenty degrees", "21°C"])
    route = mock_api.post(f"{TGI_URL}/v1/chat/completions").mock(
        side_effect=lambda request: httpx.Response(200, json=chat_completion(next(replies)))
    )
    llm = loaded(
        InferenceEndpointsLLM(base_url=TGI_URL, api_key=API_KEY, structured_output=REGEX, **FAST)
    )
    (output,) = llm.generate([USER])
    assert output["generations"] == ["21°C"]
    assert route.call_count == 2
    body = json.loads(route.calls[-1].request.content)
    assert body["response_format"] == {"type": "regex", "value": TEMPERATURE}


@pytest.mark.hf_transformers
def test_tgi_text_generation_sends_the_pattern_as_its_grammar(
    mock_api: respx.MockRouter,
    loaded,
    chatml_tokenizer,  # noqa: F811
) -> None:
    route = mock_api.post(TGI_URL).mock(
        return_value=httpx.Response(
            200,
            json={"generated_text": "-3°C", "details": {"generated_tokens": 2, "prefill": []}},
        )
    )
    llm = loaded(
        InferenceEndpointsLLM(
            base_url=TGI_URL, api_key=API_KEY, tokenizer_id=chatml_tokenizer, **FAST
        )
    )
    (output,) = llm.generate([(USER, REGEX)])
    assert output["generations"] == ["-3°C"]
    body = json.loads(route.calls[-1].request.content)
    assert body["parameters"]["grammar"] == {"type": "regex", "value": TEMPERATURE}


def test_the_serverless_router_cannot_take_a_pattern(mock_api: respx.MockRouter, loaded) -> None:
    route = mock_api.post(f"{ROUTER_URL}/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion("21°C"))
    )
    llm = loaded(InferenceEndpointsLLM(model_id="org/chat-model", api_key=API_KEY, **FAST))
    (result,) = llm.generate_results([(USER, REGEX)])
    assert isinstance(result, StillroomError) and "TGI server" in str(result)
    assert route.call_count == 0


def test_structured_generation_rows_with_a_pattern_keep_the_row_with_the_error(
    mock_api: respx.MockRouter, tmp_path
) -> None:
    mock_api.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion('{"t": 21}'))
    )
    with Pipeline(name="regex-rows", cache_dir=tmp_path) as pipeline:
        rows = [
            {"instruction": "Temperature in Lyon?", "structured_output": REGEX},
            {
                "instruction": "Temperature as JSON?",
                "structured_output": {"format": "json", "schema": {"type": "object"}},
            },
        ]
        LoadDataFromDicts(data=rows) >> StructuredGeneration(
            llm=OpenAILLM(model="gpt-4o-mini", api_key=API_KEY, **FAST)
        )
    got = pipeline.run(use_cache=False, progress=False)["default"]["train"].to_list()
    assert [row["generation"] for row in got] == [None, '{"t": 21}']
    error = got[0]["stillroom_metadata"]["error_structured_generation_0"]
    assert "needs a backend that constrains decoding to a pattern" in error


@pytest.mark.parametrize(
    ("mode", "field", "value"),
    [
        ("structured_outputs", "structured_outputs", {"regex": TEMPERATURE}),
        ("guided_json", "guided_regex", TEMPERATURE),
        ("tgi_grammar", "response_format", {"type": "regex", "value": TEMPERATURE}),
    ],
)
def test_openai_compatible_servers_take_the_pattern_in_their_own_field(
    mock_api: respx.MockRouter, loaded, mode: str, field: str, value: object
) -> None:
    route = mock_api.post("http://vllm.test/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=chat_completion("12°C"))
    )
    llm = loaded(
        OpenAILLM(
            model="served",
            base_url="http://vllm.test/v1",
            api_key=API_KEY,
            structured_output_mode=mode,
            **FAST,
        )
    )
    (output,) = llm.generate([(USER, REGEX)])
    assert output["generations"] == ["12°C"]
    body = json.loads(route.calls[-1].request.content)
    assert body[field] == value
    assert "response_format" not in body or field == "response_format"
