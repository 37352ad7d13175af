"""The errors a user's typical mistakes get: what was wrong, what was expected, what to do."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import StillroomTypeError
from stillroom.models import MockLLM, OpenAILLM
from stillroom.steps import GeneratorStep, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.typing import GeneratorStepOutput


def test_a_mistyped_llm_field_says_which_field_was_meant() -> None:
    with pytest.raises(ValidationError) as raised:
        OpenAILLM(model="m", max_retrys=3)
    [error] = raised.value.errors()
    assert error["type"] == "extra_forbidden"
    assert error["loc"] == ("max_retrys",)
    assert "OpenAILLM has no field 'max_retrys'. Did you mean 'max_retries'?" in error["msg"]
    assert "Its fields: " in error["msg"] and "timeout" in error["msg"]


def test_a_mistyped_step_field_names_the_step() -> None:
    with pytest.raises(ValidationError) as raised:
        TextGeneration(name="gen", llm=MockLLM(responses="x"), input_batch_sise=8)
    message = str(raised.value)
    assert "TextGeneration('gen') has no field 'input_batch_sise'." in message
    assert "Did you mean 'input_batch_size'?" in message


def test_every_unknown_field_is_reported_and_nothing_close_suggests_nothing() -> None:
    with pytest.raises(ValidationError) as raised:
        LoadDataFromDicts(data=[{"a": 1}], zzzzzz=1, batch_sise=2)
    errors = {e["loc"][-1]: e["msg"] for e in raised.value.errors()}
    assert set(errors) == {"zzzzzz", "batch_sise"}
    assert "Did you mean" not in errors["zzzzzz"]
    assert "Did you mean 'batch_size'?" in errors["batch_sise"]


def test_the_value_of_a_mistyped_field_is_not_shown() -> None:
    """A mistyped `api_key` must not print the key in the error."""
    with pytest.raises(ValidationError) as raised:
        OpenAILLM(model="m", api_kye="sk-very-secret-value")
    assert "sk-very-secret-value" not in str(raised.value)
    assert "sk-very-secret-value" not in repr(raised.value.errors())
    assert "Did you mean 'api_key'?" in str(raised.value)


def test_other_validation_errors_keep_pydantic_s_own_message() -> None:
    with pytest.raises(ValidationError) as raised:
        OpenAILLM(model="m", max_retries="many")
    [error] = raised.value.errors()
    assert error["type"] == "int_parsing"


def test_one_conversation_passed_to_generate_says_to_wrap_it_in_a_list() -> None:
    llm = MockLLM(responses="hi")
    llm.load()
    conversation = [{"role": "user", "content": "hello"}]
    with pytest.raises(StillroomTypeError, match=r"takes a list of inputs.*got one conversation"):
        llm.generate(conversation)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got a str"):
        llm.generate("hello")  # type: ignore[arg-type]
    assert llm.generate([conversation])[0]["generations"] == ["hi"]


class _Questions(GeneratorStep):
    """Declares `instruction`, but the rows it yields say `instrucion`."""

    @property
    def outputs(self) -> list[str]:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        yield [{"instrucion": "What is 2 + 2?"}], True


class _Declared(GeneratorStep):
    @property
    def outputs(self) -> list[str]:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        yield [{"instruction": "What is 2 + 2?", STILLROOM_METADATA_KEY: {}}], True


def test_a_generator_yielding_an_undeclared_column_warns_naming_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    step = _Questions(name="questions")
    step.load()
    with caplog.at_level(logging.WARNING, logger="stillroom.steps"):
        batches = list(step.process_applying_mappings())
    assert batches == [([{"instrucion": "What is 2 + 2?"}], True)]  # the rows are kept as made
    [record] = [r for r in caplog.records if r.name == "stillroom.steps"]
    message = record.getMessage()
    assert "Step 'questions' (_Questions) yields 'instrucion', not in its outputs" in message
    assert "Did you mean 'instruction'?" in message
    assert "declares 'instruction' but does not yield it" in message


def test_a_generator_yielding_its_declared_columns_is_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    step = _Declared(name="questions")
    step.load()
    with caplog.at_level(logging.WARNING, logger="stillroom.steps"):
        list(step.process_applying_mappings())
    assert [r for r in caplog.records if r.name == "stillroom.steps"] == []
