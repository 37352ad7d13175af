"""What a cached reply is keyed on: everything that shapes the reply, nothing that only says
how requests are sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from stillroom.models import AsyncMockLLM
from stillroom.models.llms.base import LLM
from stillroom.models.llms.openai import OpenAILLM
from stillroom.models.llms.remote import HTTP_TRANSPORT_ENV
from stillroom.pipeline import Pipeline
from stillroom.pipeline.signature import canonical_json
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(60)

ROWS = [{"instruction": f"q{i}"} for i in range(3)]


def run(llm: LLM) -> Any:
    with Pipeline(name="keys") as pipeline:
        LoadDataFromDicts(data=ROWS) >> TextGeneration(name="gen", llm=llm)
    distiset = pipeline.run(progress=False)
    assert distiset.summary is not None
    return distiset


def reply(text: str) -> httpx.Response:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    return httpx.Response(200, json=body)


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two OpenAI-compatible servers serving a model of the same name, answering differently."""
    monkeypatch.setenv(HTTP_TRANSPORT_ENV, "httpx")
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        first = router.post("http://one.test/v1/chat/completions").mock(
            side_effect=lambda _: reply("from one")
        )
        second = router.post("http://two.test/v1/chat/completions").mock(
            side_effect=lambda _: reply("from two")
        )
        yield first, second


def openai(base_url: str, **fields: Any) -> OpenAILLM:
    return OpenAILLM(model="same-model", base_url=base_url, api_key="k", **fields)


def test_another_base_url_sends_the_requests_again(servers: Any) -> None:
    first, second = servers
    run(openai("http://one.test/v1"))
    distiset = run(openai("http://two.test/v1"))
    assert (first.call_count, second.call_count) == (3, 3)
    assert distiset.summary.requests_sent == 3 and distiset.summary.cache_hits == 0
    assert {r["generation"] for r in distiset["default"]["train"]} == {"from two"}


def test_transport_settings_keep_the_cached_replies(servers: Any) -> None:
    first, _ = servers
    run(openai("http://one.test/v1"))
    changed = openai(
        "http://one.test/v1",
        max_concurrent_requests=2,
        timeout=7.0,
        max_retries=1,
        retry_backoff=0.5,
        requests_per_minute=600,
    )
    distiset = run(changed)
    assert first.call_count == 3
    assert distiset.summary.requests_sent == 0 and distiset.summary.cache_hits == 3


def test_other_scripted_replies_are_asked_again() -> None:
    run(AsyncMockLLM(responses="old"))
    llm = AsyncMockLLM(responses="new")
    distiset = run(llm)
    assert len(llm.calls) == 3
    assert {r["generation"] for r in distiset["default"]["train"]} == {"new"}


def test_a_mock_slower_or_less_concurrent_keeps_the_cached_replies() -> None:
    run(AsyncMockLLM(responses="same"))
    llm = AsyncMockLLM(responses="same", latency=0.001, max_concurrent_requests=1)
    distiset = run(llm)
    assert llm.calls == [] and distiset.summary.cache_hits == 3


def test_reply_settings_leave_out_secrets_and_transport_fields() -> None:
    settings = openai("http://one.test/v1", timeout=3.0).reply_settings()
    assert settings["base_url"] == "http://one.test/v1" and settings["model"] == "same-model"
    assert not {"api_key", "timeout", "max_retries", "max_concurrent_requests"} & set(settings)


def test_a_step_signature_is_the_same_with_or_without_a_key() -> None:
    keyed = OpenAILLM(model="m", base_url="http://one.test/v1", api_key="sk-1")
    unkeyed = OpenAILLM(model="m", base_url="http://one.test/v1", api_key=None)
    assert canonical_json(keyed) == canonical_json(unkeyed)


def test_how_requests_are_sent_does_not_change_a_signature_what_is_asked_does() -> None:
    """A run resumes after the user raises concurrency, timeouts or retries, or sets prices;
    a different model or generation setting is a different run."""
    base = OpenAILLM(model="m", base_url="http://one.test/v1")
    sent_otherwise = OpenAILLM(
        model="m",
        base_url="http://one.test/v1",
        max_concurrent_requests=256,
        timeout=5.0,
        max_retries=0,
        requests_per_minute=100,
        input_price_per_1m=2.5,
    )
    assert canonical_json(base) == canonical_json(sent_otherwise)
    assert canonical_json(base) != canonical_json(OpenAILLM(model="n", base_url=base.base_url))
    asked_otherwise = OpenAILLM(
        model="m", base_url="http://one.test/v1", generation_kwargs={"temperature": 0.1}
    )
    assert canonical_json(base) != canonical_json(asked_otherwise)
