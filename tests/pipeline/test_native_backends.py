"""Pipelines on the backends with their own protocols, against the mock server speaking each
(TGI, Ollama, Cohere, Gemini on Vertex AI): replies, usage, a retried 500, structured output
and a refused key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from stillroom.models import CohereLLM, InferenceEndpointsLLM, OllamaLLM, VertexAILLM
from stillroom.models.llms.base import LLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(90)

KEY = "mock-key-Hk29dQ"
FAST = {"retry_backoff": 0.01, "retry_max_backoff": 1.0, "timeout": 10.0}


class Verdict(BaseModel):
    label: str
    score: int


BACKENDS: dict[str, tuple[Callable[[str, str], LLM], str]] = {
    "tgi-chat": (
        lambda url, key: InferenceEndpointsLLM(base_url=url, api_key=key, **FAST),
        "chat.completions",
    ),
    "tgi-text": (
        # a plain string prompt goes to TGI's text generation (`POST /`)
        lambda url, key: InferenceEndpointsLLM(base_url=url, api_key=key, **FAST),
        "tgi.generate",
    ),
    "ollama": (
        lambda url, key: OllamaLLM(model="llama-mock", host=url, api_key=key, **FAST),
        "ollama.chat",
    ),
    "cohere": (
        lambda url, key: CohereLLM(model="command-mock", base_url=url, api_key=key, **FAST),
        "cohere.chat",
    ),
    "vertexai": (
        lambda url, key: VertexAILLM(
            model="gemini-mock", project="p", base_url=f"{url}/v1", api_key=key, **FAST
        ),
        "gemini.generateContent",
    ),
}


class RawPrompt(TextGeneration):
    """A task sending its instruction as a raw prompt (a string) rather than a chat."""

    def format_input(self, input: dict[str, Any]) -> Any:  # type: ignore[override]
        return input["instruction"]


def pipeline(name: str, llm: LLM, rows: int, structured: bool = False) -> Pipeline:
    data = [{"instruction": f"question {i}"} for i in range(rows)]
    task_class = RawPrompt if name == "tgi-text" else TextGeneration
    with Pipeline(name=f"native-{name}") as built:
        if structured:
            llm.structured_output = {"format": "json", "schema": Verdict}
        LoadDataFromDicts(data=data, batch_size=4) >> task_class(name="gen", llm=llm)
    return built


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_a_run_gets_every_reply_with_usage_after_a_retried_500(name: str) -> None:
    make, endpoint = BACKENDS[name]
    with MockLLMServer(api_key=KEY, fail_first=1, fail_with="500") as server:
        distiset = pipeline(name, make(server.url, KEY), rows=6).run(progress=False)
        stats = server.stats()
    rows = distiset["default"]["train"].to_list()
    assert sorted(r["generation"] for r in rows) == sorted(f"echo: question {i}" for i in range(6))
    for row in rows:
        meta = row["stillroom_metadata"]
        assert meta["statistics_gen"]["output_tokens"] == 3
        assert meta["statistics_gen"]["input_tokens"] >= 2
    assert stats.requests_by_endpoint == {endpoint: 12}  # each prompt failed once, then passed
    assert stats.errors_by_status == {500: 6}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_structured_output_is_asked_in_the_providers_form(name: str) -> None:
    make, _ = BACKENDS[name]
    with MockLLMServer(api_key=KEY) as server:
        distiset = pipeline(name, make(server.url, KEY), rows=2, structured=True).run(
            progress=False
        )
    for row in distiset["default"]["train"].to_list():
        Verdict.model_validate(json.loads(row["generation"]))


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_a_refused_key_keeps_the_rows_with_the_error(name: str) -> None:
    make, _ = BACKENDS[name]
    with MockLLMServer(api_key=KEY) as server:
        distiset = pipeline(name, make(server.url, "wrong-key"), rows=2).run(progress=False)
        assert server.stats().errors_by_status == {401: 2}  # not retried
    for row in distiset["default"]["train"].to_list():
        assert row["generation"] is None
        assert "401" in json.dumps(row["stillroom_metadata"])
        assert "wrong-key" not in json.dumps(row)
