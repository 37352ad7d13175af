"""Runtime parameters: listing, nesting into the LLM, setting, and unknown names."""

from __future__ import annotations

import logging
from typing import Optional

import pytest
from pydantic import Field, PositiveInt, SecretStr, ValidationError

from stillroom.errors import UnknownRuntimeParameterError
from stillroom.mixins.runtime_parameters import RuntimeParameter, RuntimeParametersMixin
from stillroom.models import AsyncMockLLM, MistralLLM, OpenAIEmbeddings
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import PipelineValidationError
from stillroom.steps import LoadDataFromDicts, Step, StepInput
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.typing import StepOutput


def test_task_lists_its_own_and_its_llm_parameters() -> None:
    task = TextGeneration(llm=AsyncMockLLM())
    names = task.runtime_parameters_names
    assert names["input_batch_size"] is True
    assert names["num_generations"] is True
    assert "max_concurrent_requests" not in names["llm"]  # a field, not a runtime parameter
    assert names["llm"]["generation_kwargs"] == {}  # the mock accepts any setting
    assert names["resources"]["replicas"] is True


def test_set_nested_parameters() -> None:
    task = TextGeneration(llm=AsyncMockLLM())
    task.set_runtime_parameters(
        {
            "num_generations": 3,
            "llm": {"generation_kwargs": {"temperature": 0.5}},
            "resources": {"replicas": 2},
        }
    )
    assert task.num_generations == 3
    assert task.llm.generation_kwargs == {"temperature": 0.5}
    assert task.resources.replicas == 2


def test_an_unknown_name_is_ignored_with_a_warning_naming_the_valid_ones(caplog) -> None:
    task = TextGeneration(name="gen", llm=AsyncMockLLM(model="m"))
    with caplog.at_level(logging.WARNING, logger="stillroom.runtime_parameters"):
        task.set_runtime_parameters(
            {"num_generation": 2, "input_batch_size": 7, "llm": {"temprature": 1}}
        )
    assert task.input_batch_size == 7  # the names after the unknown one are still set
    assert not hasattr(task, "num_generation") and task.num_generations == 1
    said = [r.getMessage() for r in caplog.records if r.name == "stillroom.runtime_parameters"]
    assert len(said) == 2, said
    assert "TextGeneration" in said[0] and "has no runtime parameter 'num_generation'" in said[0]
    assert "Did you mean 'num_generations'?" in said[0] and "It is ignored." in said[0]
    assert "input_batch_size" in said[0] and "llm" in said[0]  # the valid list
    assert said[1].startswith("LLM AsyncMockLLM('m') has no runtime parameter 'temprature'")


def test_unknown_names_are_listed_at_every_depth() -> None:
    task = TextGeneration(llm=AsyncMockLLM(model="m"))
    found = task.unknown_runtime_parameters(
        {"input_batch_size": 2, "llm": {"temprature": 1}, "resources": {"replica": 2}, "x": 0}
    )
    assert len(found) == 3
    assert found[0].startswith("LLM AsyncMockLLM('m') has no runtime parameter 'temprature'")
    assert "Did you mean 'replicas'" in found[1] and "'x'" in found[2]
    assert task.unknown_runtime_parameters({"num_generations": 2, "llm": {}}) == []
    outer = _Outer(inner=_Inner(), items=[_Inner(), _Inner()])
    (item,) = outer.unknown_runtime_parameters({"items": {"1": {"requried": "b"}}})
    assert "_Inner has no runtime parameter 'requried'" in item and "'required'" in item


def test_max_concurrent_requests_is_a_field_set_when_the_llm_is_built(tmp_path) -> None:
    llm = AsyncMockLLM(max_concurrent_requests=5)
    assert AsyncMockLLM().max_concurrent_requests == 64
    assert llm.dump()["max_concurrent_requests"] == 5
    assert "max_concurrent_requests" not in AsyncMockLLM().dump()  # default: distilabel's dump
    loaded = AsyncMockLLM.from_yaml(llm.save(tmp_path / "llm.yaml"))
    assert loaded.max_concurrent_requests == 5
    with pytest.raises(ValidationError, match="max_concurrent_requests"):
        AsyncMockLLM(max_concurrent_requests=0)
    assert "max_concurrent_requests" not in {i["name"] for i in llm.get_runtime_parameters_info()}
    assert llm.unknown_runtime_parameters({"max_concurrent_requests": 2})  # refused in a run
    # distilabel's MistralLLM declares it as a runtime parameter; so does stillroom's
    assert MistralLLM(model="m", api_key="k").runtime_parameters_names["max_concurrent_requests"]


def test_openai_embeddings_max_concurrent_requests_is_a_field_as_on_its_llm() -> None:
    embeddings = OpenAIEmbeddings(model="e", api_key="k", max_concurrent_requests=3)
    assert "max_concurrent_requests" not in embeddings.runtime_parameters_names
    assert embeddings.runtime_parameters_names["batch_size"] is True  # the others stay
    assert embeddings.unknown_runtime_parameters({"max_concurrent_requests": 2})
    assert embeddings.dump()["max_concurrent_requests"] == 3


