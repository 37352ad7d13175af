"""Structured output through `OpenAILLM(base_url=...)` on every OpenAI-compatible dialect the
mock server speaks: the form `auto` lands on, the explicit modes, probing costs and resume."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from stillroom.models import OpenAILLM
from stillroom.models.llms.json_schema import schema_errors
from stillroom.models.llms.resilience import failure_from_status
from stillroom.models.llms.spec import llm_from_spec
from stillroom.models.llms.structured_modes import AUTO_ORDER, refuses_mode
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = pytest.mark.timeout(60)

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
ROWS = 20

LANDS_ON = {
    "openai": "json_schema",
    "vllm": "json_schema",
    "llama-server": "json_schema",
    "ollama": "json_schema",
    "llama-cpp-python": "json_object",
    "tgi": "tgi_grammar",
    "plain": "prompt",
}
"""Per mock dialect, the form `auto` settles on (the docs' server table repeats it)."""


def run(base_url: str, rows: int = ROWS, **fields: Any) -> tuple[list[dict[str, Any]], OpenAILLM]:
    llm = OpenAILLM(
        model="mock-model",
        base_url=base_url,
        max_retries=3,
        structured_output={"format": "json", "schema": PERSON},
        **fields,
    )
    with Pipeline(name="structured") as pipeline:
        data = [{"instruction": f"person {i}"} for i in range(rows)]
        LoadDataFromDicts(data=data, batch_size=10) >> TextGeneration(name="gen", llm=llm)
    distiset = pipeline.run(progress=False, use_cache=False)
    return distiset["default"]["train"].to_list(), llm


def valid(rows: list[dict[str, Any]]) -> int:
    return sum(
        r["generation"] is not None and not schema_errors(json.loads(r["generation"]), PERSON)
        for r in rows
    )


@pytest.mark.parametrize("server", sorted(LANDS_ON))
def test_auto_finds_the_form_each_server_takes(server: str) -> None:
    with MockLLMServer(openai_server=server) as mock:
        rows, llm = run(mock.base_url)
        stats = mock.stats()
    assert llm.learnt_state()["structured_output_mode"] == LANDS_ON[server]
    refused = AUTO_ORDER.index(LANDS_ON[server])
    # each refused form cost one request in the whole run, and no refusal was retried
    assert sum(stats.errors_by_status.values()) == refused
    if server == "plain":  # the echoed prompt is no JSON: each row kept with its error
        assert [r["generation"] for r in rows] == [None] * ROWS
        assert stats.requests_total == refused + ROWS * 3  # the two parse retries, no more
    else:
        assert valid(rows) == ROWS
        assert stats.requests_total == refused + ROWS


@pytest.mark.parametrize(
    ("server", "mode"),
    [
        ("vllm", "guided_json"),
        ("vllm", "structured_outputs"),
        ("llama-server", "llama_server"),
        ("llama-server", "json_object"),
        ("ollama", "ollama_format"),
        ("openai", "tools"),
        ("llama-cpp-python", "tools"),
        ("tgi", "tgi_grammar"),
    ],
)
def test_each_explicit_mode_is_taken_by_its_server(server: str, mode: str) -> None:
    with MockLLMServer(openai_server=server) as mock:
        rows, _ = run(mock.base_url, rows=4, structured_output_mode=mode)
        assert mock.stats().requests_total == 4
    assert valid(rows) == 4


def test_a_refused_explicit_mode_keeps_every_row_at_once() -> None:
    with MockLLMServer(openai_server="llama-cpp-python") as mock:
        started = time.monotonic()
        rows, _ = run(mock.base_url, structured_output_mode="json_schema", retry_backoff=5.0)
        assert time.monotonic() - started < 20  # no row waited through a 5 s backoff
        assert mock.stats().errors_by_status == {500: ROWS}  # one request a row
    assert [r["generation"] for r in rows] == [None] * ROWS
    error = rows[0]["stillroom_metadata"]["error_gen"]
    assert "refused" in error and "response_format" in error


def test_a_resumed_llm_does_not_probe_again() -> None:
    with MockLLMServer(openai_server="tgi") as mock:
        _, first = run(mock.base_url, rows=3)
        state = first.learnt_state()
        assert state == {"structured_output_mode": "tgi_grammar"}
        mock.reset()
        again = OpenAILLM(model="mock-model", base_url=mock.base_url)
        again.restore_learnt_state(state)
        again.load()
        try:
            chat = [{"role": "user", "content": "one person"}]
            (output,) = again.generate([(chat, {"format": "json", "schema": PERSON})])
        finally:
            again.unload()
        assert mock.stats().errors_by_status == {}
    assert output["generations"][0] is not None


def test_known_servers_specs_preset_their_form() -> None:
    assert llm_from_spec("tgi").structured_output_mode == "tgi_grammar"  # type: ignore[attr-defined]
    assert llm_from_spec("vllm:m").structured_output_mode == "json_schema"  # type: ignore[attr-defined]
    assert llm_from_spec("openai:m").structured_output_mode == "auto"  # type: ignore[attr-defined]


def test_a_server_error_worded_as_a_validation_error_is_not_retried() -> None:
    refused = failure_from_status(500, None, "1 validation error: ('body', 'response_format')")
    assert not refused.retryable and "refused" in refused.summary
    assert failure_from_status(500, None, "CUDA out of memory").retryable
    assert failure_from_status(503).retryable


def test_a_row_error_is_not_taken_for_a_refused_form() -> None:
    too_long = "This model's maximum context length is 512 tokens (messages)"
    assert not refuses_mode("json_schema", 400, too_long)
    assert refuses_mode("json_schema", 422, "response_format: unknown variant `json_schema`")
    assert not refuses_mode("prompt", 400, "response_format")
