"""TransformersLLM's constrained decoding (llguidance): a randomly initialised model, which
writes garbage when free, writes replies valid under the schema (or matching the pattern) at
the first attempt, in a direct call, per row of a mixed batch and in a pipeline run; without llguidance the replies
are validated and re-asked instead."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from stillroom.errors import StillroomError, StructuredOutputError
from stillroom.models.llms.huggingface import TransformersLLM
from stillroom.models.llms.json_schema import schema_errors
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytest.importorskip("llguidance")
pytestmark = [pytest.mark.transformers, pytest.mark.timeout(300)]

SAMPLING = {"do_sample": True, "temperature": 1.0, "max_new_tokens": 40}
COLOUR = {
    "type": "object",
    "properties": {"colour": {"enum": ["red", "blue"]}},
    "required": ["colour"],
    "additionalProperties": False,
}
SIZE = {
    "type": "object",
    "properties": {"size": {"enum": ["small", "large"]}},
    "required": ["size"],
    "additionalProperties": False,
}
CHAT = [{"role": "user", "content": "Hello world!"}]


def _llm(folder: Path, **fields: Any) -> TransformersLLM:
    llm = TransformersLLM(model=str(folder), generation_kwargs=SAMPLING, **fields)
    llm.load()
    return llm


def _count_generate_calls(llm: TransformersLLM, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    generate = llm._model.generate

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return generate(*args, **kwargs)

    monkeypatch.setattr(llm._model, "generate", counted)
    return calls


def _assert_valid(text: str | None, schema: dict[str, Any]) -> None:
    assert text is not None
    assert schema_errors(json.loads(text), schema) == [], text


def test_replies_match_the_schema_at_the_first_attempt(
    random_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = _llm(
        random_lm,
        structured_output={"format": "json", "schema": COLOUR},
        structured_output_retries=0,
    )
    calls = _count_generate_calls(llm, monkeypatch)
    chats = [CHAT, [{"role": "user", "content": "A cat"}]]
    outputs = llm.generate(chats, num_generations=3, **SAMPLING)
    assert len(calls) == 1  # one batch, nothing re-asked
    for output in outputs:
        assert "errors" not in output
        assert len(output["generations"]) == 3
        for text in output["generations"]:
            _assert_valid(text, COLOUR)
        assert all(n <= 40 for n in output["statistics"]["output_tokens"])  # type: ignore[typeddict-item]


def test_each_row_of_a_batch_follows_its_own_schema(
    random_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = _llm(random_lm, structured_output_retries=0)
    calls = _count_generate_calls(llm, monkeypatch)
    inputs: list[Any] = [
        (CHAT, {"format": "json", "schema": COLOUR}),
        (CHAT, {"format": "json", "schema": SIZE}),
    ]
    colour, size = llm.generate(inputs, num_generations=2, **SAMPLING)
    assert len(calls) == 1
    for text in colour["generations"]:
        _assert_valid(text, COLOUR)
    for text in size["generations"]:
        _assert_valid(text, SIZE)


def test_a_regex_structured_output_holds_each_reply_to_the_pattern(
    random_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = r"(yes|no), [0-9]{1,3}"
    llm = _llm(random_lm, structured_output_retries=0)
    calls = _count_generate_calls(llm, monkeypatch)
    inputs: list[Any] = [(CHAT, {"format": "regex", "schema": pattern})]
    (output,) = llm.generate(inputs, num_generations=3, **SAMPLING)
    assert len(calls) == 1 and "errors" not in output
    for text in output["generations"]:
        assert text is not None and re.fullmatch(pattern, text), text


def test_without_llguidance_a_regex_is_refused_before_generating(
    random_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llguidance", None)  # `import llguidance` fails
    llm = _llm(random_lm)
    calls = _count_generate_calls(llm, monkeypatch)
    (result,) = llm.generate_results([(CHAT, {"format": "regex", "schema": "(yes|no)"})])
    assert isinstance(result, StillroomError)
    assert "constrains decoding to a pattern" in str(result)
    assert calls == []


def test_without_llguidance_replies_are_validated_and_re_asked(
    random_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llguidance", None)  # `import llguidance` fails
    llm = _llm(
        random_lm,
        structured_output={"format": "json", "schema": COLOUR},
        structured_output_retries=1,
    )
    calls = _count_generate_calls(llm, monkeypatch)
    (result,) = llm.generate_results([CHAT])
    assert len(calls) == 2  # the first attempt, then one retry
    assert isinstance(result, StructuredOutputError)  # the free random model writes garbage
    assert "2 request(s)" in str(result)


def test_a_schema_llguidance_cannot_compile_is_warned_once_then_only_validated(
    random_lm: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schema = {**COLOUR, "not": {"required": ["size"]}}  # "not": unimplemented by llguidance
    llm = _llm(
        random_lm,
        structured_output={"format": "json", "schema": schema},
        structured_output_retries=1,
    )
    with caplog.at_level(logging.WARNING, logger="stillroom.llms"):
        (result,) = llm.generate_results([CHAT])
    warnings = [r.getMessage() for r in caplog.records if "cannot enforce" in r.getMessage()]
    assert len(warnings) == 1 and "not" in warnings[0], warnings
    assert isinstance(result, StructuredOutputError) and "2 request(s)" in str(result)


def test_a_tokenizer_llguidance_cannot_read_is_warned_once_then_only_validated(
    random_lm: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import llguidance.hf

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("Only fast tokenizers are supported")

    monkeypatch.setattr(llguidance.hf, "from_tokenizer", refuse)
    llm = _llm(
        random_lm,
        structured_output={"format": "json", "schema": COLOUR},
        structured_output_retries=1,
    )
    with caplog.at_level(logging.WARNING, logger="stillroom.llms"):
        (result,) = llm.generate_results([CHAT])
    warnings = [
        r.getMessage() for r in caplog.records if "cannot use this tokenizer" in r.getMessage()
    ]
    assert len(warnings) == 1 and "fast tokenizers" in warnings[0], warnings
    assert isinstance(result, StructuredOutputError) and "2 request(s)" in str(result)


def test_schema_valid_replies_in_a_pipeline_run_then_from_the_cache(random_lm: Path) -> None:
    def build() -> Pipeline:
        with Pipeline(name="transformers-constrained") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "Red?"}, {"instruction": "Blue?"}])
            colour = TextGeneration(
                name="colour",
                llm=TransformersLLM(
                    model=str(random_lm),
                    generation_kwargs=SAMPLING,
                    structured_output={"format": "json", "schema": COLOUR},
                    structured_output_retries=0,
                ),
            )
            load >> colour
        return pipeline

    distiset = build().run(progress=False)
    generations = [row["generation"] for row in distiset["default"]["train"].to_list()]
    assert len(generations) == 2
    for text in generations:
        _assert_valid(text, COLOUR)
    assert distiset.summary is not None and distiset.summary.requests_sent == 2

    again = build().run(progress=False)
    assert again.summary is not None and again.summary.cache_hits == 2
    assert [row["generation"] for row in again["default"]["train"].to_list()] == generations