def test_values_are_validated() -> None:
    step = LoadDataFromDicts(data=[{"a": 1}])
    with pytest.raises(ValidationError, match="batch_size"):
        step.set_runtime_parameters({"batch_size": 0})


def test_generation_kwargs_checked_against_the_backend_signature() -> None:
    class Strict(AsyncMockLLM):
        async def agenerate(
            self, input, num_generations=1, temperature: float = 1.0, top_p: float = 1.0
        ):  # type: ignore[override]
            return await super().agenerate(input, num_generations)

    llm = Strict()
    assert llm.runtime_parameters_names["generation_kwargs"] == {"temperature": True, "top_p": True}
    llm.set_runtime_parameters({"generation_kwargs": {"temperature": 0.1}})
    llm.set_runtime_parameters({"generation_kwargs": {"top_p": 0.9}})
    assert llm.generation_kwargs == {"temperature": 0.1, "top_p": 0.9}
    with pytest.raises(UnknownRuntimeParameterError, match="Did you mean 'temperature'"):
        llm.set_runtime_parameters({"generation_kwargs": {"temperatur": 0.1}})


def test_required_runtime_parameter_is_reported_as_not_optional() -> None:
    class NeedsPath(LoadDataFromDicts):
        path: RuntimeParameter[str] = Field(default=None, description="Where to read.")
        note: RuntimeParameter[str | None] = None

    step = NeedsPath(data=[{"a": 1}])
    assert step.runtime_parameters_names["path"] is False
    assert step.runtime_parameters_names["note"] is True
    info = {i["name"]: i for i in step.get_runtime_parameters_info()}
    assert info["path"] == {"name": "path", "optional": False, "description": "Where to read."}


class _Inner(RuntimeParametersMixin):
    required: RuntimeParameter[str] = Field(default=None, description="Must be set.")
    maybe: Optional[RuntimeParameter[str]] = Field(default=None, description="May be set.")  # noqa: UP045 (distilabel's spelling)


class _Outer(RuntimeParametersMixin):
    inner: _Inner
    items: list[_Inner]


def test_an_optional_runtime_parameter_and_lists_of_nested_objects() -> None:
    """`Optional[RuntimeParameter[T]]` (distilabel's spelling) is a runtime parameter, and a
    list of objects with parameters exposes them by index."""
    outer = _Outer(inner=_Inner(), items=[_Inner(), _Inner()])
    expected = {"required": False, "maybe": True}
    assert outer.runtime_parameters_names == {
        "inner": expected,
        "items": {"0": expected, "1": expected},
    }
    info = outer.get_runtime_parameters_info()
    assert info[1]["name"] == "items" and set(info[1]["runtime_parameters_info"]) == {"0", "1"}
    assert info[0]["runtime_parameters_info"][1] == {
        "name": "maybe",
        "optional": True,
        "description": "May be set.",
    }
    outer.set_runtime_parameters({"inner": {"maybe": "a"}, "items": {"1": {"required": "b"}}})
    assert outer.inner.maybe == "a" and outer.items[1].required == "b"
    with pytest.raises(UnknownRuntimeParameterError, match="there is no item '5'"):
        outer.set_runtime_parameters({"items": {"5": {"required": "c"}}})


class _WithHelpers(Step):
    helpers: list[_Inner]

    @property
    def inputs(self) -> list[str]:
        return ["text"]

    @property
    def outputs(self) -> list[str]:
        return ["text"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield inputs


def test_a_required_parameter_inside_a_list_is_checked_before_the_run() -> None:
    with Pipeline(name="helpers") as pipeline:
        LoadDataFromDicts(data=[{"text": "t"}]) >> _WithHelpers(
            name="uses", helpers=[_Inner(required="set"), _Inner()]
        )
    with pytest.raises(PipelineValidationError, match=r"'helpers\.1\.required'"):
        pipeline.validate()
    pipeline.validate({"uses": {"helpers": {"1": {"required": "now set"}}}})


class _Keyed(RuntimeParametersMixin):
    """A plain model (no `validate_assignment`) with a secret and a number."""

    key: RuntimeParameter[SecretStr] = Field(default=None, description="A secret.")
    tries: RuntimeParameter[PositiveInt] = 1


def test_values_set_at_run_time_are_validated_even_on_a_plain_model() -> None:
    keyed = _Keyed()
    keyed.set_runtime_parameters({"key": "sk-secret-123", "tries": "3"})
    assert isinstance(keyed.key, SecretStr) and keyed.key.get_secret_value() == "sk-secret-123"
    assert "sk-secret-123" not in repr(keyed) and keyed.tries == 3
    with pytest.raises(ValidationError, match="tries"):
        keyed.set_runtime_parameters({"tries": 0})
    assert keyed.tries == 3
